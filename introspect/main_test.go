package introspect_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pgask/pgask/internal/pgcluster"
	"github.com/pgask/pgask/internal/pgtest"
)

var update = flag.Bool("update", false, "rewrite golden files with the current output")

func TestMain(m *testing.M) { pgtest.Main(m) }

// ctxT is a context bounded generously for a loaded 2-core machine.
func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// connect opens a pgx connection to db as user.
func connect(t testing.TB, c *pgcluster.Cluster, user, db string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(ctxT(t), c.URL(user, db))
	if err != nil {
		t.Fatalf("connect as %s to %s: %v", user, db, err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

var roleSeq atomic.Int64

// newRole creates a login role with a unique name and returns the name.
func newRole(t testing.TB, c *pgcluster.Cluster) string {
	t.Helper()
	name := fmt.Sprintf("r%d_%d", os.Getpid(), roleSeq.Add(1))
	mustExec(t, c, "postgres", "CREATE ROLE "+name+" LOGIN")
	return name
}

func mustExec(t testing.TB, c *pgcluster.Cluster, db, sql string) {
	t.Helper()
	if err := c.Exec(ctxT(t), db, sql); err != nil {
		t.Fatal(err)
	}
}

// readGolden splits a caddy-style golden file into its input and expected parts.
func readGolden(t testing.TB, path string) (input, want string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	in, exp, ok := strings.Cut(string(b), "\n----------\n")
	if !ok {
		t.Fatalf("%s: no ---------- separator", path)
	}
	return in + "\n", exp
}

func writeGolden(t testing.TB, path, input, got string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(strings.TrimSuffix(input, "\n")+"\n----------\n"+got), 0o644); err != nil {
		t.Fatal(err)
	}
}

func goldenFiles(t testing.TB, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.txt"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files in %s: %v", dir, err)
	}
	return files
}
