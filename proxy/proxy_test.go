package proxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgask/pgask/internal/pgcluster"
	"github.com/pgask/pgask/internal/pgtest"
)

func TestMain(m *testing.M) {
	// The relay thread keeps a P and the proxy starts none when GOMAXPROCS is 1 (a one-CPU
	// machine): the tests, like pgask serve, make room for it.
	if runtime.GOMAXPROCS(0) < 2 {
		runtime.GOMAXPROCS(2)
	}
	pgtest.Main(m)
}

// testLogger logs through t when -v is given, until t's cleanup: a session's goroutines may
// log after the test that started it has ended, which t.Log does not allow.
func testLogger(t testing.TB) *slog.Logger {
	if !testing.Verbose() {
		return slog.New(slog.DiscardHandler)
	}
	w := &tWriter{t: t}
	t.Cleanup(func() {
		w.mu.Lock()
		w.done = true
		w.mu.Unlock()
	})
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct {
	t    testing.TB
	mu   sync.Mutex
	done bool
}

func (w *tWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

// startProxy starts a Server in front of upstream on 127.0.0.1:0 and returns its address.
func startProxy(t testing.TB, opts Options) (*Server, string) {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = testLogger(t)
	}
	if v := os.Getenv("PGASK_TEST_RELAY_THREADS"); v != "" && opts.RelayThreads == 0 {
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatalf("PGASK_TEST_RELAY_THREADS=%q: %v", v, err)
		}
		opts.RelayThreads = n // -1: the suite runs on the goroutine relay (make race)
	}
	if os.Getenv("PGASK_TEST_RELAY_IO_URING") == "0" {
		opts.RelayNoIOURing = true // the relay thread without io_uring (make race)
	}
	srv, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, l) }()
	t.Cleanup(func() {
		cancel()
		srv.Close()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return srv, l.Addr().String()
}

func proxyFor(t testing.TB, c *pgcluster.Cluster) string {
	_, addr := startProxy(t, Options{Upstream: Upstream{Addr: c.Addr(), TLSMode: TLSDisable}})
	return addr
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func connect(t testing.TB, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(ctxT(t), url)
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func TestPgxEndToEnd(t *testing.T) {
	c := pgtest.Shared(t)
	db := pgtest.NewDatabase(t, c)
	addr := proxyFor(t, c)
	url := fmt.Sprintf("postgres://postgres@%s/%s?sslmode=disable", addr, db)
	ctx := ctxT(t)
	setup := connect(t, url)
	if _, err := setup.Exec(ctx, "create table items (id int primary key, name text)"); err != nil {
		t.Fatal(err)
	}

	t.Run("simple and extended", func(t *testing.T) {
		conn := connect(t, url)
		for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeExec,
			pgx.QueryExecModeDescribeExec, pgx.QueryExecModeCacheStatement, pgx.QueryExecModeCacheDescribe} {
			var n int
			var s string
			if err := conn.QueryRow(ctx, "select $1::int + 1, $2::text", mode, 41, "it's").Scan(&n, &s); err != nil {
				t.Fatalf("mode %v: %v", mode, err)
			}
			if n != 42 || s != "it's" {
				t.Fatalf("mode %v: got %d %q", mode, n, s)
			}
		}
	})

	t.Run("prepared more than five times", func(t *testing.T) {
		conn := connect(t, url)
		if _, err := conn.Prepare(ctx, "sq", "select $1::int * 2"); err != nil {
			t.Fatal(err)
		}
		for i := range 12 {
			var v int
			if err := conn.QueryRow(ctx, "sq", i).Scan(&v); err != nil {
				t.Fatalf("execution %d: %v", i, err)
			}
			if v != 2*i {
				t.Fatalf("execution %d: got %d", i, v)
			}
		}
	})

	t.Run("transaction rollback", func(t *testing.T) {
		conn := connect(t, url)
		tx, err := conn.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(ctx, "insert into items values (100, 'gone')"); err != nil {
			t.Fatal(err)
		}
		if err := tx.Rollback(ctx); err != nil {
			t.Fatal(err)
		}
		var n int
		if err := conn.QueryRow(ctx, "select count(*) from items where id = 100").Scan(&n); err != nil || n != 0 {
			t.Fatalf("after rollback: n=%d err=%v", n, err)
		}
	})

	t.Run("copy from and to", func(t *testing.T) {
		conn := connect(t, url)
		rows := make([][]any, 5000)
		for i := range rows {
			rows[i] = []any{1000 + i, strings.Repeat("x", i%50)}
		}
		n, err := conn.CopyFrom(ctx, pgx.Identifier{"items"}, []string{"id", "name"}, pgx.CopyFromRows(rows))
		if err != nil || n != 5000 {
			t.Fatalf("CopyFrom: n=%d err=%v", n, err)
		}
		var buf bytes.Buffer
		tag, err := conn.PgConn().CopyTo(ctx, &buf, "copy (select id, name from items where id >= 1000 order by id) to stdout")
		if err != nil || tag.RowsAffected() != 5000 {
			t.Fatalf("CopyTo: %v %v", tag, err)
		}
		if lines := strings.Count(buf.String(), "\n"); lines != 5000 {
			t.Fatalf("CopyTo gave %d lines", lines)
		}
		if !strings.HasPrefix(buf.String(), "1000\t\n1001\tx\n") {
			t.Fatalf("CopyTo output starts %q", buf.String()[:20])
		}
	})

	t.Run("large result", func(t *testing.T) {
		conn := connect(t, url)
		var total, n int64
		rows, err := conn.Query(ctx, "select repeat('y', 100000) from generate_series(1, 50)")
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				t.Fatal(err)
			}
			total += int64(len(s))
			n++
		}
		if err := rows.Err(); err != nil || n != 50 || total != 50*100000 {
			t.Fatalf("rows=%d bytes=%d err=%v", n, total, err)
		}
	})

	t.Run("listen notify", func(t *testing.T) {
		listener := connect(t, url)
		notifier := connect(t, url)
		if _, err := listener.Exec(ctx, "listen ch"); err != nil {
			t.Fatal(err)
		}
		if _, err := notifier.Exec(ctx, "select pg_notify('ch', 'hello')"); err != nil {
			t.Fatal(err)
		}
		n, err := listener.WaitForNotification(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n.Channel != "ch" || n.Payload != "hello" {
			t.Fatalf("notification %+v", n)
		}
		if n.PID != notifier.PgConn().PID() {
			t.Fatalf("notification from pid %d, notifier is %d", n.PID, notifier.PgConn().PID())
		}
	})

	t.Run("cancel pg_sleep", func(t *testing.T) {
		conn := connect(t, url)
		watcher := connect(t, url)
		cancelSleep(t, conn, watcher)
		// The connection stays usable.
		var v int
		if err := conn.QueryRow(ctx, "select 7").Scan(&v); err != nil || v != 7 {
			t.Fatalf("after cancel: %d %v", v, err)
		}
	})

	t.Run("error then good query", func(t *testing.T) {
		conn := connect(t, url)
		for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeCacheStatement} {
			_, err := conn.Exec(ctx, "select * from no_such_table", mode)
			var pe *pgconn.PgError
			if !errors.As(err, &pe) || pe.Code != "42P01" {
				t.Fatalf("want undefined_table, got %v", err)
			}
			var v string
			if err := conn.QueryRow(ctx, "select 'ok'", mode).Scan(&v); err != nil || v != "ok" {
				t.Fatalf("after error: %q %v", v, err)
			}
		}
	})

	t.Run("batch pipelined", func(t *testing.T) {
		conn := connect(t, url)
		b := &pgx.Batch{}
		for i := range 100 {
			b.Queue("select $1::int", i)
		}
		br := conn.SendBatch(ctx, b)
		for i := range 100 {
			var v int
			if err := br.QueryRow().Scan(&v); err != nil || v != i {
				t.Fatalf("batch item %d: %d %v", i, v, err)
			}
		}
		if err := br.Close(); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("protocol 3.2", func(t *testing.T) {
		conn := connect(t, url+"&max_protocol_version=3.2")
		var v int
		if err := conn.QueryRow(ctx, "select 32").Scan(&v); err != nil || v != 32 {
			t.Fatalf("%d %v", v, err)
		}
		cancelSleep(t, conn, connect(t, url))
	})

	t.Run("backend key is pgask's own", func(t *testing.T) {
		conn := connect(t, url)
		watcher := connect(t, url)
		var pid uint32
		if err := conn.QueryRow(ctx, "select pg_backend_pid()").Scan(&pid); err != nil {
			t.Fatal(err)
		}
		if pid != conn.PgConn().PID() {
			t.Fatalf("client was given pid %d, backend is %d", conn.PgConn().PID(), pid)
		}
		// A cancel with a wrong secret must not reach the backend.
		bad := make([]byte, len(conn.PgConn().SecretKey()))
		copy(bad, conn.PgConn().SecretKey())
		bad[0] ^= 0xff
		done := make(chan error, 1)
		go func() {
			// A loop that checks for interrupts in every pg_sleep and shows its progress in
			// pg_stat_activity.
			_, err := conn.Exec(ctx, `DO $$ BEGIN FOR i IN 1..100000 LOOP
				PERFORM set_config('application_name', 'tick ' || i, false); PERFORM pg_sleep(0.01);
				END LOOP; END $$`)
			done <- err
		}()
		tick := func() int {
			t.Helper()
			var app string
			if err := watcher.QueryRow(ctx, "select application_name from pg_stat_activity where pid = $1", pid).Scan(&app); err != nil {
				t.Fatal(err)
			}
			n, _ := strconv.Atoi(strings.TrimPrefix(app, "tick "))
			return n
		}
		// waitTick waits until the loop has gone past tick n, failing if it ends first.
		waitTick := func(n int) {
			t.Helper()
			for tick() <= n {
				select {
				case err := <-done:
					t.Fatalf("the loop ended before tick %d: %v", n+1, err)
				case <-time.After(5 * time.Millisecond):
				}
			}
		}
		waitTick(0)
		// sendRawCancel returns once pgask has closed the connection, after a forwarded cancel
		// has been delivered: had this one been, the backend would have a SIGINT now, and end
		// the loop at its next check for interrupts, one tick later at most.
		sendRawCancel(t, addr, pid, bad)
		waitTick(tick() + 1)
		// The right key does end it.
		if err := conn.PgConn().CancelRequest(ctx); err != nil {
			t.Fatalf("CancelRequest: %v", err)
		}
		var pe *pgconn.PgError
		if err := <-done; !errors.As(err, &pe) || pe.Code != "57014" {
			t.Fatalf("after the right cancel: %v, want query_canceled (57014)", err)
		}
	})
}

func sendRawCancel(t *testing.T, addr string, pid uint32, key []byte) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	pkt := []byte{0, 0, 0, byte(12 + len(key)), 0x04, 0xd2, 0x16, 0x2e, byte(pid >> 24), byte(pid >> 16), byte(pid >> 8), byte(pid)}
	pkt = append(pkt, key...)
	if _, err := c.Write(pkt); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	var b [1]byte
	_, _ = c.Read(b[:])
}

func TestAuthRelay(t *testing.T) {
	c := pgtest.Start(t, pgcluster.Options{
		HBA:      []string{"host all md5user 127.0.0.1/32 md5", "host all scramuser 127.0.0.1/32 scram-sha-256", "host all pwuser 127.0.0.1/32 password"},
		Settings: map[string]string{"password_encryption": "'scram-sha-256'"},
	})
	ctx := ctxT(t)
	for _, sql := range []string{
		"set password_encryption = 'md5'; create role md5user login password 'md5pw'",
		"create role scramuser login password 'scrampw'",
		"create role pwuser login password 'plainpw'",
	} {
		if err := c.Exec(ctx, "postgres", sql); err != nil {
			t.Fatal(err)
		}
	}
	addr := proxyFor(t, c)
	for _, tc := range []struct{ user, pw string }{{"md5user", "md5pw"}, {"scramuser", "scrampw"}, {"pwuser", "plainpw"}} {
		t.Run(tc.user, func(t *testing.T) {
			url := fmt.Sprintf("postgres://%s:%s@%s/postgres?sslmode=disable", tc.user, tc.pw, addr)
			conn := connect(t, url)
			var who string
			if err := conn.QueryRow(ctx, "select current_user").Scan(&who); err != nil || who != tc.user {
				t.Fatalf("current_user %q %v", who, err)
			}
			bad := fmt.Sprintf("postgres://%s:wrong@%s/postgres?sslmode=disable", tc.user, addr)
			_, err := pgx.Connect(ctx, bad)
			var pe *pgconn.PgError
			if !errors.As(err, &pe) || pe.Code != "28P01" {
				t.Fatalf("wrong password: want 28P01, got %v", err)
			}
		})
	}
}

func TestMaxConnections(t *testing.T) {
	c := pgtest.Shared(t)
	_, addr := startProxy(t, Options{Upstream: Upstream{Addr: c.Addr(), TLSMode: TLSDisable}, MaxConnections: 2})
	url := fmt.Sprintf("postgres://postgres@%s/postgres?sslmode=disable", addr)
	connect(t, url)
	second := connect(t, url)
	_, err := pgx.Connect(ctxT(t), url)
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "53300" {
		t.Fatalf("third connection: want 53300, got %v", err)
	}
	second.Close(context.Background())
	// The slot is free again once the session ended.
	deadline := time.Now().Add(30 * time.Second)
	for {
		conn, err := pgx.Connect(ctxT(t), url)
		if err == nil {
			conn.Close(context.Background())
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("slot not released: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestDeadUpstream(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := l.Addr().String()
	l.Close()
	_, addr := startProxy(t, Options{Upstream: Upstream{Addr: dead, TLSMode: TLSDisable}, ConnectTimeout: 5 * time.Second})
	start := time.Now()
	_, err = pgx.Connect(ctxT(t), fmt.Sprintf("postgres://postgres@%s/postgres?sslmode=disable&connect_timeout=60", addr))
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "08006" || !strings.Contains(pe.Message, "upstream") {
		t.Fatalf("want 08006 naming the upstream, got %v", err)
	}
	if time.Since(start) > 30*time.Second {
		t.Fatalf("took %v", time.Since(start))
	}
}

func TestShutdownWaitsForSessions(t *testing.T) {
	c := pgtest.Shared(t)
	srv, err := New(Options{Upstream: Upstream{Addr: c.Addr(), TLSMode: TLSDisable}, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(context.Background(), l)
	ctx := ctxT(t)
	conn := connect(t, fmt.Sprintf("postgres://postgres@%s/postgres?sslmode=disable", l.Addr()))

	done := make(chan error, 1)
	go func() {
		sctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		done <- srv.Shutdown(sctx)
	}()
	// New connections are refused while the existing session keeps working.
	deadline := time.Now().Add(30 * time.Second)
	for {
		c2, err := net.DialTimeout("tcp", l.Addr().String(), time.Second)
		if err != nil {
			break
		}
		c2.Close()
		if time.Now().After(deadline) {
			t.Fatal("listener still accepting after Shutdown")
		}
		time.Sleep(10 * time.Millisecond)
	}
	var v int
	if err := conn.QueryRow(ctx, "select 5").Scan(&v); err != nil || v != 5 {
		t.Fatalf("session during shutdown: %d %v", v, err)
	}
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned %v while a session was open", err)
	default:
	}
	conn.Close(ctx)
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := srv.Close(); err != nil { // second close is harmless
		t.Fatal(err)
	}
}

func TestShutdownTimeoutClosesSessions(t *testing.T) {
	c := pgtest.Shared(t)
	srv, addr := startProxy(t, Options{Upstream: Upstream{Addr: c.Addr(), TLSMode: TLSDisable}})
	conn := connect(t, fmt.Sprintf("postgres://postgres@%s/postgres?sslmode=disable", addr))
	sctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := srv.Shutdown(sctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown: want deadline exceeded, got %v", err)
	}
	if err := conn.Ping(ctxT(t)); err == nil {
		t.Fatal("session still alive after forced shutdown")
	}
}

// cancelSleep runs pg_sleep on conn, waits (via watcher) until it runs, cancels it through
// conn's CancelRequest and checks the query ends with query_canceled.
func cancelSleep(t *testing.T, conn, watcher *pgx.Conn) {
	t.Helper()
	ctx := ctxT(t)
	done := make(chan error, 1)
	go func() {
		_, err := conn.Exec(ctx, "select pg_sleep(60)")
		done <- err
	}()
	pid := conn.PgConn().PID()
	for {
		var n int
		if err := watcher.QueryRow(ctx, "select count(*) from pg_stat_activity where pid = $1 and query like '%pg_sleep(60)%' and state = 'active'", pid).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 1 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	start := time.Now()
	if err := conn.PgConn().CancelRequest(ctx); err != nil {
		t.Fatalf("CancelRequest: %v", err)
	}
	err := <-done
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "57014" {
		t.Fatalf("want query_canceled (57014), got %v", err)
	}
	if time.Since(start) > 30*time.Second {
		t.Fatalf("cancel took %v", time.Since(start))
	}
}
