package introspect_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/pgask/pgask/internal/pgtest"
	"github.com/pgask/pgask/introspect"
)

// valuesFixture creates tables whose text columns repeat values, ANALYZEs some of them and
// grants the role part of them.
const valuesFixture = `
CREATE TABLE orders (id int PRIMARY KEY, city text, status varchar(20), secret text, qty int);
INSERT INTO orders SELECT i, (ARRAY['New York', 'São Paulo', 'Berlin'])[i % 3 + 1],
  (ARRAY['paid', 'shipped'])[i % 2 + 1], (ARRAY['alpha-code', 'beta-code'])[i % 2 + 1], i % 4
FROM generate_series(1, 300) i;
CREATE TABLE guarded (id int, owner text);
INSERT INTO guarded SELECT i, (ARRAY['alice', 'bob'])[i % 2 + 1] FROM generate_series(1, 100) i;
ALTER TABLE guarded ENABLE ROW LEVEL SECURITY;
CREATE POLICY mine ON guarded USING (owner = current_user);
CREATE TABLE fresh (id int, kind text) WITH (autovacuum_enabled = false);
INSERT INTO fresh SELECT i, (ARRAY['red', 'green'])[i % 2 + 1] FROM generate_series(1, 100) i;
ANALYZE orders;
ANALYZE guarded;
`

func loadValues(t *testing.T, user string, db string) *introspect.Schema {
	t.Helper()
	c := pgtest.Shared(t)
	s, err := introspect.Load(ctxT(t), introspect.NewPgxQuerier(connect(t, c, user, db)), introspect.Options{Values: true})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestValuesPrivileges checks which columns get values: only analyzed text columns whose
// statistics pg_stats shows the user.
func TestValuesPrivileges(t *testing.T) {
	c := pgtest.Shared(t)
	db := pgtest.NewDatabase(t, c)
	role := newRole(t, c)
	mustExec(t, c, db, valuesFixture+`
GRANT SELECT (id, city, status, qty) ON orders TO `+role+`;
GRANT SELECT ON guarded, fresh TO `+role)

	super := loadValues(t, "postgres", db)
	user := loadValues(t, role, db)
	tests := []struct {
		name             string
		s                *introspect.Schema
		table, column    string
		want             []string // sorted; nil: none
		columnNotVisible bool
	}{
		{name: "text column", s: user, table: "orders", column: "city", want: []string{"Berlin", "New York", "São Paulo"}},
		{name: "varchar column", s: user, table: "orders", column: "status", want: []string{"paid", "shipped"}},
		{name: "integer column has none", s: user, table: "orders", column: "qty"},
		{name: "column the user may not read", s: user, table: "orders", column: "secret", columnNotVisible: true},
		{name: "same column as superuser", s: super, table: "orders", column: "secret", want: []string{"alpha-code", "beta-code"}},
		{name: "row security hides statistics", s: user, table: "guarded", column: "owner"},
		{name: "superuser bypasses row security", s: super, table: "guarded", column: "owner", want: []string{"alice", "bob"}},
		{name: "no statistics", s: super, table: "fresh", column: "kind"},
		{name: "no statistics for the user", s: user, table: "fresh", column: "kind"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tab := tt.s.Table("public", tt.table)
			if tab == nil {
				t.Fatalf("table %s missing", tt.table)
			}
			col := tab.Column(tt.column)
			if tt.columnNotVisible {
				if col != nil {
					t.Fatalf("column %s.%s visible", tt.table, tt.column)
				}
				return
			}
			if col == nil {
				t.Fatalf("column %s.%s missing", tt.table, tt.column)
			}
			got := slices.Sorted(slices.Values(col.Values))
			if !slices.Equal(got, tt.want) {
				t.Errorf("values = %q, want %q", got, tt.want)
			}
		})
	}
	ddl := introspect.RenderQuestion(user, "orders with code alpha-code of alice")
	for _, hidden := range []string{"alpha", "alice"} {
		if strings.Contains(ddl, hidden) {
			t.Errorf("the user's prompt schema holds %q, a value the user may not read:\n%s", hidden, ddl)
		}
	}
	if !strings.Contains(ddl, "city text, --example: ") {
		t.Errorf("no examples on orders.city:\n%s", ddl)
	}
}

// TestMatchValues matches questions against the values of an analyzed table.
func TestMatchValues(t *testing.T) {
	c := pgtest.Shared(t)
	db := pgtest.NewDatabase(t, c)
	mustExec(t, c, db, valuesFixture+`
CREATE TYPE mood AS ENUM ('happy', 'grumpy');
CREATE TABLE people (id int, mood mood);`)
	s := loadValues(t, "postgres", db)
	tests := []struct {
		question string
		want     []string // table.column = value (distance)
	}{
		{"orders from new york", []string{"orders.city = New York (0)"}},
		{"How many orders were shipped to SAO PAULO?", []string{"orders.city = São Paulo (0)", "orders.status = shipped (0)"}},
		{"orders to berln", []string{"orders.city = Berlin (1)"}},
		{"orders with status 'Paid'", []string{"orders.status = paid (0)"}},
		{"orders with code alpha code", []string{"orders.secret = alpha-code (0)"}},
		{"orders with code alphacode", []string{"orders.secret = alpha-code (0)"}},
		{"who is grumpy", []string{"people.mood = grumpy (0)"}},
		{"orders from york", nil},
		{"orders of the new", nil},
		{"red things", nil}, // fresh has no statistics
	}
	for _, tt := range tests {
		t.Run(tt.question, func(t *testing.T) {
			var got []string
			for _, m := range introspect.MatchValues(s, tt.question) {
				got = append(got, m.Table.Name+"."+m.Column+" = "+m.Value+" ("+string(rune('0'+m.Distance))+")")
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("MatchValues = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestCacheLoadsValuesAfterFirstAnalyze: with Values, a table's first ANALYZE reloads the
// schema (its values appear); a later one does not.
func TestCacheLoadsValuesAfterFirstAnalyze(t *testing.T) {
	c := pgtest.Shared(t)
	db := pgtest.NewDatabase(t, c)
	mustExec(t, c, db, `CREATE TABLE t (id int, kind text) WITH (autovacuum_enabled = false);
INSERT INTO t SELECT i, (ARRAY['red', 'green'])[i % 2 + 1] FROM generate_series(1, 100) i`)
	q := introspect.NewPgxQuerier(connect(t, c, "postgres", db))
	cache := introspect.NewCache(introspect.CacheOptions{Load: introspect.Options{Values: true}})
	key := introspect.Key{Upstream: c.Addr(), Database: db, User: "postgres"}
	kinds := func() []string {
		t.Helper()
		s, _, err := cache.Get(ctxT(t), q, key)
		if err != nil {
			t.Fatal(err)
		}
		return slices.Sorted(slices.Values(s.Table("public", "t").Column("kind").Values))
	}
	if got := kinds(); got != nil {
		t.Fatalf("values before ANALYZE = %q", got)
	}
	mustExec(t, c, db, "ANALYZE t")
	if got := kinds(); !slices.Equal(got, []string{"green", "red"}) {
		t.Fatalf("values after ANALYZE = %q", got)
	}
	misses := cache.Stats().Misses
	mustExec(t, c, db, "UPDATE t SET kind = 'blue' WHERE id < 90; ANALYZE t")
	if got := kinds(); !slices.Equal(got, []string{"green", "red"}) || cache.Stats().Misses != misses {
		t.Errorf("after a second ANALYZE: values %q, misses %d → %d; want the cached schema", got, misses, cache.Stats().Misses)
	}
}
