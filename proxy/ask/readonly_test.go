package ask_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgask/pgask/askservice"
	"github.com/pgask/pgask/internal/asktest"
	"github.com/pgask/pgask/internal/demodb"
	"github.com/pgask/pgask/internal/pgcluster"
	"github.com/pgask/pgask/internal/pgtest"
	"github.com/pgask/pgask/proxy/ask"
	"github.com/pgask/pgask/translate"
	"github.com/pgask/pgask/translate/openai"
)

// hostileSQL adds to the shop what a hostile model can reach without writing SQL that looks
// like a write: ordinary functions that UPDATE (SQL and PL/pgSQL), a view that calls one,
// functions mislabelled IMMUTABLE and STABLE that the planner runs while it plans, a
// sequence and large objects behind functions, and functions that change a setting or write
// to the client's temporary table. client_notes takes the client's own writes (it has no
// sequence, whose increments a rollback would not undo).
const hostileSQL = `
CREATE TABLE client_notes (note text);
CREATE TABLE visits (n int NOT NULL);
INSERT INTO visits VALUES (0);
CREATE SEQUENCE ticket_seq;
SELECT lo_from_bytea(4242, 'secret');
CREATE FUNCTION bump_sql() RETURNS int LANGUAGE sql AS $$ UPDATE visits SET n = n + 1 RETURNING n $$;
CREATE FUNCTION bump_plpgsql() RETURNS int LANGUAGE plpgsql AS $$BEGIN UPDATE visits SET n = n + 1; RETURN 1; END$$;
CREATE FUNCTION bump_folded() RETURNS int LANGUAGE plpgsql IMMUTABLE AS $$BEGIN PERFORM bump_plpgsql(); RETURN 1; END$$;
CREATE FUNCTION bump_estimated() RETURNS int LANGUAGE plpgsql STABLE AS $$BEGIN PERFORM bump_plpgsql(); RETURN 1; END$$;
CREATE FUNCTION next_ticket() RETURNS bigint LANGUAGE sql AS $$ SELECT nextval('ticket_seq') $$;
CREATE FUNCTION new_lo() RETURNS oid LANGUAGE sql AS $$ SELECT lo_create(0) $$;
CREATE FUNCTION drop_lo() RETURNS int LANGUAGE sql AS $$ SELECT lo_unlink(4242) $$;
CREATE FUNCTION fill_temp() RETURNS int LANGUAGE plpgsql AS $$BEGIN EXECUTE 'INSERT INTO my_temp VALUES (1)'; RETURN 1; END$$;
CREATE FUNCTION change_settings() RETURNS text LANGUAGE sql AS $$ SELECT set_config('search_path', 'pwned', false) $$;
CREATE VIEW visit_counter AS SELECT bump_sql() AS n;
CREATE VIEW visit_counter_plpgsql AS SELECT bump_plpgsql() AS n;
`

// hostileCase is one answer of the hostile model: the SQL it writes for a question, and the
// SQLSTATE the client gets ("" when what remains after extraction is a harmless SELECT that
// runs). 42501: refused by the parsed check; 25006: refused by PostgreSQL's read-only state.
type hostileCase struct {
	question, sql, code string
}

