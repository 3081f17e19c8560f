package introspect_test

import (
	"maps"
	"slices"
	"testing"

	"github.com/pgask/pgask/internal/pgtest"
	"github.com/pgask/pgask/introspect"
)

func tableNames(s *introspect.Schema) []string {
	var names []string
	for _, t := range s.Tables {
		names = append(names, t.Schema+"."+t.Name)
	}
	return names
}

func columnNames(t *introspect.Table) []string {
	var names []string
	for _, c := range t.Columns {
		names = append(names, c.Name)
	}
	return names
}

func TestPrivileges(t *testing.T) {
	c := pgtest.Shared(t)
	db := pgtest.NewDatabase(t, c)
	role := newRole(t, c)
	mustExec(t, c, db, `
CREATE TABLE secret (id int PRIMARY KEY, x text);
CREATE TABLE open (id int PRIMARY KEY, secret_id int REFERENCES secret, note text);
CREATE TABLE partial (id int PRIMARY KEY, name text, salary numeric, UNIQUE (name, salary));
CREATE TABLE child (id int, partial_id int REFERENCES partial);
CREATE VIEW open_v AS SELECT id, note FROM open;
CREATE VIEW secret_v AS SELECT id FROM secret;
CREATE SCHEMA locked;
CREATE TABLE locked.t (a int);
GRANT SELECT ON open, open_v, child, locked.t TO `+role+`;
GRANT SELECT (id, name) ON partial TO `+role+`;
REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO `+role+`;`)

	super := connect(t, c, "postgres", db)
	user := connect(t, c, role, db)
	opts := introspect.Options{Schemas: []string{"public", "locked"}}

	all, err := introspect.Load(ctxT(t), introspect.NewPgxQuerier(super), opts)
	if err != nil {
		t.Fatal(err)
	}
	wantAll := []string{"public.child", "public.open", "public.open_v", "public.partial", "public.secret", "public.secret_v", "locked.t"}
	if got := tableNames(all); !slices.Equal(got, wantAll) {
		t.Errorf("superuser tables = %v, want %v", got, wantAll)
	}

	s, err := introspect.Load(ctxT(t), introspect.NewPgxQuerier(user), opts)
	if err != nil {
		t.Fatal(err)
	}
	// secret and secret_v: no privilege; locked.t: SELECT but no USAGE on the schema.
	want := []string{"public.child", "public.open", "public.open_v", "public.partial"}
	if got := tableNames(s); !slices.Equal(got, want) {
		t.Fatalf("user tables = %v, want %v", got, want)
	}
	partial := s.Table("public", "partial")
	if got := columnNames(partial); !slices.Equal(got, []string{"id", "name"}) {
		t.Errorf("partial columns = %v, want the granted id, name", got)
	}
	if !slices.Equal(partial.PrimaryKey, []string{"id"}) {
		t.Errorf("partial primary key = %v, want [id]", partial.PrimaryKey)
	}
	if len(partial.Uniques) != 0 {
		t.Errorf("partial uniques = %v, want none (salary is not visible)", partial.Uniques)
	}
	if fks := s.Table("public", "open").ForeignKeys; len(fks) != 0 {
		t.Errorf("open foreign keys = %v, want none (secret is not visible)", fks)
	}
	if fks := s.Table("public", "child").ForeignKeys; len(fks) != 1 || fks[0].RefTable != "partial" {
		t.Errorf("child foreign keys = %v, want one to partial", fks)
	}
	for _, name := range []string{"secret", "salary"} {
		if r := introspect.Render(s); containsWord(r, name) {
			t.Errorf("rendered schema mentions %q:\n%s", name, r)
		}
	}
}

func containsWord(text, w string) bool {
	for _, f := range splitWords(text) {
		if f == w {
			return true
		}
	}
	return false
}

func splitWords(s string) []string {
	var out []string
	start := -1
	for i := 0; i <= len(s); i++ {
		isW := i < len(s) && (s[i] == '_' || s[i] >= 'a' && s[i] <= 'z' || s[i] >= '0' && s[i] <= '9')
		if isW && start < 0 {
			start = i
		} else if !isW && start >= 0 {
			out = append(out, s[start:i])
			start = -1
		}
	}
	return out
}

