package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgask/pgask/internal/pgcluster"
	"github.com/pgask/pgask/internal/pgtest"
)

// rawClient is a protocol-level client: it sees every message pgask sends, FATALs included.
type rawClient struct {
	t  *testing.T
	nc net.Conn
	fe *pgproto3.Frontend
}

// dialRaw connects to addr as postgres and reads up to the first ReadyForQuery.
func dialRaw(t *testing.T, addr string) *rawClient {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(time.Minute))
	rc := &rawClient{t: t, nc: nc, fe: pgproto3.NewFrontend(nc, nc)}
	rc.fe.Send(&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersion30, Parameters: map[string]string{"user": "postgres", "database": "postgres"}})
	rc.flush()
	rc.until(func(m pgproto3.BackendMessage) bool {
		if e, ok := m.(*pgproto3.ErrorResponse); ok {
			t.Fatalf("startup: %s %s", e.Code, e.Message)
		}
		_, z := m.(*pgproto3.ReadyForQuery)
		return z
	})
	return rc
}

func (rc *rawClient) flush() {
	rc.t.Helper()
	if err := rc.fe.Flush(); err != nil {
		rc.t.Fatalf("send: %v", err)
	}
}

// until receives messages until stop returns true.
func (rc *rawClient) until(stop func(pgproto3.BackendMessage) bool) {
	rc.t.Helper()
	for {
		m, err := rc.fe.Receive()
		if err != nil {
			rc.t.Fatalf("receive: %v", err)
		}
		if stop(m) {
			return
		}
	}
}

// query runs one simple Query and fails the test on an error.
func (rc *rawClient) query(sql string) {
	rc.t.Helper()
	rc.fe.Send(&pgproto3.Query{String: sql})
	rc.flush()
	rc.until(func(m pgproto3.BackendMessage) bool {
		if e, ok := m.(*pgproto3.ErrorResponse); ok {
			rc.t.Fatalf("%s: %s %s", sql, e.Code, e.Message)
		}
		_, z := m.(*pgproto3.ReadyForQuery)
		return z
	})
}

// expectFatal reads until an ErrorResponse, which must be a FATAL with code, and then
// expects the connection to be closed.
func (rc *rawClient) expectFatal(code, msgPart string) *pgproto3.ErrorResponse {
	rc.t.Helper()
	var e *pgproto3.ErrorResponse
	for e == nil {
		m, err := rc.fe.Receive()
		if err != nil {
			rc.t.Fatalf("want FATAL %s, connection ended with %v", code, err)
		}
		switch m := m.(type) {
		case *pgproto3.ErrorResponse:
			e = m
		case *pgproto3.ReadyForQuery:
			rc.t.Fatalf("want FATAL %s, got ReadyForQuery", code)
		}
	}
	if e.Severity != "FATAL" || e.Code != code || !strings.Contains(e.Message, msgPart) {
		rc.t.Fatalf("want FATAL %s containing %q, got %s %s: %s (%s)", code, msgPart, e.Severity, e.Code, e.Message, e.Detail)
	}
	if m, err := rc.fe.Receive(); err == nil {
		rc.t.Fatalf("connection still open after the FATAL: got %T", m)
	}
	return e
}

// cutter is a TCP forwarder in front of PostgreSQL whose connections can be cut, as a network
// failure or a killed server would: no FATAL, just a closed socket.
type cutter struct {
	l      net.Listener
	target string
	mu     sync.Mutex
	conns  []net.Conn
}

func newCutter(t *testing.T, target string) *cutter {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &cutter{l: l, target: target}
	t.Cleanup(func() { l.Close(); c.cut() })
	go func() {
		for {
			in, err := l.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				in.Close()
				continue
			}
			c.mu.Lock()
			c.conns = append(c.conns, in, out)
			c.mu.Unlock()
			go func() { _, _ = io.Copy(out, in); out.Close() }()
			go func() { _, _ = io.Copy(in, out); in.Close() }()
		}
	}()
	return c
}

func (c *cutter) addr() string { return c.l.Addr().String() }

func (c *cutter) cut() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, nc := range c.conns {
		nc.Close()
	}
	c.conns = nil
}