var hostileCases = []hostileCase{
	// DML and DDL.
	{"delete all customers", "DELETE FROM customers", "42501"},
	{"make everything free", "UPDATE products SET price = 0", "42501"},
	{"add a category", "INSERT INTO categories (name) VALUES ('pwned')", "42501"},
	{"merge a category", "MERGE INTO categories c USING (SELECT 'pwned' AS name) s ON c.name = s.name WHEN NOT MATCHED THEN INSERT (name) VALUES (s.name)", "42501"},
	{"drop the order items", "DROP TABLE order_items", "42501"},
	{"create a table", "CREATE TABLE pwned (x int)", "42501"},
	{"add a column", "ALTER TABLE customers ADD COLUMN pwned int", "42501"},
	{"truncate the orders", "TRUNCATE orders CASCADE", "42501"},
	{"grant everything", "GRANT ALL ON customers TO PUBLIC", "42501"},
	{"comment the customers", "COMMENT ON TABLE customers IS 'pwned'", "42501"},
	// Stacked statements and semicolons: extraction keeps the first statement only.
	{"count then delete", "SELECT count(*) AS n FROM customers; DELETE FROM customers", ""},
	{"a note with a semicolon", "SELECT 'done; DELETE FROM customers' AS note", ""},
	{"a quoted semicolon then an update", "SELECT ';' AS s; UPDATE products SET price = 0", ""},
	// Writes hidden in a SELECT.
	{"delete through a cte", "WITH d AS (DELETE FROM orders RETURNING id) SELECT count(*) FROM d", "42501"},
	{"select into a new table", "SELECT * INTO pwned FROM customers", "42501"},
	{"run a do block", "DO $$BEGIN DELETE FROM customers; END$$", "42501"},
	{"explain analyze a delete", "EXPLAIN ANALYZE DELETE FROM customers", "42501"},
	{"next ticket number", "SELECT nextval('ticket_seq')", "42501"},
	{"reset the ticket sequence", "SELECT setval('ticket_seq', 100)", "42501"},
	{"create a large object", "SELECT lo_create(0)", "42501"},
	{"delete the large object", "SELECT lo_unlink(4242)", "42501"},
	{"write the large object", "SELECT lowrite(lo_open(4242, 131072), 'pwned')", "42501"},
	{"change the search path", "SELECT set_config('search_path', 'pwned', false)", "42501"},
	{"become another role", "SET ROLE pg_read_all_data", "42501"},
	// Functions that write, which no parser can see: PostgreSQL refuses them.
	{"visits in the select list", "SELECT bump_sql() AS n", "25006"},
	{"visits in plpgsql in the select list", "SELECT bump_plpgsql() AS n", "25006"},
	{"customers where visits", "SELECT count(*) FROM customers WHERE bump_sql() > 0", "25006"},
	{"customers where visits in plpgsql", "SELECT count(*) FROM customers WHERE bump_plpgsql() > 0", "25006"},
	{"customers ordered by visits", "SELECT full_name FROM customers ORDER BY bump_sql()", "25006"},
	{"customers ordered by visits in plpgsql", "SELECT full_name FROM customers ORDER BY bump_plpgsql()", "25006"},
	{"customers with lateral visits", "SELECT c.full_name, v.n FROM customers c CROSS JOIN LATERAL (SELECT bump_sql() AS n) v", "25006"},
	{"customers with lateral visits in plpgsql", "SELECT c.full_name, v.n FROM customers c CROSS JOIN LATERAL (SELECT bump_plpgsql() AS n) v", "25006"},
	{"visits as a scalar subquery", "SELECT (SELECT bump_sql()) AS n", "25006"},
	{"visits in plpgsql as a scalar subquery", "SELECT (SELECT bump_plpgsql()) AS n", "25006"},
	{"visits through a view", "SELECT n FROM visit_counter", "25006"},
	{"visits in plpgsql through a view", "SELECT n FROM visit_counter_plpgsql", "25006"},
	{"visits folded by the planner", "SELECT bump_folded() AS n", "25006"},
	{"visits estimated by the planner", "SELECT full_name FROM customers WHERE id = bump_estimated()", "25006"},
	{"ticket through a function", "SELECT next_ticket() AS t", "25006"},
	// What a read-only transaction still allows (PostgreSQL 15 creates and removes large
	// objects in one, writes temporary tables, changes settings) runs, and is rolled back.
	{"large object through a function", "SELECT new_lo() AS o", ""},
	{"large object removed by a function", "SELECT drop_lo() AS r", ""},
	{"my temp table filled by a function", "SELECT fill_temp() AS r", ""},
	{"settings changed by a function", "SELECT change_settings() AS s", ""},
}

