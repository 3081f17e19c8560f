//go:build linux

package proxy

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgask/pgask/internal/pgtest"
	"github.com/pgask/pgask/proxy/internal/evloop"
	"github.com/pgask/pgask/proxy/internal/uring"
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
	probe := newLoopProbe()
	srv, addr := startProxy(t, Options{Upstream: Upstream{Addr: c.Addr(), TLSMode: TLSDisable}, RelayThreads: 1, RelayNoIOURing: noRing, relayHooks: probe.hooks()})
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
	// Sessions side by side.
	concurrentQueries(t, addr, 8, 100)
	// Two sockets ready in one round of the loop: their reads go to the kernel in one
	// io_uring_enter, and so do the writes they lead to (a batch of one is a plain call).
	ring := !srv.opts.RelayNoIOURing && ringAvailable()
	a, b := dialRaw(t, addr), dialRaw(t, addr)
	b0 := srv.Stats().RelayThreadRingBatches
	readTogether(t, probe, a, b)
	if b1 := srv.Stats().RelayThreadRingBatches; (b1 > b0) != ring {
		t.Errorf("io_uring batches %d before and %d after two sockets were read in one round, with the ring in use: %v", b0, b1, ring)
	}
	a.terminate()
	b.terminate()
	// Every session but conn has ended, so each went through its attach (and counted).
	waitFor(t, func() bool { return srv.Sessions() == 1 })
	if st := srv.Stats(); st.Open != 1 || st.RelayThreadSessions != 11 || st.RelayThreadHandoffs != 0 {
		t.Errorf("open %d, relay thread sessions %d, hand-offs %d; want 1, 11 and 0", st.Open, st.RelayThreadSessions, st.RelayThreadHandoffs)
	}
	if b := srv.Stats().RelayThreadRingBatches; (b > 0) != ring {
		t.Errorf("io_uring batches %d with the ring in use: %v", b, ring)
	}
	conn.Close(ctx)
	waitFor(t, func() bool { return srv.Sessions() == 0 })
	if st := srv.Stats(); st.Open != 0 {
		t.Errorf("open sessions after close: %d", st.Open)
	}
}

// loopProbe watches and holds the one relay thread of a test's Server through its hooks.
type loopProbe struct {
	started chan evloop.Thread
	th      *evloop.Thread
	hold    atomic.Bool   // the next command step waits for release
	held    chan struct{} // a command step is held
	release chan struct{}
}

func newLoopProbe() *loopProbe {
	return &loopProbe{started: make(chan evloop.Thread, 1), held: make(chan struct{}, 1), release: make(chan struct{}, 1)}
}

// hooks returns the relay thread hooks that feed p; a test may add its own to them.
func (p *loopProbe) hooks() *evloop.Hooks {
	return &evloop.Hooks{
		Started: func(th evloop.Thread) { p.started <- th },
		Commands: func() {
			if p.hold.Load() {
				p.held <- struct{}{}
				<-p.release
			}
		},
	}
}

// thread returns the relay thread, which the Server starts at its first session.
func (p *loopProbe) thread(t *testing.T) evloop.Thread {
	t.Helper()
	if p.th == nil {
		select {
		case th := <-p.started:
			p.th = &th
		case <-time.After(time.Minute):
			t.Fatal("no relay thread started")
		}
	}
	return *p.th
}

// readTogether makes the relay thread of p find the client sockets of a and b readable in
// the same round of its loop, so that it reads both in one batch (one io_uring_enter where
// it has a ring), and checks the replies. Timing decides nothing: the loop is held in its
// command step (after it has drained its wake-up pipe: Hooks.Commands) while both queries
// arrive, and is let go only once epoll reports both sockets readable.
func readTogether(t *testing.T, p *loopProbe, a, b *rawClient) {
	t.Helper()
	// Both sessions are on the relay thread once a query has been answered there.
	a.query("select 1")
	b.query("select 1")
	th := p.thread(t)
	p.hold.Store(true)
	held := true
	defer func() {
		if held {
			p.hold.Store(false)
			select {
			case p.release <- struct{}{}:
			default:
			}
		}
	}()
	th.Wake()
	select {
	case <-p.held:
	case <-time.After(time.Minute):
		t.Fatal("the relay thread did not reach its command step")
	}
	for i, rc := range []*rawClient{a, b} {
		rc.fe.Send(&pgproto3.Query{String: fmt.Sprintf("select 'together %d'", i)})
		rc.flush()
	}
	waitUntil(t, "epoll to report both client sockets readable", func() bool {
		return readySockets(t, th.Epfd) >= 2
	})
	held = false
	p.hold.Store(false)
	p.release <- struct{}{}
	for i, rc := range []*rawClient{a, b} {
		var got string
		rc.until(func(m pgproto3.BackendMessage) bool {
			switch m := m.(type) {
			case *pgproto3.DataRow:
				got = string(m.Values[0])
			case *pgproto3.ErrorResponse:
				t.Fatalf("query %d: %s %s", i, m.Code, m.Message)
			}
			_, z := m.(*pgproto3.ReadyForQuery)
			return z
		})
		if want := fmt.Sprintf("together %d", i); got != want {
			t.Errorf("query %d returned %q, want %q", i, got, want)
		}
	}
}

