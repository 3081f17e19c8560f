//go:build linux

package proxy

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"testing"
	"time"

	"github.com/pgask/pgask/internal/pgtest"
)

// The relay thread (evloop_linux.go) and the goroutine relay (relay.go) keep the same
// bookkeeping. FuzzRelaysAgree sends the same byte stream, built from the fuzz input by a
// small message language (diffStream), through a session of each, and wants the same bytes
// back and the same state: the transaction status, the sync-point counts and the traffic
// counters.

// diffSQL are the statements of the language: deterministic output, errors included, none
// that may be an ASK.
var diffSQL = []string{
	"select 1",
	"select g, md5(g::text) from generate_series(1, 40) g",
	"select 1/0",
	"select * from no_such_table",
	"insert into diff_t values (1, 'x')",
	"select count(*) from diff_t",
	"set application_name = 'diff'",
	"select repeat('x', 20000)",
	"syntax error here",
	"select 1; select 2",
	"",
	"rollback",
	"do $$ begin raise notice 'n'; end $$",
	"begin",
	"commit",
	"savepoint a",
}

// diffRows are CopyData rows for diff_t(a int, b text), one of them bad.
var diffRows = []string{"1\ta\n", "2\tb\n", diffBadRow, "3\t\\N\n"}

const diffBadRow = "x\ty\n"

// diffAsk and diffAskParse are the ASK statements of the language, which countInterceptor
// answers the same on every session.
var (
	diffAsk      = []string{"ASK fail", "ASK run select 1", "ASK run select 1/0", "ASK whoami", "select 1; ASK run select 2"}
	diffAskParse = []string{"ASK fail", "ASK run select 3", "ASK run select 1/0"}
)

// diffHang is how long one input may run (both relays) before it counts as a hang; a
// stream takes well under a second.
const diffHang = 3 * time.Minute

// diffEnd is a statement that is a syntax error: its ErrorResponse marks the end of the
// answers, in any transaction state.
const diffEnd = "pgask_diff_end_marker"

func fe(typ byte, body ...[]byte) []byte {
	n := 4
	for _, b := range body {
		n += len(b)
	}
	out := []byte{typ, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(out[1:], uint32(n))
	for _, b := range body {
		out = append(out, b...)
	}
	return out
}

func cstr(s string) []byte { return append([]byte(s), 0) }

func feQuery(sql string) []byte { return fe('Q', cstr(sql)) }

func feParse(name, sql string) []byte { return fe('P', cstr(name), cstr(sql), []byte{0, 0}) }

func feBind(stmt string) []byte {
	return fe('B', cstr(""), cstr(stmt), []byte{0, 0, 0, 0, 0, 0})
}

func feExecute(max uint32) []byte {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], max)
	return fe('E', cstr(""), b[:])
}