// The upstream connection dies under a client that waits for a query: the client is told at
// once (FATAL 08006) instead of waiting on a silent socket, and new sessions work.
func TestUpstreamLost(t *testing.T) {
	c := pgtest.Shared(t)
	cut := newCutter(t, c.Addr())
	srv, addr := startProxy(t, Options{Upstream: Upstream{Addr: cut.addr(), TLSMode: TLSDisable}})

	busy := dialRaw(t, addr)
	idle := dialRaw(t, addr)
	busy.query("SELECT 1")
	busy.fe.Send(&pgproto3.Query{String: "SELECT pg_sleep(60)"})
	busy.flush()
	waitFor(t, func() bool { return srv.Stats().ClientMessages >= 2 })
	start := time.Now()
	cut.cut()
	e := busy.expectFatal("08006", "lost the connection to the upstream server")
	if time.Since(start) > 30*time.Second {
		t.Errorf("the client learnt of the lost upstream after %v", time.Since(start))
	}
	if e.Detail == "" {
		t.Error("FATAL has no detail saying what happened")
	}
	idle.expectFatal("08006", "lost the connection")

	url := fmt.Sprintf("postgres://postgres@%s/postgres?sslmode=disable", addr)
	conn := connect(t, url)
	var one int
	if err := conn.QueryRow(ctxT(t), "SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Fatalf("new session after the cut: %d, %v", one, err)
	}
	if st := srv.Stats(); st.UpstreamLost != 2 {
		t.Errorf("Stats().UpstreamLost = %d, want 2", st.UpstreamLost)
	}
}

// PostgreSQL restarts while sessions are open: every open session gets an error (PostgreSQL's
// own FATAL, relayed) rather than a hang, pgask drops them, and new sessions work once the
// server is back.
func TestUpstreamRestartWithOpenSessions(t *testing.T) {
	c := pgtest.Start(t, pgcluster.Options{})
	srv, addr := startProxy(t, Options{Upstream: Upstream{Addr: c.Addr(), TLSMode: TLSDisable}, ConnectTimeout: 5 * time.Second})
	url := fmt.Sprintf("postgres://postgres@%s/postgres?sslmode=disable", addr)
	var conns []*pgx.Conn
	for range 5 {
		conn := connect(t, url)
		if _, err := conn.Exec(ctxT(t), "SELECT 1"); err != nil {
			t.Fatal(err)
		}
		conns = append(conns, conn)
	}
	raw := dialRaw(t, addr)
	if err := c.Stop(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	// The raw client sees PostgreSQL's FATAL 57P01 as it was sent.
	raw.expectFatal("57P01", "terminating connection")
	waitFor(t, func() bool { return srv.Sessions() == 0 })

	// While the server is down, a new session gets a clear error at once.
	_, err := pgx.Connect(ctxT(t), url)
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "08006" {
		t.Fatalf("connect while the upstream is down: want 08006, got %v", err)
	}
	if err := c.Restart(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	for i, conn := range conns {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_, err := conn.Exec(ctx, "SELECT 1")
		cancel()
		if err == nil {
			t.Errorf("session %d: a query on a session whose backend was terminated succeeded", i)
		} else if errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("session %d: hung instead of failing: %v", i, err)
		}
	}
	conn := connect(t, url)
	var one int
	if err := conn.QueryRow(ctxT(t), "SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Fatalf("new session after the restart: %d, %v", one, err)
	}
	if st := srv.Stats(); st.RejectedUpstream != 1 || st.UpstreamConnectErrors != 1 {
		t.Errorf("Stats: rejected for upstream %d, connect errors %d; want 1 and 1", st.RejectedUpstream, st.UpstreamConnectErrors)
	}
}

// Slowloris: clients that trickle their startup packet hold nothing but their own sessions;
// others connect and query meanwhile, and the slow ones are closed at startup-timeout.
func TestSlowClientsDoNotBlockOthers(t *testing.T) {
	c := pgtest.Shared(t)
	// Long enough that the normal client below finishes well inside it on a loaded CI machine.
	srv, addr := startProxy(t, Options{Upstream: Upstream{Addr: c.Addr(), TLSMode: TLSDisable}, StartupTimeout: 8 * time.Second})
	const slow = 30
	var slowConns []net.Conn
	for range slow {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { nc.Close() })
		if _, err := nc.Write([]byte{0, 0}); err != nil { // half of a length word, then nothing
			t.Fatal(err)
		}
		slowConns = append(slowConns, nc)
	}
	// A client mid-session that sends half a message and stalls.
	stalled := dialRaw(t, addr)
	if _, err := stalled.nc.Write([]byte{'Q', 0, 0, 1, 0, 'S', 'E'}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return srv.Sessions() == slow+1 })

	conn := connect(t, fmt.Sprintf("postgres://postgres@%s/postgres?sslmode=disable", addr))
	var n int
	if err := conn.QueryRow(ctxT(t), "SELECT count(*) FROM generate_series(1, 1000)").Scan(&n); err != nil || n != 1000 {
		t.Fatalf("query beside %d slow clients: %d, %v", slow, n, err)
	}
	if got := srv.Sessions(); got != slow+2 {
		t.Errorf("%d sessions while the slow clients wait, want %d", got, slow+2)
	}
	for i, nc := range slowConns {
		_ = nc.SetReadDeadline(time.Now().Add(time.Minute))
		if _, err := io.ReadAll(nc); err != nil {
			t.Errorf("slow client %d: %v", i, err)
		}
	}
	if st := srv.Stats(); st.RejectedStartup != slow {
		t.Errorf("Stats().RejectedStartup = %d, want %d", st.RejectedStartup, slow)
	}
	// The stalled session is still there and completes its message late.
	if _, err := stalled.nc.Write([]byte("LECT 1" + strings.Repeat(" ", 256-4-len("SELECT 1")-1) + "\x00")); err != nil {
		t.Fatal(err)
	}
	stalled.until(func(m pgproto3.BackendMessage) bool { _, z := m.(*pgproto3.ReadyForQuery); return z })
}

