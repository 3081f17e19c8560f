// Package pgtest gives tests a throwaway PostgreSQL cluster (see internal/pgcluster).
package pgtest

import (
	"context"
	"fmt"
	"os"
	"sync"
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
)

// Main runs a package's tests with one shared trust-authenticated cluster, reachable through
// Shared. Use it from TestMain: func TestMain(m *testing.M) { pgtest.Main(m) }.
func Main(m *testing.M) {
	code := m.Run()
	sharedMu.Lock()
	if shared != nil {
		_ = shared.Close()
	}
	sharedMu.Unlock()
	os.Exit(code)
}

// Shared returns the package's shared cluster, starting it on first use. Only valid in
// packages whose TestMain calls Main (otherwise the cluster outlives the tests).
func Shared(tb testing.TB) *pgcluster.Cluster {
	tb.Helper()
	sharedMu.Lock()
	defer sharedMu.Unlock()
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
