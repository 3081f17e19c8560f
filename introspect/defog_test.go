package introspect_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pgask/pgask/internal/pgcluster"
	"github.com/pgask/pgask/internal/pgtest"
	"github.com/pgask/pgask/introspect"
)

// evalData is the repository's testdata folder: the defog databases (defog-data) and the
// sql-eval questions (sql-eval), the layout of ../shared.
const evalData = "../testdata"

// defogDir returns the folder holding <name>.sql and <name>.json.
func defogDir(t testing.TB, name string) string {
	t.Helper()
	dir := filepath.Join(evalData, "defog-data", name)
	if _, err := os.Stat(filepath.Join(dir, name+".sql")); err != nil {
		t.Fatalf("defog database %s: %v", name, err)
	}
	return dir
}

// defogMeta is the part of a defog <db>.json that the tests use.
type defogMeta struct {
	TableMetadata map[string][]struct {
		ColumnName        string `json:"column_name"`
		ColumnDescription string `json:"column_description"`
	} `json:"table_metadata"`
}

// loadDefog loads the dump of defog database name into db. With intoSchema, the tables end up
// in a schema named after the database (the dump's own schema, public or consumer_div, is
// renamed after loading, so several databases can share one catalog). The column
// descriptions of <name>.json become column comments (the dumps carry none).
func loadDefog(t testing.TB, c *pgcluster.Cluster, db, name string, intoSchema bool) {
	t.Helper()
	dir := defogDir(t, name)
	ctx := ctxT(t)
	tableSchemas := func() map[string]bool {
		out, err := c.Psql(ctx, db, "-At", "-c", `SELECT DISTINCT n.nspname FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'r' AND n.nspname NOT LIKE 'pg\_%'
  AND n.nspname <> 'information_schema'`)
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]bool{}
		for _, f := range strings.Fields(string(out)) {
			m[f] = true
		}
		return m
	}
	before := tableSchemas()
	if err := c.LoadFile(ctx, db, filepath.Join(dir, name+".sql")); err != nil {
		t.Fatal(err)
	}
	if intoSchema {
		var added []string
		for s := range tableSchemas() {
			if !before[s] {
				added = append(added, s)
			}
		}
		if len(added) != 1 {
			t.Fatalf("load %s: tables landed in new schemas %v, want exactly one", name, added)
		}
		mustExec(t, c, db, fmt.Sprintf("ALTER SCHEMA %s RENAME TO %s; CREATE SCHEMA IF NOT EXISTS public",
			introspect.QuoteIdent(added[0]), introspect.QuoteIdent(name)))
	}

	b, err := os.ReadFile(filepath.Join(dir, name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var meta defogMeta
	if err := json.Unmarshal(b, &meta); err != nil {
		t.Fatalf("%s.json: %v", name, err)
	}
	// Match the metadata's names (mixed case, some schema-qualified) to the catalog's.
	conn := connect(t, c, "postgres", db)
	opts := introspect.Options{Schemas: []string{"public", "consumer_div"}}
	if intoSchema {
		opts.Schemas = []string{name}
	}
	s, err := introspect.Load(ctx, introspect.NewPgxQuerier(conn), opts)
	if err != nil {
		t.Fatal(err)
	}
	var sql strings.Builder
	for table, cols := range meta.TableMetadata {
		if i := strings.LastIndexByte(table, '.'); i >= 0 {
			table = table[i+1:]
		}
		tab := findFold(s, table)
		if tab == nil {
			continue
		}
		for _, col := range cols {
			if col.ColumnDescription == "" {
				continue
			}
			for _, cc := range tab.Columns {
				if strings.EqualFold(cc.Name, col.ColumnName) {
					fmt.Fprintf(&sql, "COMMENT ON COLUMN %s.%s IS '%s';\n", tab.QualifiedName(),
						introspect.QuoteIdent(cc.Name), strings.ReplaceAll(col.ColumnDescription, "'", "''"))
				}
			}
		}
	}
	if sql.Len() > 0 {
		mustExec(t, c, db, sql.String())
	}
}

func findFold(s *introspect.Schema, table string) *introspect.Table {
	for i := range s.Tables {
		if strings.EqualFold(s.Tables[i].Name, table) {
			return &s.Tables[i]
		}
	}
	return nil
}

// TestDefogGolden loads the defog databases named by testdata/defog/*.txt (first part: the
// database name) and compares their rendered DDL (M-Schema for *.mschema.txt) with the expected
// part. For *.values.txt the database is ANALYZEd and loaded with Options.Values, and the
// question after the database name (second line) is matched against its values
// (RenderQuestion).
func TestDefogGolden(t *testing.T) {
	c := pgtest.Shared(t)
	for _, path := range goldenFiles(t, "testdata/defog") {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".txt"), func(t *testing.T) {
			input, want := readGolden(t, path)
			name, question, _ := strings.Cut(strings.TrimSpace(input), "\n")
			values := strings.HasSuffix(path, ".values.txt")
			db := pgtest.NewDatabase(t, c)
			loadDefog(t, c, db, name, false)
			if values {
				mustExec(t, c, db, "ANALYZE")
			}
			conn := connect(t, c, "postgres", db)
			s, err := introspect.Load(ctxT(t), introspect.NewPgxQuerier(conn),
				introspect.Options{Schemas: []string{"public", "consumer_div"}, Values: values})
			if err != nil {
				t.Fatal(err)
			}
			got := introspect.Render(s)
			switch {
			case strings.HasSuffix(path, ".mschema.txt"):
				got = introspect.RenderMSchema(s)
			case values:
				got = introspect.RenderQuestion(s, question)
			}
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
