//go:build linux

package proxy

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgask/pgask/internal/pgtest"
)

// Plain-TCP sessions run on the relay thread, with its reads and writes batched through
// io_uring (where the kernel has it) and without; pgx's whole feature list works there, and a
// session that never sends an ASK is never handed to the goroutine relay.
func TestRelayThreadCarriesSessions(t *testing.T) {
	for _, noRing := range []bool{false, true} {
		t.Run(fmt.Sprintf("RelayNoIOURing=%v", noRing), func(t *testing.T) {
			testRelayThreadCarriesSessions(t, noRing)
		})
	}
}

func testRelayThreadCarriesSessions(t *testing.T, noRing bool) {
	c := pgtest.Shared(t)
	srv, addr := startProxy(t, Options{Upstream: Upstream{Addr: c.Addr(), TLSMode: TLSDisable}, RelayThreads: 1, RelayNoIOURing: noRing})
	ctx := ctxT(t)
	conn := connect(t, "postgres://postgres@"+addr+"/postgres?sslmode=disable")
	var n int
	for i := range 20 {
		if err := conn.QueryRow(ctx, "select $1::int + 1", i).Scan(&n); err != nil || n != i+1 {
			t.Fatalf("query %d: %d, %v", i, n, err)
		}
	}
	// A result far larger than a socket buffer and the relay's buffer.
	var l int
	if err := conn.QueryRow(ctx, "select length(string_agg(md5(g::text), '')) from generate_series(1, 200000) g").Scan(&l); err != nil || l != 32*200000 {
		t.Fatalf("aggregate: %d, %v", l, err)
	}
	var big string
	if err := conn.QueryRow(ctx, "select repeat('x', 5000000)").Scan(&big); err != nil || len(big) != 5000000 {
		t.Fatalf("5 MB value: %d bytes, %v", len(big), err)
	}
	// Sessions side by side: their sockets are ready together, and a batch of several reads
	// or writes goes to the kernel in one io_uring_enter (a batch of one is a plain call).
	concurrentQueries(t, addr, 8, 100)
	if st := srv.Stats(); st.RelayThreadSessions != 9 || st.RelayThreadHandoffs != 0 {
		t.Errorf("relay thread sessions %d, hand-offs %d; want 9 and 0", st.RelayThreadSessions, st.RelayThreadHandoffs)
	}
	ring := !srv.opts.RelayNoIOURing && ringAvailable()
	if b := srv.Stats().RelayThreadRingBatches; (b > 0) != ring {
		t.Errorf("io_uring batches %d with the ring in use: %v", b, ring)
	}
	conn.Close(ctx)
	waitFor(t, func() bool { return srv.Sessions() == 0 })
	if st := srv.Stats(); st.Open != 0 {
		t.Errorf("open sessions after close: %d", st.Open)
	}
}

// The goroutine relay takes over at the first statement that may be an ASK, at the exact
// byte where the relay thread stopped: here in the middle of a 32 MB DataRow that the client
// has not read yet, so the relay thread holds unwritten bytes and a partly relayed frame.
func TestRelayThreadHandsOffMidFrame(t *testing.T) {
	c := pgtest.Shared(t)
	srv, addr := startProxy(t, Options{Upstream: Upstream{Addr: c.Addr(), TLSMode: TLSDisable}, RelayThreads: 1, Interceptor: countInterceptor{t}})
	rc := dialRaw(t, addr)
	rc.query("select 1")
	const size = 32 << 20
	rc.fe.Send(&pgproto3.Query{String: "select repeat('y', 33554432)"})
	rc.flush()
	// Read the first bytes of the reply only, and wait until the upstream has sent enough to
	// fill the sockets: the relay thread is then blocked on the client, mid-DataRow.
	first := make([]byte, 16)
	if _, err := io.ReadFull(rc.nc, first); err != nil {
		t.Fatal(err)
	}
	if first[0] != 'T' {
		t.Fatalf("first reply byte %q, want RowDescription", first[0])
	}
	time.Sleep(300 * time.Millisecond)
	rc.fe.Send(&pgproto3.Query{String: "ASK count"})
	rc.flush()
	time.Sleep(100 * time.Millisecond)
	if st := srv.Stats(); st.RelayThreadHandoffs != 1 {
		t.Fatalf("hand-offs: %d, want 1", st.RelayThreadHandoffs)
	}
	// The rest of the stream must be exactly the rest of the RowDescription, one DataRow of
	// 32 MB, CommandComplete, ReadyForQuery, then the ASK's answer.
	rest := io.MultiReader(bytes.NewReader(first), rc.nc)
	var types []byte
	for len(types) < 8 {
		var h [5]byte
		if _, err := io.ReadFull(rest, h[:]); err != nil {
			t.Fatalf("after %q: %v", types, err)
		}
		n := int(binary.BigEndian.Uint32(h[1:])) - 4
		body := make([]byte, n)
		if _, err := io.ReadFull(rest, body); err != nil {
			t.Fatalf("body of %q after %q: %v", h[0], types, err)
		}
		types = append(types, h[0])
		if h[0] == 'D' && len(types) == 2 {
			if vl := int(binary.BigEndian.Uint32(body[2:])); vl != size || bytes.Count(body[6:], []byte("y")) != size {
				t.Fatalf("DataRow value of %d bytes, want %d of 'y'", vl, size)
			}
		}
	}
	if string(types) != "TDCZTDCZ" {
		t.Errorf("message types %q, want TDCZTDCZ", types)
	}
	rc.query("select 2") // the session goes on, on goroutines
	if st := srv.Stats(); st.RelayThreadSessions != 1 {
		t.Errorf("relay thread sessions: %d", st.RelayThreadSessions)
	}
}

