package introspect_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/pgask/pgask/internal/pgtest"
	"github.com/pgask/pgask/introspect"
)

// TestLookup runs value look-ups against a real PostgreSQL with pg_trgm: values the
// statistics do not hold (the table was never analyzed) are found by a question's misspelt
// word, only in columns the role may read, and nothing is looked up without the extension.
func TestLookup(t *testing.T) {
	c := pgtest.Shared(t)
	db := pgtest.NewDatabase(t, c)
	role := newRole(t, c)
	mustExec(t, c, db, `
CREATE EXTENSION pg_trgm;
CREATE TABLE stores (id int PRIMARY KEY, city text, code varchar(12), note text, size int) WITH (autovacuum_enabled = false);
INSERT INTO stores SELECT i, (ARRAY['Springfield', 'Shelbyville', 'Capital City'])[i % 3 + 1],
  'C' || i, (ARRAY['springfield annex', 'north'])[i % 2 + 1], i FROM generate_series(1, 50) i;
GRANT SELECT (id, city, code, size) ON stores TO `+role)
	nodb := pgtest.NewDatabase(t, c)
	mustExec(t, c, nodb, `CREATE TABLE stores (id int, city text); INSERT INTO stores VALUES (1, 'Springfield')`)

	lookup := func(t *testing.T, user, db, question string) (string, []string) {
		t.Helper()
		q := introspect.NewPgxQuerier(connect(t, c, user, db))
		s, err := introspect.Load(ctxT(t), q, introspect.Options{})
		if err != nil {
			t.Fatal(err)
		}
		rows, err := q.QueryText(ctxT(t), introspect.TrgmSchemaSQL)
		if err != nil {
			t.Fatal(err)
		}
		trgm := ""
		if len(rows) == 1 {
			trgm = string(rows[0][0])
		}
		l := introspect.NewLookup(s, question, trgm)
		if l.SQL == "" {
			return "", nil
		}
		if rows, err = q.QueryText(ctxT(t), l.SQL); err != nil {
			t.Fatalf("look-up: %v\n%s", err, l.SQL)
		}
		var got []string
		for _, m := range l.Matches(rows) {
			got = append(got, m.Table.Name+"."+m.Column+"="+m.Value)
		}
		slices.Sort(got)
		return introspect.RenderQuestionWith(s, question, l.Matches(rows)), got
	}

	t.Run("misspelt word finds the value", func(t *testing.T) {
		ddl, got := lookup(t, "postgres", db, "how many stores are in Springfeld")
		want := []string{"stores.city=Springfield", "stores.note=springfield annex"}
		if !slices.Equal(got, want) {
			t.Fatalf("matches %q, want %q", got, want)
		}
		if !strings.Contains(ddl, "-- stores.city = 'Springfield'\n") {
			t.Fatalf("prompt schema lacks the match:\n%s", ddl)
		}
	})
	t.Run("a column the role may not read is not looked up", func(t *testing.T) {
		_, got := lookup(t, role, db, "how many stores are in Springfeld")
		if want := []string{"stores.city=Springfield"}; !slices.Equal(got, want) {
			t.Fatalf("matches %q, want %q", got, want)
		}
	})
	t.Run("no word worth looking up", func(t *testing.T) {
		if _, got := lookup(t, "postgres", db, "how many are 12"); got != nil {
			t.Fatalf("matches %q, want none", got)
		}
	})
	t.Run("without pg_trgm nothing is looked up", func(t *testing.T) {
		if ddl, got := lookup(t, "postgres", nodb, "stores in Springfeld"); got != nil || ddl != "" {
			t.Fatalf("matches %q, want none", got)
		}
	})
}