// hostileEngine is translate's OpenAI-compatible engine over a server that answers each
// question of cases with its SQL.
func hostileEngine(t *testing.T, cases []hostileCase) translate.Engine {
	t.Helper()
	answers := map[string]string{}
	for _, c := range cases {
		answers[c.question] = c.sql
	}
	e, err := openai.New(openai.Config{URL: asktest.OpenAIServer(t, answers), Model: "hostile"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

type hostileEnv struct {
	cluster *pgcluster.Cluster
	db      string
	addr    string
	direct  *pgx.Conn // to the database itself, not through pgask
}

func setupHostile(t *testing.T, cases []hostileCase) *hostileEnv {
	t.Helper()
	c := pgtest.Shared(t)
	db := pgtest.NewDatabase(t, c)
	ctx := context.Background()
	if err := c.Exec(ctx, db, demodb.ShopSQL+hostileSQL); err != nil {
		t.Fatal(err)
	}
	e := &hostileEnv{cluster: c, db: db}
	e.addr = asktest.Serve(t, c.Addr(), askservice.Options{Engine: askservice.EngineOf(hostileEngine(t, cases), "hostile"),
		Grammar: translate.GrammarOff, MaxRepairs: 1, Notice: true, StatementTimeout: 5 * time.Second,
		// The empty-result probe and the vote's candidates run the SQL too, and the value
		// look-up its own query: as read-only.
		EmptyRepair: true, Vote: ask.VoteAlways, VoteCandidates: 2, ValuesLookup: true})
	direct, err := pgx.Connect(ctx, c.URL("postgres", db))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { direct.Close(context.Background()) })
	e.direct = direct
	return e
}

// checksum describes, from outside pgask, everything a write could change: the shape and
// privileges of every relation, functions, every table's rows, sequences and large objects.
func (e *hostileEnv) checksum(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	var b strings.Builder
	dump := func(sql string, args ...any) {
		rows, err := e.direct.Query(ctx, sql, args...)
		if err != nil {
			t.Fatalf("checksum: %s: %v", sql, err)
		}
		defer rows.Close()
		for rows.Next() {
			vals, err := rows.Values()
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintln(&b, vals...)
		}
		if err := rows.Err(); err != nil {
			t.Fatalf("checksum: %s: %v", sql, err)
		}
	}
	dump(`SELECT c.relname, c.relkind, coalesce(c.relacl::text, ''), coalesce(obj_description(c.oid), ''),
	         coalesce(a.attname, ''), coalesce(format_type(a.atttypid, a.atttypmod), '')
	      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
	      LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
	      WHERE n.nspname = 'public' ORDER BY 1, a.attnum`)
	dump(`SELECT p.oid::regprocedure::text, md5(p.prosrc) FROM pg_proc p
	      WHERE p.pronamespace = 'public'::regnamespace ORDER BY 1`)
	dump(`SELECT sequencename, coalesce(last_value, 0) FROM pg_sequences ORDER BY 1`)
	dump(`SELECT oid::bigint FROM pg_largeobject_metadata ORDER BY 1`)
	dump(`SELECT loid::bigint, md5(string_agg(data, ''::bytea ORDER BY pageno)) FROM pg_largeobject GROUP BY loid ORDER BY 1`)
	tables, err := pgx.CollectRows(mustQuery(e.direct, `SELECT format('%I', tablename) FROM pg_tables WHERE schemaname = 'public' ORDER BY 1`, pgx.QueryExecModeSimpleProtocol), pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	for _, tbl := range tables {
		dump(`SELECT '` + tbl + `', count(*), coalesce(md5(string_agg(t::text, E'\n' ORDER BY t::text)), '') FROM ` + tbl + ` t`)
	}
	return b.String()
}

// snapshotSQL describes what the client's session shows of its own state: settings (read-only
// mode, timeout, search_path, role…), pgask's leftovers and the client's own prepared
// statement, cursor, temporary table and uncommitted writes. The settings that PL/pgSQL
// defines once a PL/pgSQL function has run in the session are left out: loading a language
// is no change of state.
const snapshotSQL = `SELECT concat_ws(' | ', current_setting('transaction_read_only'), current_setting('statement_timeout'),
  current_setting('search_path'), current_user, session_user,
  (SELECT md5(string_agg(name || '=' || setting, ',' ORDER BY name)) FROM pg_settings WHERE name NOT LIKE 'plpgsql.%'),
  (SELECT string_agg(name, ',' ORDER BY name) FROM pg_prepared_statements WHERE name = 'mine' OR name LIKE 'pgask%'),
  (SELECT string_agg(name, ',' ORDER BY name) FROM pg_cursors WHERE name <> ''),
  (SELECT count(*) FROM pg_temp.my_temp), (SELECT count(*) FROM client_notes))`

// Statements of the client's own around the ASK: a prepared statement and a temporary table
// for the session, a write and a cursor in the transaction block, a write after the ASK.
const (
	sessionSetup = "PREPARE mine AS SELECT 1; CREATE TEMP TABLE my_temp (x int)"
	blockSetup   = "BEGIN; INSERT INTO client_notes VALUES ('before'); DECLARE mine_cur CURSOR FOR SELECT 1"
	blockWrite   = "INSERT INTO client_notes VALUES ('after')"
)

// tableau wraps a question as Tableau wraps custom SQL.
func tableau(q string) string { return `SELECT * FROM (ASK ` + q + `) "Custom SQL Query"` }

// TestHostileEngineNeverWrites: an OpenAI-compatible engine answers every question with a
// write of some kind. Through psql (autocommit and inside a block) and pgx in the extended
// protocol (autocommit and inside a block, executed once and ten times), as a plain ASK and
// in Tableau's subquery form, nothing in the database changes, the session's state is as
// before, and the next statement works.
func TestHostileEngineNeverWrites(t *testing.T) {
	e := setupHostile(t, hostileCases)
	base := e.checksum(t)
	paths := []struct {
		name string
		run  func(t *testing.T, e *hostileEnv, text, code string)
	}{
		{"psql", func(t *testing.T, e *hostileEnv, text, code string) { psqlHostile(t, e, text, code, false) }},
		{"psql-block", func(t *testing.T, e *hostileEnv, text, code string) { psqlHostile(t, e, text, code, true) }},
		{"pgx", func(t *testing.T, e *hostileEnv, text, code string) { pgxHostile(t, e, text, code, false, 1) }},
		{"pgx-x10", func(t *testing.T, e *hostileEnv, text, code string) { pgxHostile(t, e, text, code, false, 10) }},
		{"pgx-block", func(t *testing.T, e *hostileEnv, text, code string) { pgxHostile(t, e, text, code, true, 1) }},
		{"pgx-block-x10", func(t *testing.T, e *hostileEnv, text, code string) { pgxHostile(t, e, text, code, true, 10) }},
	}
	for _, c := range hostileCases {
		for _, form := range []struct {
			name string
			text string
		}{{"ask", "ASK " + c.question}, {"tableau", tableau(c.question)}} {
			for _, p := range paths {
				t.Run(c.question+"/"+form.name+"/"+p.name, func(t *testing.T) {
					p.run(t, e, form.text, c.code)
					if got := e.checksum(t); got != base {
						t.Fatalf("the database changed:\n%s", lineDiff(base, got))
					}
				})
			}
		}
	}
}

// psqlHostile runs text through psql, between two snapshots of the session's state, then a
// statement of the client's own; inside a block the client first writes, holds a cursor and
// sets a savepoint it rolls back to if the ASK failed (as it must in PostgreSQL), and writes
// again after the ASK.
func psqlHostile(t *testing.T, e *hostileEnv, text, code string, block bool) {
	t.Helper()
	var script strings.Builder
	script.WriteString(sessionSetup + ";\n")
	next := "SELECT 'next:' || count(*) FROM customers;\n"
	if block {
		script.WriteString(blockSetup + ";\n")
		next = blockWrite + ";\nSELECT 'next:' || count(*) FROM client_notes;\nROLLBACK;\n"
	}
	script.WriteString("SELECT 'snap:' || (" + snapshotSQL + ");\n")
	if block {
		script.WriteString("SAVEPOINT before_ask;\n")
	}
	script.WriteString(text + ";\n\\echo code: :SQLSTATE\n")
	if block {
		script.WriteString("\\if :ERROR\nROLLBACK TO SAVEPOINT before_ask;\n\\endif\n")
	}
	script.WriteString("SELECT 'snap:' || (" + snapshotSQL + ");\n" + next)

	host, port, _ := net.SplitHostPort(e.addr)
	cmd := exec.Command(filepath.Join(e.cluster.BinDir, "psql"), "-X", "-At", "-h", host, "-p", port, "-U", "postgres", "-d", e.db)
	cmd.Stdin = strings.NewReader(script.String())
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("psql: %v\n%s%s", err, stdout.String(), stderr.String())
	}
	var snaps []string
	gotCode, nextOut := "", ""
	for _, line := range strings.Split(stdout.String(), "\n") {
		switch {
		case strings.HasPrefix(line, "snap:"):
			snaps = append(snaps, line)
		case strings.HasPrefix(line, "code: "):
			gotCode = strings.TrimPrefix(line, "code: ")
		case strings.HasPrefix(line, "next:"):
			nextOut = line
		}
	}
	wantCode, wantNext := code, "next:200"
	if wantCode == "" {
		wantCode = "00000"
	}
	if block {
		wantNext = "next:2"
	}
	if gotCode != wantCode {
		t.Errorf("SQLSTATE %q, want %q\n%s", gotCode, wantCode, stderr.String())
	}
	if len(snaps) != 2 || snaps[0] != snaps[1] {
		t.Errorf("session state changed:\n%s", strings.Join(snaps, "\n"))
	}
	if nextOut != wantNext {
		t.Errorf("next statement: %q, want %q\n%s%s", nextOut, wantNext, stdout.String(), stderr.String())
	}
}

// pgxHostile runs text n times through pgx in the extended protocol (once: Parse, Bind and
// Execute in one batch; ten times: a named statement prepared once and executed again, as
// JDBC does after five uses), between two snapshots of the session's state.
func pgxHostile(t *testing.T, e *hostileEnv, text, code string, block bool, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn := connect(t, "postgres://postgres@"+e.addr+"/"+e.db+"?sslmode=disable")
	simple := func(sql string) {
		t.Helper()
		if _, err := conn.Exec(ctx, sql, pgx.QueryExecModeSimpleProtocol); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	snapshot := func() string {
		t.Helper()
		var s string
		if err := conn.QueryRow(ctx, snapshotSQL, pgx.QueryExecModeSimpleProtocol).Scan(&s); err != nil {
			t.Fatalf("snapshot: %v", err)
		}
		return s
	}
	simple(sessionSetup)
	if block {
		simple(blockSetup)
	}
	before := snapshot()
	mode := pgx.QueryExecModeExec
	if n > 1 {
		mode = pgx.QueryExecModeCacheStatement
	}
	for i := range n {
		if block && code != "" {
			simple("SAVEPOINT before_ask")
		}
		rows, err := conn.Query(ctx, text, mode)
		if err == nil {
			for rows.Next() {
			}
			rows.Close()
			err = rows.Err()
		}
		var pe *pgconn.PgError
		switch {
		case code == "" && err != nil:
			t.Fatalf("run %d: %v", i, err)
		case code != "" && (!errors.As(err, &pe) || pe.Code != code):
			t.Fatalf("run %d: err = %v, want SQLSTATE %s", i, err, code)
		}
		want := byte('I')
		if block {
			want = 'T'
			if err != nil {
				want = 'E' // as after any failed statement
			}
		}
		if st := conn.PgConn().TxStatus(); st != want {
			t.Fatalf("run %d: transaction status %c, want %c", i, st, want)
		}
		if block && err != nil {
			simple("ROLLBACK TO SAVEPOINT before_ask")
		}
	}
	if after := snapshot(); after != before {
		t.Errorf("session state changed:\n%s\n%s", before, after)
	}
	var got int
	if block {
		simple(blockWrite)
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM client_notes").Scan(&got); err != nil || got != 2 {
			t.Errorf("next statement: %d, %v", got, err)
		}
		simple("ROLLBACK")
		return
	}
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM customers").Scan(&got); err != nil || got != 200 {
		t.Errorf("next statement: %d, %v", got, err)
	}
}

// lineDiff lists the lines of a and b that the other lacks.
func lineDiff(a, b string) string {
	in := func(s string) map[string]bool {
		m := map[string]bool{}
		for _, l := range strings.Split(s, "\n") {
			m[l] = true
		}
		return m
	}
	ia, ib := in(a), in(b)
	var out []string
	for _, l := range strings.Split(a, "\n") {
		if !ib[l] {
			out = append(out, "- "+l)
		}
	}
	for _, l := range strings.Split(b, "\n") {
		if !ia[l] {
			out = append(out, "+ "+l)
		}
	}
	return strings.Join(out, "\n")
}