// epollInterest returns the event masks of the descriptors registered with the epoll
// instance epfd, as the kernel reports them in /proc/self/fdinfo.
func epollInterest(t *testing.T, epfd int) []uint32 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/self/fdinfo/%d", epfd))
	if err != nil {
		t.Fatalf("epoll fdinfo: %v", err)
	}
	var masks []uint32
	for _, line := range strings.Split(string(b), "\n") {
		// tfd:        9 events:       19 data:      100000000  pos:0 ino:4a1 sdev:8
		f := strings.Fields(line)
		if len(f) < 4 || f[0] != "tfd:" || f[2] != "events:" {
			continue
		}
		m, err := strconv.ParseUint(f[3], 16, 32)
		if err != nil {
			t.Fatalf("epoll fdinfo %q: %v", line, err)
		}
		masks = append(masks, uint32(m))
	}
	return masks
}

// readySockets is the number of sockets the epoll instance epfd reports readable now (the
// relay thread's epoll is level-triggered: looking takes nothing from it).
func readySockets(t *testing.T, epfd int) int {
	evs := make([]syscall.EpollEvent, 16)
	n, err := syscall.EpollWait(epfd, evs, 0)
	if err != nil && err != syscall.EINTR {
		t.Fatalf("epoll_wait: %v", err)
	}
	k := 0
	for _, ev := range evs[:max(n, 0)] {
		if ev.Fd >= 0 && ev.Events&syscall.EPOLLIN != 0 {
			k++
		}
	}
	return k
}

// ringAvailable says whether this kernel lets the relay threads make a ring.
func ringAvailable() bool {
	r, err := uring.New(8)
	if err != nil {
		return false
	}
	r.Close()
	return true
}