func TestIdleTimeout(t *testing.T) {
	c := pgtest.Shared(t)
	srv, addr := startProxy(t, Options{Upstream: Upstream{Addr: c.Addr(), TLSMode: TLSDisable}, IdleTimeout: 1500 * time.Millisecond})
	busy := dialRaw(t, addr)
	// A query that runs longer than the timeout is not idleness.
	busy.fe.Send(&pgproto3.Query{String: "SELECT pg_sleep(3)"})
	busy.flush()
	idle := dialRaw(t, addr)
	busy.until(func(m pgproto3.BackendMessage) bool {
		if e, ok := m.(*pgproto3.ErrorResponse); ok {
			t.Fatalf("a session with a query running was treated as idle: %s %s", e.Code, e.Message)
		}
		_, z := m.(*pgproto3.ReadyForQuery)
		return z
	})
	idle.expectFatal("57P05", "idle-session timeout")
	busy.expectFatal("57P05", "idle-session timeout")
	waitFor(t, func() bool { return srv.Sessions() == 0 })
	if st := srv.Stats(); st.IdleTimeouts != 2 {
		t.Errorf("Stats().IdleTimeouts = %d, want 2", st.IdleTimeouts)
	}
}

func TestMaxMessageSize(t *testing.T) {
	c := pgtest.Shared(t)
	srv, addr := startProxy(t, Options{Upstream: Upstream{Addr: c.Addr(), TLSMode: TLSDisable}, MaxMessageSize: 64 << 10})
	other := dialRaw(t, addr)
	rc := dialRaw(t, addr)
	rc.query("SELECT '" + strings.Repeat("x", 60<<10) + "'")
	rc.fe.Send(&pgproto3.Query{String: "SELECT '" + strings.Repeat("x", 100<<10) + "'"})
	rc.flush()
	e := rc.expectFatal("54000", "max-message-size")
	if !strings.Contains(e.Message, "65536") {
		t.Errorf("message does not give the limit: %s", e.Message)
	}
	other.query("SELECT 1") // other sessions are untouched
	// A malformed length is a protocol error for that one session.
	bad := dialRaw(t, addr)
	if _, err := bad.nc.Write([]byte{'Q', 0, 0, 0, 2}); err != nil {
		t.Fatal(err)
	}
	bad.expectFatal("08P01", "invalid frontend message")
	other.query("SELECT 2")
	if st := srv.Stats(); st.TooLarge != 1 || st.ProtocolErrors != 1 {
		t.Errorf("Stats: too large %d, protocol errors %d; want 1 and 1", st.TooLarge, st.ProtocolErrors)
	}
}

