package llama

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pgask/pgask/internal/testmodel"
)

// BenchmarkEngine reports llama-bench's two figures for the binding, on a synthetic ~100 MB llama
// (n_embd 1024, 8 layers, 16 heads, n_ff 2816; the test vocabulary of ~600 tokens):
//
//	pp512: tokens/s evaluating a 512-token prompt in one batch (cache cleared before each run)
//	tg64:  tokens/s generating 64 tokens one at a time from an empty context
//
// PGASK_BENCH_TYPES (default "q8_0,f16") and PGASK_BENCH_THREADS (default "1,2") select the runs;
// the model files are written once to $TMPDIR/pgask-bench-<type>.gguf. See bench/engine/run.sh.
func BenchmarkEngine(b *testing.B) {
	types := strings.Split(envOr("PGASK_BENCH_TYPES", "q8_0,f16"), ",")
	threads := strings.Split(envOr("PGASK_BENCH_THREADS", "1,2"), ",")
	for _, ts := range types {
		typ, err := testmodel.ParseType(ts)
		if err != nil {
			b.Fatal(err)
		}
		path := benchModel(b, typ)
		for _, th := range threads {
			n, err := strconv.Atoi(th)
			if err != nil {
				b.Fatal(err)
			}
			m, err := Load(context.Background(), path, Options{Threads: n, ContextSize: 1024, BatchSize: 512, ThreadPoll: benchPoll(b)}, testLogger(b))
			if err != nil {
				b.Fatal(err)
			}
			lc := m.ctxs[0]
			rng := rand.New(rand.NewPCG(1, 2))
			toks := make([]int32, 512)
			for i := range toks {
				toks[i] = int32(rng.IntN(m.meta.VocabSize))
			}
			threads := n
			run := func(b *testing.B, batches [][]int32) {
				clear := func() {
					clearCache(lc)
				}
				clear()
				for _, bt := range batches { // warm-up, as llama-bench does
					if err := lc.decode(context.Background(), bt, true); err != nil {
						b.Fatal(err)
					}
				}
				n := 0
				for _, bt := range batches {
					n += len(bt)
				}
				var total, cpu time.Duration
				for b.Loop() {
					clear()
					start, cpu0 := time.Now(), cpuTime()
					for _, bt := range batches {
						if err := lc.decode(context.Background(), bt, true); err != nil {
							b.Fatal(err)
						}
					}
					total += time.Since(start)
					cpu += cpuTime() - cpu0
				}
				b.ReportMetric(float64(n*b.N)/total.Seconds(), "t/s")
				// CPU time the process got per wall second, per thread: well under 1 means other
				// processes took the cores and the figure understates the engine
				b.ReportMetric(cpu.Seconds()/total.Seconds()/float64(threads), "cpu/thread")
			}
			b.Run(fmt.Sprintf("%s/threads=%d/pp512", typ, n), func(b *testing.B) {
				run(b, [][]int32{toks})
			})
			b.Run(fmt.Sprintf("%s/threads=%d/tg64", typ, n), func(b *testing.B) {
				one := make([][]int32, 64)
				for i := range one {
					one[i] = toks[i : i+1]
				}
				run(b, one)
			})
			m.Close()
		}
	}
}

// benchPoll reads PGASK_BENCH_POLL (ggml's polling level, see Options.ThreadPoll; default 50).
func benchPoll(b *testing.B) int {
	n, err := strconv.Atoi(envOr("PGASK_BENCH_POLL", "50"))
	if err != nil {
		b.Fatal(err)
	}
	if n == 0 {
		return -1
	}
	return n
}

// cpuTime is the CPU time (user + system) the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func benchModel(b *testing.B, typ testmodel.Type) string {
	path := filepath.Join(os.TempDir(), "pgask-bench-"+typ.String()+".gguf")
	if _, err := os.Stat(path); err == nil {
		return path
	}
	start := time.Now()
	tmp := path + ".tmp"
	err := testmodel.Write(tmp, testmodel.Options{Type: typ, Embd: 1024, Layers: 8, Heads: 16, FF: 2816, Seed: 1, Name: "bench-" + typ.String()})
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("wrote %s in %v", path, time.Since(start))
	return path
}
