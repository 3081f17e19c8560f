package introspect_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/pgask/pgask/internal/pgtest"
	"github.com/pgask/pgask/introspect"
)

// TestCacheSeesChanges runs each change on the superuser's connection and checks that the
// next Get on the user's session reloads (or, for changes that do not matter, does not).
func TestCacheSeesChanges(t *testing.T) {
	c := pgtest.Shared(t)
	db := pgtest.NewDatabase(t, c)
	role := newRole(t, c)
	mustExec(t, c, db, `CREATE TABLE a (id int PRIMARY KEY, x text);
CREATE TABLE b (id int, a_id int);
CREATE TABLE hidden (id int);
CREATE TYPE color AS ENUM ('red');
CREATE TABLE painted (id int, c color);
GRANT SELECT ON a, b, painted TO `+role)
	q := introspect.NewPgxQuerier(connect(t, c, role, db))
	other := connect(t, c, role, db)
	cache := introspect.NewCache(introspect.CacheOptions{})
	key := introspect.Key{Upstream: c.Addr(), Database: db, User: role}

	prev, prevFP, err := cache.Get(ctxT(t), q, key)
	if err != nil {
		t.Fatal(err)
	}
	if got := tableNames(prev); !slices.Equal(got, []string{"public.a", "public.b", "public.painted"}) {
		t.Fatalf("initial tables = %v", got)
	}

	steps := []struct {
		name   string
		sql    string // run by the superuser
		other  string // run on another session of the user instead
		reload bool
		check  func(*introspect.Schema) bool
	}{
		{name: "no change", reload: false, check: func(s *introspect.Schema) bool { return len(s.Tables) == 3 }},
		{name: "analyze", sql: "VACUUM ANALYZE a", reload: false},
		{name: "temp table elsewhere", other: "CREATE TEMP TABLE scratch (q int)", reload: false},
		{name: "add column", sql: "ALTER TABLE a ADD COLUMN y date", reload: true,
			check: func(s *introspect.Schema) bool { return s.Table("public", "a").Column("y") != nil }},
		{name: "rename column", sql: "ALTER TABLE a RENAME COLUMN x TO xx", reload: true,
			check: func(s *introspect.Schema) bool { return s.Table("public", "a").Column("xx") != nil }},
		{name: "drop column", sql: "ALTER TABLE a DROP COLUMN xx", reload: true,
			check: func(s *introspect.Schema) bool { return s.Table("public", "a").Column("xx") == nil }},
		{name: "column type", sql: "ALTER TABLE a ALTER COLUMN y TYPE timestamp", reload: true,
			check: func(s *introspect.Schema) bool {
				return s.Table("public", "a").Column("y").Type == "timestamp without time zone"
			}},
		{name: "comment", sql: "COMMENT ON COLUMN b.a_id IS 'the a'", reload: true,
			check: func(s *introspect.Schema) bool { return s.Table("public", "b").Column("a_id").Comment == "the a" }},
		{name: "foreign key", sql: "ALTER TABLE b ADD FOREIGN KEY (a_id) REFERENCES a", reload: true,
			check: func(s *introspect.Schema) bool { return len(s.Table("public", "b").ForeignKeys) == 1 }},
		{name: "enum value", sql: "ALTER TYPE color ADD VALUE 'blue'", reload: true,
			check: func(s *introspect.Schema) bool {
				return slices.Equal(s.Table("public", "painted").Column("c").Enum, []string{"red", "blue"})
			}},
		{name: "grant", sql: "GRANT SELECT ON hidden TO " + role, reload: true,
			check: func(s *introspect.Schema) bool { return s.Table("public", "hidden") != nil }},
		{name: "revoke", sql: "REVOKE SELECT ON hidden FROM " + role, reload: true,
			check: func(s *introspect.Schema) bool { return s.Table("public", "hidden") == nil }},
		{name: "create table", sql: "CREATE TABLE d (id int); GRANT SELECT ON d TO " + role, reload: true,
			check: func(s *introspect.Schema) bool { return s.Table("public", "d") != nil }},
		{name: "drop table", sql: "DROP TABLE b", reload: true,
			check: func(s *introspect.Schema) bool { return s.Table("public", "b") == nil }},
		{name: "drop and create in one transaction", sql: "BEGIN; DROP TABLE d; CREATE TABLE d (other int); GRANT SELECT ON d TO " + role + "; COMMIT", reload: true,
			check: func(s *introspect.Schema) bool { return s.Table("public", "d").Column("other") != nil }},
	}
	for _, st := range steps {
		if st.sql != "" {
			mustExec(t, c, db, st.sql)
		}
		if st.other != "" {
			if _, err := other.Exec(ctxT(t), st.other); err != nil {
				t.Fatalf("%s: %v", st.name, err)
			}
		}
		before := cache.Stats()
		s, fp, err := cache.Get(ctxT(t), q, key)
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		after := cache.Stats()
		reloaded := after.Misses > before.Misses
		if reloaded != st.reload {
			t.Errorf("%s: reloaded = %v, want %v", st.name, reloaded, st.reload)
		}
		if st.reload == (fp == prevFP) {
			t.Errorf("%s: fingerprint changed = %v, want %v", st.name, fp != prevFP, st.reload)
		}
		if !st.reload && s != prev {
			t.Errorf("%s: a hit returned a different *Schema", st.name)
		}
		if st.check != nil && !st.check(s) {
			t.Errorf("%s: schema does not show the change:\n%s", st.name, introspect.Render(s))
		}
		prev, prevFP = s, fp
	}
}