// A client that sends its first Query together with its startup message has it buffered
// before the relay thread takes over; the relay thread relays it.
func TestRelayThreadPipelinedFirstQuery(t *testing.T) {
	c := pgtest.Shared(t)
	srv, addr := startProxy(t, Options{Upstream: Upstream{Addr: c.Addr(), TLSMode: TLSDisable}, RelayThreads: 1})
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(time.Minute))
	buf, _ := (&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersion30, Parameters: map[string]string{"user": "postgres", "database": "postgres"}}).Encode(nil)
	buf, _ = (&pgproto3.Query{String: "select 42"}).Encode(buf)
	buf, _ = (&pgproto3.Terminate{}).Encode(buf)
	if _, err := nc.Write(buf); err != nil {
		t.Fatal(err)
	}
	fe := pgproto3.NewFrontend(nc, nc)
	var got string
	zs := 0
	for zs < 2 {
		m, err := fe.Receive()
		if err != nil {
			t.Fatalf("receive: %v", err)
		}
		switch m := m.(type) {
		case *pgproto3.DataRow:
			got = string(m.Values[0])
		case *pgproto3.ReadyForQuery:
			zs++
		case *pgproto3.ErrorResponse:
			t.Fatalf("%s %s", m.Code, m.Message)
		}
	}
	if got != "42" {
		t.Errorf("select 42 returned %q", got)
	}
	if _, err := fe.Receive(); err == nil {
		t.Error("the session did not end after Terminate")
	}
	if st := srv.Stats(); st.RelayThreadSessions != 1 {
		t.Errorf("relay thread sessions: %d, want 1", st.RelayThreadSessions)
	}
}