// Stats counts relayed messages and bytes exactly.
func TestStatsTraffic(t *testing.T) {
	c := pgtest.Shared(t)
	srv, addr := startProxy(t, Options{Upstream: Upstream{Addr: c.Addr(), TLSMode: TLSDisable}})
	rc := dialRaw(t, addr)
	before := srv.Stats()
	const q = "SELECT 1"
	for range 10 {
		rc.query(q)
	}
	st := srv.Stats()
	if got := st.ClientMessages - before.ClientMessages; got != 10 {
		t.Errorf("client messages: %d, want 10", got)
	}
	if got, want := st.ClientBytes-before.ClientBytes, uint64(10*(5+len(q)+1)); got != want {
		t.Errorf("client bytes: %d, want %d", got, want)
	}
	// Each SELECT 1 answers RowDescription, DataRow, CommandComplete, ReadyForQuery.
	if got := st.ServerMessages - before.ServerMessages; got != 40 {
		t.Errorf("server messages: %d, want 40", got)
	}
	if st.Accepted < 1 || st.Open != srv.Sessions() {
		t.Errorf("accepted %d, open %d (sessions %d)", st.Accepted, st.Open, srv.Sessions())
	}
	rc.fe.Send(&pgproto3.Terminate{})
	rc.flush()
	waitFor(t, func() bool { return srv.Sessions() == 0 })
	if end := srv.Stats(); end.ClientMessages != st.ClientMessages+1 || end.ServerMessages != st.ServerMessages {
		t.Errorf("after the session ended: client messages %d (want %d), server messages %d (want %d)",
			end.ClientMessages, st.ClientMessages+1, end.ServerMessages, st.ServerMessages)
	}
}

// Sessions still open when the shutdown timeout ends are told, as PostgreSQL tells them.
func TestShutdownTellsClients(t *testing.T) {
	c := pgtest.Shared(t)
	srv, addr := startProxy(t, Options{Upstream: Upstream{Addr: c.Addr(), TLSMode: TLSDisable}})
	rc := dialRaw(t, addr)
	rc.query("SELECT 1")
	sctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := srv.Shutdown(sctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown: want deadline exceeded, got %v", err)
	}
	rc.expectFatal("57P01", "administrator command")
}

// A client's Terminate, or pgask's own on an idle timeout, makes the upstream close: that EOF
// is the end the session asked for, not a lost upstream. Many short sessions side by side on
// both relays, so that the upstream's EOF often arrives while the client side is still ending.
func TestTerminateIsNotALostUpstream(t *testing.T) {
	for _, threads := range []int{1, -1} {
		t.Run(fmt.Sprintf("RelayThreads=%d", threads), func(t *testing.T) {
			c := pgtest.Shared(t)
			srv, addr := startProxy(t, Options{Upstream: Upstream{Addr: c.Addr(), TLSMode: TLSDisable}, RelayThreads: threads})
			ctx := ctxT(t)
			const workers, each = 8, 25
			errs := make(chan error, workers)
			for range workers {
				go func() {
					for range each {
						conn, err := pgx.Connect(ctx, "postgres://postgres@"+addr+"/postgres?sslmode=disable")
						if err != nil {
							errs <- err
							return
						}
						if _, err := conn.Exec(ctx, "select 1"); err != nil {
							errs <- err
							return
						}
						if err := conn.Close(ctx); err != nil {
							errs <- err
							return
						}
					}
					errs <- nil
				}()
			}
			for range workers {
				if err := <-errs; err != nil {
					t.Fatal(err)
				}
			}
			waitFor(t, func() bool { return srv.Sessions() == 0 })
			if st := srv.Stats(); st.UpstreamLost != 0 || st.Accepted != workers*each {
				t.Errorf("%d sessions accepted, %d of them counted as lost upstreams; want %d and 0", st.Accepted, st.UpstreamLost, workers*each)
			}
		})
	}
}
