package proxy

import (
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgask/pgask/internal/pgtest"
)

func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot count file descriptors: %v", err)
	}
	return len(ents)
}

// TestConnectionChurnLeaksNothing opens and closes 1,000 sessions through pgask (half of
// them ending with Terminate, half by dropping the socket) and checks that goroutines and file
// descriptors return to their baseline.
func TestConnectionChurnLeaksNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	c := pgtest.Shared(t)
	srv, addr := startProxy(t, Options{Upstream: Upstream{Addr: c.Addr(), TLSMode: TLSDisable}})
	ctx := ctxT(t)
	url := "postgres://postgres@" + addr + "/postgres?sslmode=disable"
	// Warm up once so lazily started runtime goroutines are in the baseline.
	if conn, err := pgconn.Connect(ctx, url); err == nil {
		conn.Close(ctx)
	}
	waitFor(t, func() bool { return srv.Sessions() == 0 })
	runtime.GC()
	baseG, baseFD := runtime.NumGoroutine(), openFDs(t)

	for i := 0; i < 1000; i++ {
		conn, err := pgconn.Connect(ctx, url)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		if i%2 == 0 {
			if err := conn.Close(ctx); err != nil {
				t.Fatalf("close %d: %v", i, err)
			}
		} else {
			conn.Conn().Close() // vanish without Terminate
		}
	}
	waitFor(t, func() bool {
		return srv.Sessions() == 0 && runtime.NumGoroutine() <= baseG && openFDs(t) <= baseFD
	})
	if g, fd := runtime.NumGoroutine(), openFDs(t); g > baseG || fd > baseFD {
		t.Errorf("after 1,000 sessions: goroutines %d (baseline %d), fds %d (baseline %d)", g, baseG, fd, baseFD)
	}
}

// waitFor polls cond for up to 30 s (sessions end asynchronously after the client leaves).
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
}
