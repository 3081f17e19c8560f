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
// PGASK_BENCH_MODEL=a.gguf,b.gguf benchmarks those files instead (named by their base names), and
// PGASK_BENCH_GPU_LAYERS (default 0) offloads that many layers (-1 = all) to a GPU, when ggml
// loaded a GPU backend (see bench/gpu/run.sh); with a GPU the run also reports vram_MiB, the GPU
// memory that loading the model and creating its context took (drop of the devices' free memory).
func BenchmarkEngine(b *testing.B) {
	types := strings.Split(envOr("PGASK_BENCH_TYPES", "q8_0,f16"), ",")
	threads := strings.Split(envOr("PGASK_BENCH_THREADS", "1,2"), ",")
	gpuLayers, err := strconv.Atoi(envOr("PGASK_BENCH_GPU_LAYERS", "0"))
	if err != nil {
		b.Fatal(err)
	}
	type benchFile struct{ label, path string }
	var files []benchFile
	if env := os.Getenv("PGASK_BENCH_MODEL"); env != "" {
		for _, p := range strings.Split(env, ",") {
			files = append(files, benchFile{strings.TrimSuffix(filepath.Base(p), ".gguf"), p})
		}
	} else {
		for _, ts := range types {
			typ, err := testmodel.ParseType(ts)
			if err != nil {
				b.Fatal(err)
			}
			files = append(files, benchFile{typ.String(), benchModel(b, typ)})
		}
	}
	for _, f := range files {
		path := f.path
		for _, th := range threads {
			n, err := strconv.Atoi(th)
			if err != nil {
				b.Fatal(err)
			}
			free0 := gpuFree()
			m, err := Load(context.Background(), path, Options{Threads: n, ContextSize: 1024, BatchSize: 512, ThreadPoll: benchPoll(b), GPULayers: gpuLayers}, testLogger(b))
			if err != nil {
				b.Fatal(err)
			}
			vram := -1.0 // no GPU
			if free0 > 0 {
				vram = float64(free0-gpuFree()) / (1 << 20)
			}
			if md := m.Metadata(); gpuLayers != 0 {
				b.Logf("%s: offloaded %d/%d layers to %v, vram %.0f MiB", f.label, md.Offloaded, md.Layers+1, md.Devices, vram)
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
				if vram >= 0 {
					b.ReportMetric(vram, "vram_MiB")
				}
			}
			b.Run(fmt.Sprintf("%s/threads=%d/pp512", f.label, n), func(b *testing.B) {
				run(b, [][]int32{toks})
			})
			b.Run(fmt.Sprintf("%s/threads=%d/tg64", f.label, n), func(b *testing.B) {
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

// gpuFree is the free memory of the GPUs (0 without one).
func gpuFree() int64 {
	var free int64
	for _, d := range gpuDevices(Devices()) {
		free += int64(d.Free)
	}
	return free
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