// TestCacheKeysBySearchPath checks that a session that changes its search_path gets the
// schema of its new path, and that the two paths are cached side by side.
func TestCacheKeysBySearchPath(t *testing.T) {
	c := pgtest.Shared(t)
	db := pgtest.NewDatabase(t, c)
	mustExec(t, c, db, "CREATE SCHEMA s1; CREATE SCHEMA s2; CREATE TABLE s1.one (a int); CREATE TABLE s2.two (b int)")
	conn := connect(t, c, "postgres", db)
	q := introspect.NewPgxQuerier(conn)
	cache := introspect.NewCache(introspect.CacheOptions{})
	key := introspect.Key{Upstream: c.Addr(), Database: db, User: "postgres"}
	for i, path := range []string{"s1", "s2", "s1", "s2"} {
		if _, err := conn.Exec(ctxT(t), "SET search_path = "+path); err != nil {
			t.Fatal(err)
		}
		s, _, err := cache.Get(ctxT(t), q, key)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{"s1": "s1.one", "s2": "s2.two"}[path]
		if got := tableNames(s); !slices.Equal(got, []string{want}) {
			t.Errorf("search_path %s: tables %v, want [%s]", path, got, want)
		}
		if st := cache.Stats(); i >= 2 && st.Misses != 2 {
			t.Errorf("after %d gets: %d misses, want 2 (one per path)", i+1, st.Misses)
		}
	}
}

// TestCachePruner checks that the Pruner of a cached schema is built once and prunes like
// Prune, and that a reload drops it.
func TestCachePruner(t *testing.T) {
	c := pgtest.Shared(t)
	db := pgtest.NewDatabase(t, c)
	mustExec(t, c, db, `CREATE TABLE customers (id int PRIMARY KEY, country text, name text, email text, phone text);
CREATE TABLE orders (id int PRIMARY KEY, customer_id int REFERENCES customers, total numeric, placed date);
CREATE TABLE sensors (id int, reading double precision, volts double precision, amps double precision)`)
	q := introspect.NewPgxQuerier(connect(t, c, "postgres", db))
	cache := introspect.NewCache(introspect.CacheOptions{MaxEntries: 1})
	key := introspect.Key{Database: db, User: "postgres"}
	s, _, err := cache.Get(ctxT(t), q, key)
	if err != nil {
		t.Fatal(err)
	}
	p1, p2 := cache.Pruner(s), cache.Pruner(s)
	if p1 != p2 {
		t.Error("Pruner built twice for one cached schema")
	}
	const question, budget = "order totals per customer country", 60
	if a, b := introspect.Render(p1.Prune(question, budget)), introspect.Render(introspect.Prune(s, question, budget)); a != b {
		t.Errorf("Pruner.Prune and Prune differ:\n%s\n---\n%s", a, b)
	}
	mustExec(t, c, db, "ALTER TABLE orders ADD COLUMN note text")
	s2, _, err := cache.Get(ctxT(t), q, key)
	if err != nil {
		t.Fatal(err)
	}
	if s2 == s || cache.Pruner(s2) == p1 {
		t.Error("after DDL the cache kept the old schema or its Pruner")
	}
	if cache.Pruner(s) == p1 {
		t.Error("the replaced schema's Pruner is still cached")
	}
}

// TestCacheConcurrent runs Get and Pruner from several sessions at once (run with -race).
func TestCacheConcurrent(t *testing.T) {
	c := pgtest.Shared(t)
	db := pgtest.NewDatabase(t, c)
	mustExec(t, c, db, "CREATE TABLE a (id int PRIMARY KEY, x text); CREATE TABLE b (id int, a_id int REFERENCES a)")
	cache := introspect.NewCache(introspect.CacheOptions{MaxEntries: 2})
	const sessions = 4
	errs := make(chan error, sessions)
	for i := 0; i < sessions; i++ {
		q := introspect.NewPgxQuerier(connect(t, c, "postgres", db))
		key := introspect.Key{Database: db, User: "postgres", SearchPath: fmt.Sprint(i % 3)}
		go func() {
			for j := 0; j < 10; j++ {
				s, _, err := cache.Get(ctxT(t), q, key)
				if err != nil {
					errs <- err
					return
				}
				if len(s.Tables) != 2 {
					errs <- fmt.Errorf("got %d tables", len(s.Tables))
					return
				}
				_ = cache.Pruner(s).Prune("x of a", 20)
			}
			errs <- nil
		}()
	}
	for i := 0; i < sessions; i++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if st := cache.Stats(); st.Hits+st.Misses != sessions*10 {
		t.Errorf("stats %+v, want %d gets", st, sessions*10)
	}
}