// FuzzLoopWalk runs arbitrary bytes, cut into small reads, through the relay thread's frame
// walk and buffer handling (as pump and flush use them, without the sockets), in either
// direction, with or without an interceptor: what it passes on must be a prefix of the input,
// and a well-framed input comes out whole unless the walk stopped for Terminate or an ASK
// candidate, which it must then have seen.
func FuzzLoopWalk(f *testing.F) {
	f.Add([]byte("Q\x00\x00\x00\x0dselect 1\x00X\x00\x00\x00\x04"), uint8(3), false, true)
	f.Add([]byte("Q\x00\x00\x00\x0aASK x\x00"), uint8(1), false, true)
	f.Add([]byte("P\x00\x00\x00\x10\x00select 1\x00\x00\x00B\x00\x00\x00\x0c\x00\x00\x00\x00\x00\x00\x00\x00E\x00\x00\x00\x09\x00\x00\x00\x00\x00S\x00\x00\x00\x04"), uint8(1), false, false)
	f.Add([]byte("T\x00\x00\x00\x06\x00\x00D\x00\x00\x00\x0b\x00\x01\x00\x00\x00\x01xZ\x00\x00\x00\x05I"), uint8(2), true, false)
	f.Add([]byte("S\x00\x00\x00\x16client_encoding\x00UTF8\x00E\x00\x00\x00\x0bVFATAL\x00\x00"), uint8(5), true, false)
	f.Fuzz(func(t *testing.T, in []byte, chunk uint8, server, intercept bool) {
		var ic Interceptor
		if intercept {
			ic = countInterceptor{}
		}
		s, _, _ := testSession(t, bytes.NewReader(nil), ic)
		d := 0
		if server {
			d = 1
		}
		ls := &loopSess{s: s}
		m := newMsgReader(nil)
		ls.dir[d].m = m
		s.walk[d].m = m
		ls.dir[d].w = &s.walk[d]
		dd := &ls.dir[d]
		var out []byte
		rest := in
		act, step := actNone, int(chunk)%97+1
		var err error
		for len(rest) > 0 && act == actNone && err == nil {
			m.makeRoom(dd.w.need)
			b := m.space()
			dd.wpos = m.r
			n := copy(b, rest[:min(step, len(rest))])
			rest = rest[n:]
			m.w += n
			if d == 0 {
				act, err = ls.walkClient()
			} else {
				err = ls.walkServer()
			}
			if m.r > m.w || dd.wpos > m.r {
				t.Fatalf("walk left r=%d w=%d wpos=%d", m.r, m.w, dd.wpos)
			}
			out = append(out, m.buf[dd.wpos:m.r]...)
		}
		if !bytes.HasPrefix(in, out) {
			t.Fatalf("passed-on bytes are not a prefix of the input")
		}
		switch {
		case act == actHandoff:
			if !intercept || (m.buf[m.r] != 'Q' && m.buf[m.r] != 'P') {
				t.Fatalf("hand-off at %q without an interceptor (%v)", m.buf[m.r], intercept)
			}
		case act == actTerminate:
			if last := lastFrameType(out); last != 'X' {
				t.Fatalf("terminate after %q, not a Terminate", last)
			}
		case wellFramed(in) && err == nil && !bytes.Equal(out, in):
			t.Fatalf("well-framed input passed on %d of %d bytes", len(out), len(in))
		}
	})
}

// lastFrameType is the type of the last frame that starts in b.
func lastFrameType(b []byte) byte {
	var typ byte
	for len(b) >= 5 {
		typ = b[0]
		n := 1 + int(binary.BigEndian.Uint32(b[1:]))
		if n > len(b) || n < 5 {
			break
		}
		b = b[n:]
	}
	if len(b) > 0 && len(b) < 5 {
		typ = b[0]
	}
	return typ
}

// When io_uring_enter fails, the relay thread drops its ring and goes on with one system call
// per read and write: the session whose batch it was loses nothing and keeps its place.
func TestRelayThreadRingFailure(t *testing.T) {
	if !ringAvailable() {
		t.Skip("io_uring unavailable here: the relay threads never use a ring")
	}
	if os.Getenv("PGASK_TEST_RELAY_IO_URING") == "0" {
		t.Skip("PGASK_TEST_RELAY_IO_URING=0: no ring to fail")
	}
	c := pgtest.Shared(t)
	srv, addr := startProxy(t, Options{Upstream: Upstream{Addr: c.Addr(), TLSMode: TLSDisable}, RelayThreads: 1})
	ctx := ctxT(t)
	conn := connect(t, "postgres://postgres@"+addr+"/postgres?sslmode=disable")
	defer conn.Close(ctx)
	query := func(i int) {
		t.Helper()
		var s string
		want := strings.Repeat("z", 100000+i)
		if err := conn.QueryRow(ctx, "select repeat('z', $1::int)", 100000+i).Scan(&s); err != nil || s != want {
			t.Fatalf("query %d: %d bytes, %v", i, len(s), err)
		}
	}
	query(0)
	// A batch needs several sockets ready in one round of the loop: on a loaded machine one
	// burst of traffic may not line them up, so send bursts until one has (or give up).
	for i := 0; i < 20 && srv.Stats().RelayThreadRingBatches == 0; i++ {
		concurrentQueries(t, addr, 8, 50)
	}
	before := srv.Stats().RelayThreadRingBatches
	if before == 0 {
		t.Fatal("no io_uring batch before the failure")
	}
	l := srv.loops[0]
	l.failRing.Store(true)
	for i := 1; i <= 20 && !l.ringDropped.Load(); i++ {
		concurrentQueries(t, addr, 8, 20)
	}
	if !l.ringDropped.Load() {
		t.Fatal("the relay thread never tried its ring again")
	}
	concurrentQueries(t, addr, 8, 50)
	for i := 1; i <= 20; i++ {
		query(i)
	}
	after := srv.Stats()
	if after.RelayThreadRingBatches != before {
		t.Errorf("io_uring batches went on after the failure: %d then %d", before, after.RelayThreadRingBatches)
	}
	if after.RelayThreadHandoffs != 0 {
		t.Errorf("relay thread hand-offs %d; want 0", after.RelayThreadHandoffs)
	}
}

