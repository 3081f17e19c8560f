package ask_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgask/pgask/askservice"
	"github.com/pgask/pgask/translate/examples"
)

// The scripted engine matches "[QUESTION]"+key in the sqlcoder-7b-2 prompt; the keys below end
// with the closing tag so that a question never matches a longer one that contains it (a
// follow-up's question starts with the question it refines).
const qEnd = "[/QUESTION]"

var roleSeq atomic.Int64

// newRole creates a login role with a unique name that may read the shop's tables.
func (e *env) newRole(t *testing.T) string {
	t.Helper()
	name := fmt.Sprintf("ex%d_%d", os.Getpid(), roleSeq.Add(1))
	e.exec(t, "CREATE ROLE "+name+" LOGIN")
	e.exec(t, "GRANT SELECT ON ALL TABLES IN SCHEMA public TO "+name)
	return name
}

// exec runs SQL as the superuser directly on the test database (not through pgask).
func (e *env) exec(t *testing.T, sql string) {
	t.Helper()
	if err := e.cluster.Exec(context.Background(), e.db, sql); err != nil {
		t.Fatal(err)
	}
}

// direct returns one value of a query run as the superuser directly on the test database.
func (e *env) direct(t *testing.T, sql string) string {
	t.Helper()
	out, err := e.cluster.Psql(context.Background(), e.db, "-At", "-c", sql)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

// initExamples creates pgask.examples with the same SQL as pgask init.
func (e *env) initExamples(t *testing.T, pairs ...string) {
	t.Helper()
	e.exec(t, examples.InitSQL)
	for i := 0; i+1 < len(pairs); i += 2 {
		e.exec(t, examples.InsertSQL(pairs[i], pairs[i+1]))
	}
}

func psqlAs(t *testing.T, e *env, user string, args ...string) (string, error) {
	t.Helper()
	host, port, _ := net.SplitHostPort(e.addr)
	all := append([]string{"-X", "-h", host, "-p", port, "-U", user, "-d", e.db, "-v", "ON_ERROR_STOP=1"}, args...)
	out, err := exec.Command(filepath.Join(e.cluster.BinDir, "psql"), all...).CombinedOutput()
	return string(out), err
}

func (e *env) lastPrompt() string {
	e.engine.mu.Lock()
	defer e.engine.mu.Unlock()
	if len(e.engine.prompts) == 0 {
		return ""
	}
	return e.engine.prompts[len(e.engine.prompts)-1]
}

const cancelledSQL = "SELECT count(*) AS orders FROM orders WHERE status = 'cancelled'"

// TestExactMatchAnswersWithoutModel: a question matching a stored one (case, white space and
// punctuation aside) is answered with the stored SQL while the model would answer wrongly; the
// NOTICE and the audit event say so; simple and extended protocol, and inside a block.
func TestExactMatchAnswersWithoutModel(t *testing.T) {
	e := setup(t, map[string][]string{"how many customers" + qEnd: {"SELECT 42 AS customers"}}, nil)
	e.initExamples(t, "How many customers?", countSQL)
	want := e.direct(t, "SELECT count(*) FROM customers")

	out, err := psql(t, e, "-c", "ASK   how MANY customers")
	if err != nil {
		t.Fatalf("psql: %v\n%s", err, out)
	}
	if !strings.Contains(out, "NOTICE:  pgask: "+countSQL+"\nDETAIL:  answered from pgask.examples") || !strings.Contains(out, " "+want+"\n") {
		t.Errorf("not answered from the example:\n%s", out)
	}
	ev := e.lastEvent(t)
	if !ev.Example || ev.Outcome != "ok" || ev.SQL != countSQL || !ev.Record().Example {
		t.Errorf("event = %+v", ev)
	}

	conn := connectNotices(t, e.url("postgres"))
	ctx := context.Background()
	for _, p := range protocols {
		for _, block := range []bool{false, true} {
			if block {
				if _, err := conn.Exec(ctx, "BEGIN"); err != nil {
					t.Fatal(err)
				}
			}
			var n string
			if err := conn.QueryRow(ctx, "ASK how many customers ?", p.mode).Scan(&n); err != nil {
				t.Fatalf("%s block=%v: %v", p.name, block, err)
			}
			if n != want {
				t.Errorf("%s block=%v: %s, want %s", p.name, block, n, want)
			}
			if block {
				if _, err := conn.Exec(ctx, "COMMIT"); err != nil {
					t.Fatalf("%s: block not usable after the ASK: %v", p.name, err)
				}
			}
		}
	}
	if n := conn.notice("pgask: " + countSQL); n == nil || !strings.Contains(n.Detail, "pgask.examples") {
		t.Errorf("NOTICE = %+v, want one whose DETAIL names pgask.examples", n)
	}
	if c := e.calls("how many customers" + qEnd); c != 0 {
		t.Errorf("the model was called %d times", c)
	}
}

// TestExamplesNeedSelect: a role without SELECT on pgask.examples (or without the schema at
// all) asks as if there were no pairs: no error, and its transaction block stays usable.
func TestExamplesNeedSelect(t *testing.T) {
	e := setup(t, map[string][]string{"how many customers" + qEnd: {countSQL}}, nil)
	role := e.newRole(t)
	want := e.direct(t, "SELECT count(*) FROM customers")
	ctx := context.Background()
	check := func(name string) {
		t.Helper()
		conn := connect(t, e.url(role))
		if _, err := conn.Exec(ctx, "BEGIN"); err != nil {
			t.Fatal(err)
		}
		var n string
		if err := conn.QueryRow(ctx, "ASK how many customers").Scan(&n); err != nil || n != want {
			t.Fatalf("%s: ASK = %q, %v; want %s", name, n, err, want)
		}
		if _, err := conn.Exec(ctx, "SELECT 1"); err != nil {
			t.Fatalf("%s: block failed after the ASK: %v", name, err)
		}
		if _, err := conn.Exec(ctx, "COMMIT"); err != nil {
			t.Fatal(err)
		}
		if ev := e.lastEvent(t); ev.Example || ev.Outcome != "ok" {
			t.Errorf("%s: event %+v", name, ev)
		}
	}
	check("no schema pgask")
	e.initExamples(t, "how many customers", "SELECT 7 AS customers")
	check("no USAGE on schema pgask")
	e.exec(t, "GRANT USAGE ON SCHEMA pgask TO "+role)
	check("no SELECT on pgask.examples")
	e.exec(t, "GRANT SELECT (id, added_by) ON pgask.examples TO "+role)
	check("SELECT on other columns only")
	e.exec(t, "GRANT SELECT ON pgask.examples TO "+role)
	conn := connect(t, e.url(role))
	var n string
	if err := conn.QueryRow(ctx, "ASK how many customers").Scan(&n); err != nil || n != "7" {
		t.Fatalf("with SELECT granted: %q, %v; want the stored pair's 7", n, err)
	}
	// Row-level security decides which pairs a user sees.
	e.exec(t, "ALTER TABLE pgask.examples ENABLE ROW LEVEL SECURITY")
	e.exec(t, "CREATE POLICY own ON pgask.examples USING (added_by = current_user)")
	check("a pair hidden by row-level security")
	if c := e.calls("how many customers" + qEnd); c != 1 {
		t.Errorf("model calls = %d, want 1 (the translation cached across the checks)", c)
	}
}

func wantCode(t *testing.T, err error, code string) *pgconn.PgError {
	t.Helper()
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != code {
		t.Fatalf("err = %v, want SQLSTATE %s", err, code)
	}
	return pe
}

// TestTeach: TEACH stores a checked pair as the user; a write, a query that fails EXPLAIN, a
// malformed statement and a role without INSERT are refused and store nothing.
func TestTeach(t *testing.T) {
	e := setup(t, nil, nil)
	e.initExamples(t)
	count := func() string { return e.direct(t, "SELECT count(*) FROM pgask.examples") }

	out, err := psql(t, e, "-c", "TEACH $$What's the number of customers?$$ AS SELECT count(*) AS customers FROM customers;")
	if err != nil || !strings.Contains(out, "INSERT 0 1") {
		t.Fatalf("TEACH: %v\n%s", err, out)
	}
	if got := e.direct(t, "SELECT question || '|' || sql || '|' || added_by FROM pgask.examples"); got != "What's the number of customers?|SELECT count(*) AS customers FROM customers|postgres" {
		t.Errorf("stored %q", got)
	}
	if ev := e.lastEvent(t); !ev.Teach || ev.Outcome != "taught" {
		t.Errorf("event %+v", ev)
	}

	conn := connect(t, e.url("postgres"))
	ctx := context.Background()
	for _, tc := range []struct{ name, stmt, code string }{
		{"write", "TEACH 'delete them' AS DELETE FROM customers", "42501"},
		{"data-modifying CTE", "TEACH 'q' AS WITH d AS (DELETE FROM customers RETURNING 1) SELECT count(*) FROM d", "42501"},
		{"locking", "TEACH 'q' AS SELECT * FROM customers FOR UPDATE", "42501"},
		{"denied function", "TEACH 'q' AS SELECT pg_sleep(1)", "42501"},
		{"syntax", "TEACH 'q' AS SELECT FROM WHERE", "42601"},
		{"unknown column", "TEACH 'q' AS SELECT nosuchcolumn FROM customers", "42703"},
		{"unknown table", "TEACH 'q' AS SELECT 1 FROM nosuchtable", "42P01"},
		{"unquoted question", "TEACH how many AS SELECT 1", "42601"},
		{"empty question", "TEACH '' AS SELECT 1", "42601"},
	} {
		_, err := conn.Exec(ctx, tc.stmt, pgx.QueryExecModeSimpleProtocol)
		if pe := wantCode(t, err, tc.code); pe.Position != 0 {
			t.Errorf("%s: error position %d counts in pgask's EXPLAIN, not in the client's text", tc.name, pe.Position)
		}
	}
	// Inside a block a refused TEACH fails the block like any statement; ROLLBACK ends it.
	if _, err := conn.Exec(ctx, "BEGIN"); err != nil {
		t.Fatal(err)
	}
	_, err = conn.Exec(ctx, "TEACH 'q' AS SELECT nosuchcolumn FROM customers", pgx.QueryExecModeSimpleProtocol)
	wantCode(t, err, "42703")
	_, err = conn.Exec(ctx, "SELECT 1")
	wantCode(t, err, "25P02")
	if _, err := conn.Exec(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	// A TEACH inside a block joins it: rolled back, nothing stays.
	for _, s := range []string{"BEGIN", "TEACH 'rolled back' AS SELECT 1", "ROLLBACK"} {
		if _, err := conn.Exec(ctx, s, pgx.QueryExecModeSimpleProtocol); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	// The extended protocol cannot TEACH.
	_, err = conn.Prepare(ctx, "teach", "TEACH 'q' AS SELECT 1")
	wantCode(t, err, "0A000")
	if got := count(); got != "1" {
		t.Errorf("%s pairs stored, want 1", got)
	}

	// A role without INSERT gets the server's own error.
	role := e.newRole(t)
	e.exec(t, "GRANT USAGE ON SCHEMA pgask TO "+role+"; GRANT SELECT ON pgask.examples TO "+role)
	rc := connect(t, e.url(role))
	_, err = rc.Exec(ctx, "TEACH 'how many products' AS SELECT count(*) FROM products", pgx.QueryExecModeSimpleProtocol)
	if pe := wantCode(t, err, "42501"); !strings.Contains(pe.Message, "permission denied for table examples") {
		t.Errorf("message %q, want the server's", pe.Message)
	}
	if out, err := psqlAs(t, e, role, "-c", "TEACH $$how many products$$ AS SELECT count(*) FROM products"); err == nil || !strings.Contains(out, "ERROR:  permission denied for table examples") {
		t.Errorf("psql TEACH without INSERT: %v\n%s", err, out)
	}
	// A role that may not read the table it teaches about cannot pass EXPLAIN.
	e.exec(t, "GRANT INSERT ON pgask.examples TO "+role+"; REVOKE SELECT ON customers FROM "+role)
	_, err = rc.Exec(ctx, "TEACH 'q' AS SELECT count(*) FROM customers", pgx.QueryExecModeSimpleProtocol)
	wantCode(t, err, "42501")
	if _, err := rc.Exec(ctx, "TEACH 'how many products' AS SELECT count(*) FROM products", pgx.QueryExecModeSimpleProtocol); err != nil {
		t.Fatalf("TEACH with INSERT granted: %v", err)
	}
	if got := e.direct(t, "SELECT added_by FROM pgask.examples WHERE question = 'how many products'"); got != role {
		t.Errorf("added_by = %q, want %s", got, role)
	}
}

// TestExamplesInPromptAndCacheInvalidation: similar pairs are shown to the model as worked
// examples; the translation is cached, and a change of the pairs gives a new one; a pair
// taught for the very question answers it from then on.
func TestExamplesInPromptAndCacheInvalidation(t *testing.T) {
	const q = "how many cancelled orders are there"
	e := setup(t, map[string][]string{q + qEnd: {cancelledSQL}}, func(o *askservice.Options) { o.ExampleBudget = 512 })
	e.initExamples(t,
		"how many orders were delivered", "SELECT count(*) FROM orders WHERE status = 'delivered'",
		"list the product categories", "SELECT name FROM categories")
	ask := func() {
		t.Helper()
		if out, err := psql(t, e, "-c", "ASK "+q); err != nil || !strings.Contains(out, "(1 row)") {
			t.Fatalf("ASK: %v\n%s", err, out)
		}
	}
	ask()
	p := e.lastPrompt()
	if !strings.Contains(p, "### Examples") || !strings.Contains(p, "-- how many orders were delivered\nSELECT count(*) FROM orders WHERE status = 'delivered';") {
		t.Errorf("similar pair not in the prompt:\n%s", p)
	}
	if strings.Contains(p, "product categories") {
		t.Errorf("unrelated pair in the prompt:\n%s", p)
	}
	ask()
	if c := e.calls(q + qEnd); c != 1 {
		t.Fatalf("model calls = %d after the same ASK twice, want 1 (cached)", c)
	}
	e.exec(t, examples.InsertSQL("how many orders are pending", "SELECT count(*) FROM orders WHERE status = 'pending'"))
	ask()
	if c := e.calls(q + qEnd); c != 2 {
		t.Fatalf("model calls = %d after a pair was added, want 2 (cache invalidated)", c)
	}
	if p := e.lastPrompt(); !strings.Contains(p, "how many orders are pending") {
		t.Errorf("new pair not in the prompt:\n%s", p)
	}
	e.exec(t, examples.InsertSQL(q, cancelledSQL))
	out, err := psql(t, e, "-c", "ASK "+q)
	if err != nil || !strings.Contains(out, "DETAIL:  answered from pgask.examples") {
		t.Fatalf("taught pair not used: %v\n%s", err, out)
	}
	if c := e.calls(q + qEnd); c != 2 {
		t.Errorf("model calls = %d, want 2", c)
	}
	// With no example budget, no pairs are shown (an exact match still answers).
	e2 := setup(t, map[string][]string{q + qEnd: {cancelledSQL}}, nil)
	e2.initExamples(t, "how many orders were delivered", "SELECT count(*) FROM orders WHERE status = 'delivered'")
	if out, err := psql(t, e2, "-c", "ASK "+q); err != nil {
		t.Fatalf("ASK: %v\n%s", err, out)
	}
	if p := e2.lastPrompt(); strings.Contains(p, "### Examples") {
		t.Errorf("examples shown without a budget:\n%s", p)
	}
}

// TestFollowUpPsql: ASK and … refines the session's previous question: its question and SQL go
// into the prompt; a standalone question never gets them; a follow-up with nothing before it
// is refused.
func TestFollowUpPsql(t *testing.T) {
	const first = "how many orders are there"
	const follow = first + ", and only the cancelled ones"
	e := setup(t, map[string][]string{
		first + qEnd:                {"SELECT count(*) AS orders FROM orders"},
		follow + qEnd:               {cancelledSQL},
		"how many customers" + qEnd: {countSQL},
	}, nil)
	want := e.direct(t, "SELECT count(*) FROM orders WHERE status = 'cancelled'")
	out, err := psql(t, e, "-c", "ASK "+first, "-c", "ASK and only the cancelled ones", "-c", "ASK how many customers")
	if err != nil {
		t.Fatalf("psql: %v\n%s", err, out)
	}
	if !strings.Contains(out, "NOTICE:  pgask: "+cancelledSQL) || !strings.Contains(out, " "+want+"\n") {
		t.Errorf("follow-up not answered:\n%s", out)
	}
	e.engine.mu.Lock()
	prompts := append([]string(nil), e.engine.prompts...)
	e.engine.mu.Unlock()
	if len(prompts) != 3 {
		t.Fatalf("%d prompts, want 3", len(prompts))
	}
	const prev = "### Previous question"
	if strings.Contains(prompts[0], prev) || strings.Contains(prompts[2], prev) {
		t.Errorf("a standalone question was prompted with history:\n%s\n%s", prompts[0], prompts[2])
	}
	if !strings.Contains(prompts[1], prev+"\nThe question follows up this earlier question and its SQL query; change the query to answer the question:\n-- "+first+"\nSELECT count(*) AS orders FROM orders;") {
		t.Errorf("follow-up prompt lacks the previous question:\n%s", prompts[1])
	}
	out, err = psql(t, e, "-c", "ASK and only the cancelled ones")
	if err == nil || !strings.Contains(out, "needs an earlier ASK in this session") {
		t.Errorf("a follow-up without a previous ASK: %v\n%s", err, out)
	}
}

// TestFollowUpExtended: through pgx's extended protocol a follow-up refines the previous ASK,
// and the same text parsed again in the session gives the same statement (one translation).
func TestFollowUpExtended(t *testing.T) {
	const first = "how many orders are there"
	const follow = first + ", and only the cancelled ones"
	e := setup(t, map[string][]string{
		first + qEnd:  {"SELECT count(*) AS orders FROM orders"},
		follow + qEnd: {cancelledSQL},
	}, nil)
	want := e.direct(t, "SELECT count(*) FROM orders WHERE status = 'cancelled'")
	all := e.direct(t, "SELECT count(*) FROM orders")
	conn := connect(t, e.url("postgres"))
	ctx := context.Background()
	var n string
	if err := conn.QueryRow(ctx, "ASK "+first).Scan(&n); err != nil || n != all {
		t.Fatalf("first: %q, %v", n, err)
	}
	for i := 0; i < 3; i++ {
		if err := conn.QueryRow(ctx, "ASK and only the cancelled ones").Scan(&n); err != nil || n != want {
			t.Fatalf("follow-up run %d: %q, %v; want %s", i, n, err, want)
		}
	}
	// Re-prepared under other names (as drivers do after their cache drops a statement).
	for i, name := range []string{"again1", "again2"} {
		sd, err := conn.Prepare(ctx, name, "ASK and only the cancelled ones")
		if err != nil {
			t.Fatal(err)
		}
		if err := conn.QueryRow(ctx, sd.Name).Scan(&n); err != nil || n != want {
			t.Fatalf("re-prepared %d: %q, %v; want %s", i, n, err, want)
		}
	}
	if c := e.calls(follow + qEnd); c != 1 {
		t.Errorf("follow-up translated %d times, want 1", c)
	}
}
