package introspect_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/pgask/pgask/internal/pgtest"
	"github.com/pgask/pgask/introspect"
)

// TestRenderGolden loads each testdata/render/*.txt input into a fresh database, introspects
// it as the superuser and compares the rendered DDL with the expected part.
func TestRenderGolden(t *testing.T) {
	c := pgtest.Shared(t)
	for _, path := range goldenFiles(t, "testdata/render") {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".txt"), func(t *testing.T) {
			input, want := readGolden(t, path)
			db := pgtest.NewDatabase(t, c)
			mustExec(t, c, db, input)
			conn := connect(t, c, "postgres", db)
			s, err := introspect.Load(ctxT(t), introspect.NewPgxQuerier(conn), introspect.Options{})
			if err != nil {
				t.Fatal(err)
			}
			got := introspect.Render(s)
			if *update {
				writeGolden(t, path, input, got)
				return
			}
			if got != want {
				t.Errorf("render mismatch (run with -update to accept)\n--- got\n%s\n--- want\n%s", got, want)
			}
		})
	}
}