// concurrentQueries runs queries on n sessions at once, each checking its own results.
func concurrentQueries(t *testing.T, addr string, n, queries int) {
	t.Helper()
	ctx := ctxT(t)
	errs := make(chan error, n)
	for s := range n {
		conn := connect(t, "postgres://postgres@"+addr+"/postgres?sslmode=disable")
		go func() {
			defer conn.Close(ctx)
			for i := range queries {
				var got string
				want := fmt.Sprintf("%d-%d-%s", s, i, strings.Repeat("r", i*37))
				if err := conn.QueryRow(ctx, "select $1::text", want).Scan(&got); err != nil || got != want {
					errs <- fmt.Errorf("session %d query %d: %q, %v", s, i, got, err)
					return
				}
			}
			errs <- nil
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// A lone idle session, with no other traffic to wake the relay thread, still times out: the
// thread wakes by itself, and the scheduler's preemption signals (EINTR every 10-20 ms) do
// not keep it from its sweeps.
func TestRelayThreadIdleTimeoutAlone(t *testing.T) {
	c := pgtest.Shared(t)
	srv, addr := startProxy(t, Options{Upstream: Upstream{Addr: c.Addr(), TLSMode: TLSDisable}, RelayThreads: 1, IdleTimeout: time.Second})
	idle := dialRaw(t, addr)
	start := time.Now()
	idle.expectFatal("57P05", "idle-session timeout")
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("timed out after %v, idle-timeout is 1s", d)
	}
	if st := srv.Stats(); st.RelayThreadSessions != 1 || st.IdleTimeouts != 1 {
		t.Errorf("relay thread sessions %d, idle timeouts %d; want 1 and 1", st.RelayThreadSessions, st.IdleTimeouts)
	}
}

// An idle relay thread sleeps. Its waits are raw system calls while it has work, and the Go
// scheduler preempts a raw wait every 10-20 ms as if the loop were running; once a wait
// ends without an event, the loop must block the normal way, where the scheduler leaves it
// alone. Counted by the kernel: the thread's context switches while a session sits idle on it.
func TestRelayThreadSleepsWhenIdle(t *testing.T) {
	c := pgtest.Shared(t)
	srv, addr := startProxy(t, Options{Upstream: Upstream{Addr: c.Addr(), TLSMode: TLSDisable}, RelayThreads: 1})
	ctx := ctxT(t)
	conn := connect(t, "postgres://postgres@"+addr+"/postgres?sslmode=disable")
	for i := range 50 {
		if _, err := conn.Exec(ctx, "select 1"); err != nil {
			t.Fatalf("query %d: %v", i, err)
		}
	}
	if st := srv.Stats(); st.RelayThreadSessions != 1 {
		t.Fatalf("relay thread sessions %d, want 1", st.RelayThreadSessions)
	}
	tid := srv.loops[0].tid.Load()
	switches := func() int {
		b, err := os.ReadFile(fmt.Sprintf("/proc/self/task/%d/status", tid))
		if err != nil {
			t.Fatalf("relay thread status: %v", err)
		}
		n, fields := 0, 0
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.HasSuffix(k, "voluntary_ctxt_switches") {
				x, err := strconv.Atoi(strings.TrimSpace(v))
				if err != nil {
					t.Fatalf("relay thread status %q: %v", l, err)
				}
				n += x
				fields++
			}
		}
		if fields != 2 {
			t.Fatalf("relay thread status has %d context-switch counts, want 2", fields)
		}
		return n
	}
	time.Sleep(100 * time.Millisecond) // the first preemption ends the last raw wait
	before := switches()
	time.Sleep(time.Second)
	// Preempted raw waits switch at least 50 times a second; a blocked thread, never.
	n := switches() - before
	t.Logf("relay thread: %d context switches in an idle second", n)
	if n > 10 {
		t.Errorf("idle relay thread switched %d times in a second; want it asleep", n)
	}
	// And it wakes for the next query.
	if _, err := conn.Exec(ctx, "select 2"); err != nil {
		t.Fatalf("query after idling: %v", err)
	}
}
