// Package pgtest gives tests a throwaway PostgreSQL cluster (see internal/pgcluster).
package pgtest

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pgask/pgask/internal/pgcluster"
)

// Start starts a cluster for one test (or benchmark) and removes it when the test ends.
func Start(tb testing.TB, opts pgcluster.Options) *pgcluster.Cluster {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if opts.Logf == nil {
		opts.Logf = tb.Logf
	}
	c, err := pgcluster.Start(ctx, opts)
	if err != nil {
		tb.Fatalf("start throwaway PostgreSQL: %v", err)
	}
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

var (
	sharedMu sync.Mutex
	shared   *pgcluster.Cluster
	// mainRuns is set by Main: only then does someone stop the shared cluster when the
	// tests end.
	mainRuns bool
)

// Main runs a package's tests with one shared trust-authenticated cluster, reachable through
// Shared. Use it from TestMain: func TestMain(m *testing.M) { pgtest.Main(m) }.
func Main(m *testing.M) {
	closeInheritedOnExec()
	sharedMu.Lock()
	mainRuns = true
	sharedMu.Unlock()
	code := m.Run()
	sharedMu.Lock()
	if shared != nil {
		_ = shared.Close()
	}
	sharedMu.Unlock()
	os.Exit(code)
}

// closeInheritedOnExec marks the file descriptors this process inherited, beyond stdin, stdout
// and stderr, close-on-exec, so that the servers its tests start do not hold them. A `go test
// -fuzz` worker inherits its pipes to the fuzzing coordinator that way (descriptors 3 and 4):
// a PostgreSQL that a worker started kept them open after the coordinator stopped that
// worker, and the coordinator, which reads the pipe to its end, then waited for good.
func closeInheritedOnExec() {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return // no /proc: the fuzzing coordinator's workers are the case above, on Linux
	}
	for _, e := range ents {
		if fd, err := strconv.Atoi(e.Name()); err == nil && fd > 2 {
			syscall.CloseOnExec(fd)
		}
	}
}

// Shared returns the package's shared cluster, starting it on first use. It fails the test in
// a package whose TestMain does not call Main: nobody would stop the cluster, and it would
// outlive the tests (a postgres left running after every go test of that package).
func Shared(tb testing.TB) *pgcluster.Cluster {
	tb.Helper()
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if !mainRuns {
		tb.Fatal("pgtest.Shared needs the package's TestMain to call pgtest.Main, which stops the shared cluster when the tests end")
		return nil
	}
	if shared == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		c, err := pgcluster.Start(ctx, pgcluster.Options{})
		if err != nil {
			tb.Fatalf("start shared throwaway PostgreSQL: %v", err)
		}
		shared = c
	}
	return shared
}

// NewDatabase creates a fresh database with a unique name on c and returns its name.
func NewDatabase(tb testing.TB, c *pgcluster.Cluster) string {
	tb.Helper()
	dbSeq.Lock()
	dbSeq.n++
	name := fmt.Sprintf("t%d_%d", os.Getpid(), dbSeq.n)
	dbSeq.Unlock()
	if err := c.CreateDatabase(context.Background(), name); err != nil {
		tb.Fatalf("create database: %v", err)
	}
	return name
}

var dbSeq struct {
	sync.Mutex
	n int
}