// waitUntil polls cond until it holds; the minute is only there so that a broken build
// fails instead of hanging, never what makes a test pass.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// The goroutine relay takes over at the first statement that may be an ASK, at the exact
// byte where the relay thread stopped: here in the middle of a 32 MB DataRow that the client
// has not read yet, so the relay thread holds unwritten bytes and a partly relayed frame.
func TestRelayThreadHandsOffMidFrame(t *testing.T) {
	c := pgtest.Shared(t)
	probe := newLoopProbe()
	srv, addr := startProxy(t, Options{Upstream: Upstream{Addr: c.Addr(), TLSMode: TLSDisable}, RelayThreads: 1, Interceptor: countInterceptor{t}, relayHooks: probe.hooks()})
	rc := dialRaw(t, addr)
	rc.query("select 1")
	const size = 32 << 20
	base := srv.Stats().ServerBytes
	rc.fe.Send(&pgproto3.Query{String: "select repeat('y', 33554432)"})
	rc.flush()
	// Read the first bytes of the reply only, and wait until the relay thread is blocked on
	// the client: a write to it came back EAGAIN, so the thread waits for the client socket
	// to be writable (EPOLLOUT in its epoll interest) with bytes it has not written yet.
	first := make([]byte, 16)
	if _, err := io.ReadFull(rc.nc, first); err != nil {
		t.Fatal(err)
	}
	if first[0] != 'T' {
		t.Fatalf("first reply byte %q, want RowDescription", first[0])
	}
	epfd := probe.thread(t).Epfd
	waitUntil(t, "the relay thread to block on the client", func() bool {
		for _, ev := range epollInterest(t, epfd) {
			if ev&syscall.EPOLLOUT != 0 {
				return true
			}
		}
		return false
	})
	// It walked the DataRow's header (a frame's bytes are counted then): it is mid-DataRow.
	if st := srv.Stats(); st.ServerBytes-base < size || st.RelayThreadHandoffs != 0 {
		t.Fatalf("relayed %d bytes of the reply, hand-offs %d; want the DataRow's header and none", st.ServerBytes-base, st.RelayThreadHandoffs)
	}
	rc.fe.Send(&pgproto3.Query{String: "ASK count"})
	rc.flush()
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
	// The ASK was answered by the goroutine relay: the hand-off (counted before it) is done.
	if st := srv.Stats(); st.RelayThreadSessions != 1 || st.RelayThreadHandoffs != 1 {
		t.Errorf("relay thread sessions %d, hand-offs %d; want 1 and 1", st.RelayThreadSessions, st.RelayThreadHandoffs)
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
// walk and buffer handling (the evloop.Owner calls a read makes: ReadBuf, Read, Walk), in either
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
		ls.m[d] = m
		s.walk[d].m = m
		var out []byte
		rest := in
		handoff, step := false, int(chunk)%97+1
		var err error
		for len(rest) > 0 && !handoff && err == nil {
			b := ls.ReadBuf(d)
			n := copy(b, rest[:min(step, len(rest))])
			rest = rest[n:]
			ls.Read(d, n)
			var o []byte
			o, handoff, err = ls.Walk(d)
			if m.r > m.w || len(o) > m.r {
				t.Fatalf("walk left r=%d w=%d and %d bytes to write", m.r, m.w, len(o))
			}
			out = append(out, o...)
		}
		if !bytes.HasPrefix(in, out) {
			t.Fatalf("passed-on bytes are not a prefix of the input")
		}
		switch {
		case handoff:
			if !intercept || (m.buf[m.r] != 'Q' && m.buf[m.r] != 'P') {
				t.Fatalf("hand-off at %q without an interceptor (%v)", m.buf[m.r], intercept)
			}
		case errors.Is(err, errTerminate):
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
	var failRing, ringDropped atomic.Bool
	probe := newLoopProbe()
	hooks := probe.hooks()
	hooks.Submit = func() error {
		if failRing.Load() {
			return errors.New("io_uring_enter failed (test)")
		}
		return nil
	}
	// The batch count when the ring is dropped, taken on the relay thread itself: a batch that
	// completes after readTogether returned (the answers' writes) still counts before the drop.
	var srv *Server
	var atDrop atomic.Uint64
	hooks.RingDropped = func() {
		atDrop.Store(srv.Stats().RelayThreadRingBatches)
		ringDropped.Store(true)
	}
	srv, addr := startProxy(t, Options{Upstream: Upstream{Addr: c.Addr(), TLSMode: TLSDisable}, RelayThreads: 1, relayHooks: hooks})
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
	a, b := dialRaw(t, addr), dialRaw(t, addr)
	readTogether(t, probe, a, b)
	before := srv.Stats().RelayThreadRingBatches
	if before == 0 {
		t.Fatal("two sockets read in one round of the loop made no io_uring batch")
	}
	// The next io_uring_enter fails: that of the next batch, the reads of a and b.
	failRing.Store(true)
	readTogether(t, probe, a, b)
	if !ringDropped.Load() {
		t.Fatal("the relay thread kept its ring after io_uring_enter failed")
	}
	concurrentQueries(t, addr, 8, 50)
	readTogether(t, probe, a, b)
	for i := 1; i <= 20; i++ {
		query(i)
	}
	after := srv.Stats()
	if after.RelayThreadRingBatches != atDrop.Load() {
		t.Errorf("io_uring batches went on after the failure: %d then %d", atDrop.Load(), after.RelayThreadRingBatches)
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
	// A loop that never sweeps leaves the session open: the raw client's one-minute deadline
	// then fails expectFatal. The idle time counts from the session's attach, after start.
	start := time.Now()
	idle := dialRaw(t, addr)
	idle.expectFatal("57P05", "idle-session timeout")
	if d := time.Since(start); d < time.Second {
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
	probe := newLoopProbe()
	srv, addr := startProxy(t, Options{Upstream: Upstream{Addr: c.Addr(), TLSMode: TLSDisable}, RelayThreads: 1, relayHooks: probe.hooks()})
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
	tid := probe.thread(t).TID
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
	// The last raw wait ends at the first preemption (each look at the goroutines stops the
	// world, which preempts it too); the loop must then wait as a blocking system call, which
	// the runtime reports as the goroutine's state.
	waitUntil(t, "the relay thread to block in epoll_pwait", func() bool { return loopsState() == "syscall" })
	before := switches()
	time.Sleep(time.Second)
	// Preempted raw waits switch at least 50 times a second; a blocked thread, never.
	n := switches() - before
	t.Logf("relay thread: %d context switches in an idle second", n)
	if n > 10 {
		t.Errorf("idle relay thread switched %d times in a second; want it asleep", n)
	}
	if st := loopsState(); st != "syscall" {
		t.Errorf("idle relay thread in state %q after a second, want syscall", st)
	}
	// And it wakes for the next query.
	if _, err := conn.Exec(ctx, "select 2"); err != nil {
		t.Fatalf("query after idling: %v", err)
	}
}

// loopsState is the state the runtime reports for the goroutines of the running relay threads
// ("syscall" in a blocking system call, "running" or "runnable" in a raw one), "" when there
// are none, and "mixed" when they differ.
func loopsState() string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	state := ""
	for _, g := range strings.Split(string(buf), "\n\n") {
		if !strings.Contains(g, "evloop.(*Loop).run(") {
			continue
		}
		// goroutine 42 [syscall, locked to thread]:
		_, rest, _ := strings.Cut(g, "[")
		st, _, _ := strings.Cut(rest, "]")
		st, _, _ = strings.Cut(st, ",")
		switch {
		case state == "":
			state = st
		case state != st:
			return "mixed"
		}
	}
	return state
}

// terminate ends rc's session with Terminate and waits until pgask has closed the socket.
func (rc *rawClient) terminate() {
	rc.t.Helper()
	rc.fe.Send(&pgproto3.Terminate{})
	rc.flush()
	if _, err := io.Copy(io.Discard, rc.nc); err != nil {
		rc.t.Fatalf("after Terminate: %v", err)
	}
}