// diffStream decodes the fuzz input into a client byte stream after startup, and the
// offsets at which it is split into separate writes; ask says whether it holds an ASK.
func diffStream(in []byte) (stream []byte, splits []int, ask bool) {
	next := func() byte {
		if len(in) == 0 {
			return 0
		}
		b := in[0]
		in = in[1:]
		return b
	}
	askInBatch := false // an ASK Parse since the last Sync
	for ops := 0; len(in) > 0 && ops < 64; ops++ {
		switch op := next() % 13; op {
		case 0:
			stream = append(stream, feQuery(diffSQL[int(next())%len(diffSQL)])...)
		case 1:
			stream = append(stream, feQuery([]string{"begin", "commit", "rollback"}[int(next())%3])...)
		case 2: // an unnamed statement, run: no Sync
			sql := diffSQL[int(next())%len(diffSQL)]
			stream = append(stream, feParse("", sql)...)
			stream = append(stream, feBind("")...)
			stream = append(stream, fe('D', []byte{'P'}, cstr(""))...)
			stream = append(stream, feExecute(uint32(next()%4))...)
		case 3:
			stream = append(stream, fe('S')...)
			askInBatch = false
		case 4:
			stream = append(stream, fe('H')...)
		case 5, 6: // COPY FROM STDIN, simple (5) or extended (6)
			if op == 5 {
				stream = append(stream, feQuery("copy diff_t from stdin")...)
			} else {
				stream = append(stream, feParse("", "copy diff_t from stdin")...)
				stream = append(stream, feBind("")...)
				stream = append(stream, feExecute(0)...)
			}
			ctl := next()
			for i := range int(ctl % 4) {
				row := diffRows[(int(ctl)>>2+i)%len(diffRows)]
				stream = append(stream, fe('d', []byte(row))...)
			}
			// A Sync during COPY, which the server ignores while in copy-in mode, and
			// answers when the COPY failed first (a bad row, an aborted transaction):
			// pgask settles the count before an ASK (settleCopy). Not in the batch of an ASK
			// statement: when that statement failed, whether pgask refuses a later Bind of it
			// (0A000) or the server refuses it (25P02) depends on when the error came.
			if ctl&0x40 != 0 && !askInBatch {
				stream = append(stream, fe('S')...)
			}
			if ctl&0x80 != 0 {
				stream = append(stream, fe('f', cstr("stop"))...)
			} else {
				stream = append(stream, fe('c')...)
			}
			if op == 6 {
				stream = append(stream, fe('S')...)
			}
		case 7: // a named statement: described, then closed
			stream = append(stream, feParse("s1", diffSQL[int(next())%len(diffSQL)])...)
			stream = append(stream, fe('D', []byte{'S'}, cstr("s1"))...)
			if next()&1 == 0 {
				stream = append(stream, fe('C', []byte{'S'}, cstr("s1"))...)
			}
		case 8: // a function call: int4pl(1, 2)
			arg := []byte{0, 0, 0, 4, 0, 0, 0, 0}
			body := []byte{0, 0, 0, 177, 0, 0, 0, 2}
			arg[7] = 1
			body = append(body, arg...)
			arg[7] = 2
			body = append(body, arg...)
			body = append(body, 0, 0)
			stream = append(stream, fe('F', []byte{0, 0, 0, 177}, []byte{0, 0}, []byte{0, 2}, body[8:])...)
		case 11: // an ASK, which the relay thread hands to the goroutine relay
			stream = append(stream, feQuery(diffAsk[int(next())%len(diffAsk)])...)
			ask = true
		case 12: // an ASK in a Parse: translated, or failed (then discarded up to the Sync)
			askInBatch = true
			stream = append(stream, feParse("", diffAskParse[int(next())%len(diffAskParse)])...)
			stream = append(stream, feBind("")...)
			stream = append(stream, feExecute(0)...)
			ask = true
		default: // 9, 10: a write boundary, up to 6 bytes before the end: inside a frame
			if k := len(stream) - int(next()%7); k > 0 && len(splits) < 16 {
				splits = append(splits, k)
			}
		}
	}
	// Everything unsynced is closed by a Sync; the marker's error ends the answers.
	stream = append(stream, fe('S')...)
	stream = append(stream, feQuery(diffEnd)...)
	return stream, splits, ask
}

// diffResult is what one relay gave back for a stream.
type diffResult struct {
	out   []byte
	state relayState
	stats Stats // the delta over the session
}