func TestEmptyDatabase(t *testing.T) {
	c := pgtest.Shared(t)
	db := pgtest.NewDatabase(t, c)
	conn := connect(t, c, "postgres", db)
	s, err := introspect.Load(ctxT(t), introspect.NewPgxQuerier(conn), introspect.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Tables) != 0 {
		t.Errorf("tables = %v, want none", tableNames(s))
	}
	if r := introspect.Render(s); r != "" {
		t.Errorf("Render(empty) = %q, want empty", r)
	}
}

// TestNoTablesOnSearchPath: a database whose tables all live off the search_path (defog's
// ewallet keeps them in consumer_div) is read from every schema the user may use, qualified;
// once the search_path shows a table, only the search_path is read.
func TestNoTablesOnSearchPath(t *testing.T) {
	c := pgtest.Shared(t)
	db := pgtest.NewDatabase(t, c)
	role := newRole(t, c)
	mustExec(t, c, db, `CREATE SCHEMA shop; CREATE SCHEMA hidden;
CREATE TABLE shop.orders (id int); CREATE TABLE shop.items (id int); CREATE TABLE hidden.h (x int);
GRANT USAGE ON SCHEMA shop TO `+role+`; GRANT SELECT ON ALL TABLES IN SCHEMA shop TO `+role+`;
GRANT SELECT ON hidden.h TO `+role+`;`)
	conn := connect(t, c, role, db)
	q := introspect.NewPgxQuerier(conn)
	s, err := introspect.Load(ctxT(t), q, introspect.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// hidden: no USAGE for the role.
	if got, want := tableNames(s), []string{"shop.items", "shop.orders"}; !slices.Equal(got, want) {
		t.Fatalf("tables with none on the search_path = %v, want %v", got, want)
	}
	if s.Tables[0].RefName() != "shop.items" {
		t.Errorf("RefName = %q, want shop.items (off the search_path)", s.Tables[0].RefName())
	}
	mustExec(t, c, db, `CREATE TABLE public.p (y int); GRANT SELECT ON public.p TO `+role+`;`)
	s, err = introspect.Load(ctxT(t), q, introspect.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := tableNames(s), []string{"public.p"}; !slices.Equal(got, want) {
		t.Errorf("tables with one on the search_path = %v, want %v", got, want)
	}
}

func TestSearchPathVisibility(t *testing.T) {
	c := pgtest.Shared(t)
	db := pgtest.NewDatabase(t, c)
	mustExec(t, c, db, `CREATE SCHEMA a; CREATE SCHEMA b;
CREATE TABLE a.t (x int); CREATE TABLE b.t (y int); CREATE TABLE b.u (z int);`)
	conn := connect(t, c, "postgres", db)
	q := introspect.NewPgxQuerier(conn)

	if _, err := conn.Exec(ctxT(t), "SET search_path = b, a"); err != nil {
		t.Fatal(err)
	}
	s, err := introspect.Load(ctxT(t), q, introspect.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := tableNames(s), []string{"b.t", "b.u", "a.t"}; !slices.Equal(got, want) {
		t.Fatalf("tables on search_path b, a = %v, want %v (path order)", got, want)
	}
	refs := map[string]string{}
	for i := range s.Tables {
		refs[s.Tables[i].Schema+"."+s.Tables[i].Name] = s.Tables[i].RefName()
	}
	want := map[string]string{"b.t": "t", "b.u": "u", "a.t": "a.t"}
	if !maps.Equal(refs, want) {
		t.Errorf("reference names = %v, want %v (a.t is shadowed by b.t)", refs, want)
	}

	// An explicit schema list reads schemas off the path; their tables are referenced qualified.
	s, err = introspect.Load(ctxT(t), q, introspect.Options{Schemas: []string{"public", "a", "nosuch"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := tableNames(s); !slices.Equal(got, []string{"a.t"}) {
		t.Errorf("tables in [public a nosuch] = %v, want [a.t]", got)
	}
	if s.Tables[0].RefName() != "a.t" {
		t.Errorf("RefName = %q, want a.t", s.Tables[0].RefName())
	}
}