func runDiff(t *testing.T, srv *Server, addr string, stream []byte, splits []int, ask bool) diffResult {
	t.Helper()
	before := srv.Stats()
	rc := dialRaw(t, addr)
	rc.query("create temp table diff_t(a int, b text)")
	nc := rc.nc
	_ = nc.SetDeadline(time.Now().Add(time.Minute))
	werr := make(chan error, 1)
	go func() {
		at := 0
		for _, k := range splits {
			if k <= at {
				continue
			}
			if _, err := nc.Write(stream[at:k]); err != nil {
				werr <- err
				return
			}
			at = k
			time.Sleep(100 * time.Microsecond)
		}
		_, err := nc.Write(stream[at:])
		werr <- err
	}()
	var res diffResult
	zs := 0
	buf := make([]byte, 64<<10)
	var out []byte
	pos, marker := 0, false
read:
	for {
		n, err := nc.Read(buf)
		out = append(out, buf[:n]...)
		for len(out)-pos >= 5 {
			typ := out[pos]
			total := 1 + int(binary.BigEndian.Uint32(out[pos+1:]))
			if len(out)-pos < total {
				break
			}
			frame := out[pos : pos+total]
			pos += total
			switch typ {
			case 'E':
				if bytes.Contains(frame, []byte(diffEnd)) {
					marker = true
				}
			case 'Z':
				zs++
				if marker {
					break read
				}
			}
		}
		if err != nil {
			t.Fatalf("read after %d bytes: %v", len(out), err)
		}
	}
	if err := <-werr; err != nil {
		t.Fatalf("write: %v", err)
	}
	res.out = out
	s, err := srv.onlySession()
	if err != nil {
		t.Fatal(err)
	}
	// The relay counts a ReadyForQuery after writing it: wait until the last one is counted.
	// One ReadyForQuery answered the CREATE TABLE. pgask answers an ASK with a ReadyForQuery
	// of its own, which the count leaves out: then wait until the count holds still.
	deadline := time.Now().Add(10 * time.Second)
	for st, since := s.state(), time.Now(); time.Now().Before(deadline); {
		if !ask && st.Pending == st.ZSent-int64(zs+1) || ask && time.Since(since) > 50*time.Millisecond {
			break
		}
		time.Sleep(time.Millisecond)
		if now := s.state(); now != st {
			st, since = now, time.Now()
		}
	}
	res.state = s.state()
	if _, err := nc.Write(fe('X')); err != nil {
		t.Fatalf("write Terminate: %v", err)
	}
	if n, err := io.Copy(io.Discard, nc); n != 0 || err != nil {
		t.Fatalf("after Terminate: %d more bytes, %v", n, err)
	}
	deadline = time.Now().Add(10 * time.Second)
	for srv.Sessions() != 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	after := srv.Stats()
	res.stats = Stats{
		ClientMessages: after.ClientMessages - before.ClientMessages,
		ClientBytes:    after.ClientBytes - before.ClientBytes,
		ServerMessages: after.ServerMessages - before.ServerMessages,
		ServerBytes:    after.ServerBytes - before.ServerBytes,
		ProtocolErrors: after.ProtocolErrors - before.ProtocolErrors,
		UpstreamLost:   after.UpstreamLost - before.UpstreamLost,
		IdleTimeouts:   after.IdleTimeouts - before.IdleTimeouts,
		TooLarge:       after.TooLarge - before.TooLarge,

		RelayThreadSessions: after.RelayThreadSessions - before.RelayThreadSessions,
		RelayThreadHandoffs: after.RelayThreadHandoffs - before.RelayThreadHandoffs,
	}
	return res
}

// firstDiff describes where a and b first differ.
func firstDiff(a, b []byte) string {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	ctx := func(x []byte) string { return fmt.Sprintf("%q", x[max(0, i-16):min(len(x), i+32)]) }
	return fmt.Sprintf("%d and %d bytes, first difference at %d: %s vs %s", len(a), len(b), i, ctx(a), ctx(b))
}

func FuzzRelaysAgree(f *testing.F) {
	// Seeds (ops 9 and 10 were numbered 9-10 of 11 before the ASK ops; the seeds stay valid
	// inputs either way): each op of diffStream at least once, pipelines, COPY in both modes with Syncs,
	// CopyFail and bad rows, transactions with errors, and writes split inside frames.
	f.Add([]byte{0, 0, 0, 2, 3})
	f.Add([]byte{1, 0, 0, 2, 0, 1, 1, 1})
	f.Add([]byte{2, 0, 1, 2, 1, 2, 2, 3, 3, 2, 3, 0, 3})
	f.Add([]byte{2, 1, 3, 4, 2, 2, 0, 3, 9, 3, 2, 7, 0, 2, 8, 3})
	f.Add([]byte{5, 3, 5, 0x47, 5, 0x83, 6, 0x42, 6, 0xc1, 0, 5})
	f.Add([]byte{1, 0, 0, 2, 0, 4, 0, 5, 0, 0x0e, 1, 1})
	f.Add([]byte{7, 0, 0, 7, 0, 1, 7, 2, 1, 3, 8, 3, 8})
	f.Add([]byte{0, 7, 9, 4, 0, 1, 10, 0, 2, 15, 0, 3, 9, 2, 2, 8, 1, 3})
	f.Add([]byte{1, 0, 2, 2, 1, 3, 6, 0x10, 10, 3, 0, 12, 0, 13, 0, 9, 0, 14})
	f.Add([]byte{1, 0, 0, 15, 0, 2, 0, 11, 0, 11, 2, 11, 2, 3, 0, 6, 3, 0, 12})
	f.Add([]byte{1, 0, 0, 0, 2, 5, 3})       // ends inside a transaction
	f.Add([]byte{1, 0, 0, 2, 2, 0, 3, 0, 0}) // ends in a failed transaction
	// ASKs: the relay thread hands the session over mid-stream.
	f.Add([]byte{0, 0, 11, 0, 0, 1, 11, 1, 2, 0, 3, 11, 2, 3})
	f.Add([]byte{2, 0, 12, 0, 2, 1, 3, 12, 1, 3, 11, 3, 0, 7, 9, 2})
	f.Add([]byte{1, 0, 11, 4, 0, 0, 12, 2, 3, 1, 1, 11, 0})
	c := pgtest.Shared(f)
	up := Upstream{Addr: c.Addr(), TLSMode: TLSDisable}
	quiet := slog.New(slog.DiscardHandler) // f.Log may not be called inside the fuzz target
	thread, threadAddr := startProxy(f, Options{Upstream: up, RelayThreads: 1, Logger: quiet, Interceptor: countInterceptor{}})
	gor, gorAddr := startProxy(f, Options{Upstream: up, RelayThreads: -1, Logger: quiet, Interceptor: countInterceptor{}})
	f.Fuzz(func(t *testing.T, in []byte) {
		// A hang is a failure with a reproducer: the fuzzing engine has no time limit per
		// input, so a stuck input would stall the run. Past the limit the worker panics with
		// every goroutine's stack, and the engine records the input as a crasher.
		watchdog := time.AfterFunc(diffHang, func() {
			buf := make([]byte, 1<<20)
			panic(fmt.Sprintf("FuzzRelaysAgree: input %x still running after %v\n%s", in, diffHang, buf[:runtime.Stack(buf, true)]))
		})
		defer watchdog.Stop()
		stream, splits, ask := diffStream(in)
		a := runDiff(t, thread, threadAddr, stream, splits, ask)
		b := runDiff(t, gor, gorAddr, stream, splits, ask)
		if !bytes.Equal(a.out, b.out) {
			t.Errorf("client received different bytes (relay thread, goroutine relay): %s", firstDiff(a.out, b.out))
		}
		if a.state != b.state {
			t.Errorf("final state: relay thread %+v, goroutine relay %+v", a.state, b.state)
		}
		if want := map[bool]uint64{false: 0, true: 1}[ask]; a.stats.RelayThreadSessions != 1 || a.stats.RelayThreadHandoffs != want {
			t.Errorf("relay thread: %d sessions, %d hand-offs; want 1 and %d", a.stats.RelayThreadSessions, a.stats.RelayThreadHandoffs, want)
		}
		a.stats.RelayThreadSessions, a.stats.RelayThreadHandoffs = 0, 0
		if a.stats != b.stats {
			t.Errorf("counters: relay thread %+v, goroutine relay %+v", a.stats, b.stats)
		}
	})
}
