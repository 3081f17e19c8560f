package ask_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
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
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// scripted plays the model: for a question it returns the completions listed for the first
// key contained in the prompt's question, one per call (the last one repeats). A completion
// "BLOCK" waits for the context to end, as a long generation would, after a send on blocked.
type scripted struct {
	mu      sync.Mutex
	answers map[string][]string
	calls   map[string]int
	prompts []string
	blocked chan struct{} // one value per generation that began to BLOCK (unread ones are dropped)
}

func newScripted(answers map[string][]string) *scripted {
	return &scripted{answers: answers, calls: map[string]int{}, blocked: make(chan struct{}, 16)}
}

// waitBlocked returns once a generation is in BLOCK.
func (e *scripted) waitBlocked(t *testing.T) {
	t.Helper()
	select {
	case <-e.blocked:
	case <-time.After(time.Minute):
		t.Fatal("no generation began")
	}
}

func (e *scripted) Generate(ctx context.Context, req translate.GenerateRequest) (translate.GenerateResult, error) {
	e.mu.Lock()
	e.prompts = append(e.prompts, req.Prompt)
	var out string
	found := false
	for key, list := range e.answers {
		if strings.Contains(req.Prompt, "[QUESTION]"+key) {
			i := min(e.calls[key], len(list)-1)
			e.calls[key]++
			out, found = list[i], true
			break
		}
	}
	e.mu.Unlock()
	if !found {
		return translate.GenerateResult{}, errors.New("scripted engine: no answer for this question")
	}
	if out == "BLOCK" {
		select {
		case e.blocked <- struct{}{}:
		default:
		}
		<-ctx.Done()
		return translate.GenerateResult{}, ctx.Err()
	}
	if out == "FAIL" {
		return translate.GenerateResult{}, errors.New("out of memory")
	}
	return translate.GenerateResult{Text: out, PromptTokens: len(req.Prompt) / 4, GeneratedTokens: len(out) / 4}, nil
}

type env struct {
	cluster *pgcluster.Cluster
	db      string
	addr    string
	engine  *scripted
	events  chan ask.Event
}

func (e *env) url(user string) string {
	return "postgres://" + user + "@" + e.addr + "/" + e.db + "?sslmode=disable"
}

func setup(t *testing.T, answers map[string][]string, mod func(*askservice.Options)) *env {
	t.Helper()
	c := pgtest.Shared(t)
	db := pgtest.NewDatabase(t, c)
	ctx := context.Background()
	if err := c.Exec(ctx, db, demodb.ShopSQL); err != nil {
		t.Fatal(err)
	}
	e := &env{cluster: c, db: db, engine: newScripted(answers), events: make(chan ask.Event, 100)}
	opts := askservice.Options{Engine: askservice.EngineOf(e.engine, "scripted"), Grammar: translate.GrammarOff, MaxRepairs: 2,
		Notice: true, SchemaBudget: 2048, StatementTimeout: 5 * time.Second,
		Observe: func(ev ask.Event) { e.events <- ev }}
	if mod != nil {
		mod(&opts)
	}
	e.addr = asktest.Serve(t, c.Addr(), opts)
	return e
}

func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func psql(t *testing.T, e *env, args ...string) (string, error) {
	t.Helper()
	host, port, _ := net.SplitHostPort(e.addr)
	all := append([]string{"-X", "-h", host, "-p", port, "-U", "postgres", "-d", e.db, "-v", "ON_ERROR_STOP=1"}, args...)
	out, err := exec.Command(filepath.Join(e.cluster.BinDir, "psql"), all...).CombinedOutput()
	return string(out), err
}

const countSQL = "SELECT count(*) AS customers FROM customers"

func TestPsqlAskReturnsRowsAndNotice(t *testing.T) {
	e := setup(t, map[string][]string{"how many customers": {countSQL + ";"}}, nil)
	out, err := psql(t, e, "-c", "ASK how many customers")
	if err != nil {
		t.Fatalf("psql: %v\n%s", err, out)
	}
	if !strings.Contains(out, "NOTICE:  pgask: "+countSQL) {
		t.Errorf("no NOTICE with the SQL in:\n%s", out)
	}
	if !strings.Contains(out, "customers") || !strings.Contains(out, "200") || !strings.Contains(out, "(1 row)") {
		t.Errorf("no result set in:\n%s", out)
	}
	ev := <-e.events
	if ev.Outcome != "ok" || ev.SQL != countSQL || ev.User != "postgres" || ev.Database != e.db {
		t.Errorf("event = %+v", ev)
	}
}

func TestApostrophesAndQuotedForms(t *testing.T) {
	answers := map[string][]string{
		"what's the customers' count":  {countSQL},
		"what's the number of clients": {countSQL},
	}
	e := setup(t, answers, nil)
	for _, cmd := range []string{
		"ASK what's the customers' count",
		"ASK 'what''s the number of clients'",
		"ASK $$what's the number of clients$$;",
		"select 1 as one; ASK what's the customers' count",
	} {
		out, err := psql(t, e, "-At", "-c", cmd)
		if err != nil {
			t.Fatalf("%s: %v\n%s", cmd, err, out)
		}
		if !strings.HasSuffix(strings.TrimSpace(out), "200") {
			t.Errorf("%s: output %q does not end with the count", cmd, out)
		}
	}
}

func TestMultiStatementOrderAndStopOnError(t *testing.T) {
	e := setup(t, map[string][]string{"how many customers": {countSQL}}, nil)
	// An unquoted question runs to the end of the text; a quoted one lets splitting go on.
	out, err := psql(t, e, "-At", "-c", "select 'a'; ASK 'how many customers'; select 'b'")
	if err != nil {
		t.Fatalf("psql: %v\n%s", err, out)
	}
	lines := strings.Fields(out)
	want := []string{"a", "200", "b"}
	if strings.Join(lines[len(lines)-3:], ",") != strings.Join(want, ",") {
		t.Errorf("output %q, want results a, 200, b in order", out)
	}
	out, err = psql(t, e, "-At", "-c", "select 1/0; ASK how many customers")
	if err == nil || !strings.Contains(out, "division by zero") || strings.Contains(out, "200") {
		t.Errorf("statement after an error ran, or error lost: %v\n%s", err, out)
	}
}

func TestExtendedProtocolDescribeThenExecuteConsistent(t *testing.T) {
	e := setup(t, map[string][]string{"how many customers per country": {
		"SELECT country, count(*) AS n FROM customers GROUP BY country ORDER BY country",
	}}, nil)
	conn := connect(t, e.url("postgres"))
	ctx := context.Background()
	const q = "ASK how many customers per country"
	sd, err := conn.Prepare(ctx, "", q)
	if err != nil {
		t.Fatal(err)
	}
	if len(sd.Fields) != 2 || sd.Fields[0].Name != "country" || sd.Fields[1].Name != "n" {
		t.Fatalf("Describe fields = %+v", sd.Fields)
	}
	for i := 0; i < 7; i++ { // past pgx's and JDBC's switch to named statements
		rows, err := conn.Query(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		fields := rows.FieldDescriptions()
		total := 0
		for rows.Next() {
			var country string
			var n int
			if err := rows.Scan(&country, &n); err != nil {
				t.Fatal(err)
			}
			total += n
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		if len(fields) != 2 || fields[1].Name != "n" || total != 200 {
			t.Fatalf("run %d: fields %+v total %d", i, fields, total)
		}
	}
	e.engine.mu.Lock()
	calls := e.engine.calls["how many customers per country"]
	e.engine.mu.Unlock()
	if calls != 1 {
		t.Errorf("engine called %d times for one ASK text in one session, want 1", calls)
	}
}

// beginWithWrite opens a transaction block on conn holding one uncommitted write (a category
// "Toys"), for tests that check an ASK keeps the block and its write.
func beginWithWrite(t *testing.T, conn *pgx.Conn) {
	t.Helper()
	for _, sql := range []string{"BEGIN", "INSERT INTO categories (name) VALUES ('Toys')"} {
		if _, err := conn.Exec(context.Background(), sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
}

func TestAskInsideTransaction(t *testing.T) {
	e := setup(t, map[string][]string{
		"how many customers": {countSQL},
		"what breaks":        {"FAIL"},
	}, nil)
	conn := connect(t, e.url("postgres"))
	ctx := context.Background()
	beginWithWrite(t, conn)
	var n int
	if err := conn.QueryRow(ctx, "ASK how many customers", pgx.QueryExecModeSimpleProtocol).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 200 || conn.PgConn().TxStatus() != 'T' {
		t.Fatalf("count %d, tx status %c", n, conn.PgConn().TxStatus())
	}
	_, err := conn.Exec(ctx, "ASK what breaks", pgx.QueryExecModeSimpleProtocol)
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "58000" {
		t.Fatalf("failing engine: err = %v, want SQLSTATE 58000", err)
	}
	if st := conn.PgConn().TxStatus(); st != 'E' {
		t.Fatalf("tx status after failed ASK = %c, want E", st)
	}
	if _, err := conn.Exec(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRow(ctx, "select count(*) from categories where name = 'Toys'").Scan(&n); err != nil || n != 0 {
		t.Fatalf("rollback lost: n=%d err=%v", n, err)
	}
	// Outside a transaction the failure leaves the session idle and usable.
	if _, err := conn.Exec(ctx, "ASK what breaks", pgx.QueryExecModeSimpleProtocol); err == nil {
		t.Fatal("failing engine: no error")
	}
	if st := conn.PgConn().TxStatus(); st != 'I' {
		t.Errorf("tx status = %c, want I", st)
	}
	if err := conn.QueryRow(ctx, "select 41+1").Scan(&n); err != nil || n != 42 {
		t.Fatalf("session unusable after failed ASK: %v", err)
	}
}

func TestRepairLoopAndRefusedWrite(t *testing.T) {
	e := setup(t, map[string][]string{
		"total stock":      {"SELECT sum(stock) FROM products", "SELECT sum(in_stock) AS stock FROM products"},
		"remove customers": {"DELETE FROM customers"},
		"nobody knows":     {"I do not know"},
		"sneaky update":    {"WITH d AS (DELETE FROM orders RETURNING 1) SELECT count(*) FROM d"},
	}, nil)
	conn := connect(t, e.url("postgres"))
	ctx := context.Background()
	var stock int
	if err := conn.QueryRow(ctx, "ASK total stock", pgx.QueryExecModeSimpleProtocol).Scan(&stock); err != nil {
		t.Fatalf("repair: %v", err)
	}
	ev := <-e.events
	if ev.Attempts != 2 || ev.Outcome != "ok" {
		t.Errorf("repair event: %+v", ev)
	}
	e.engine.mu.Lock()
	last := e.engine.prompts[len(e.engine.prompts)-1]
	e.engine.mu.Unlock()
	if !strings.Contains(last, `column "stock" does not exist`) {
		t.Errorf("repair prompt does not carry Postgres' error:\n%s", last)
	}
	for _, tc := range []struct{ q, code string }{
		{"ASK remove customers", "42501"},
		{"ASK sneaky update", "42501"},
		{"ASK nobody knows", "42000"},
	} {
		_, err := conn.Exec(ctx, tc.q, pgx.QueryExecModeSimpleProtocol)
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != tc.code {
			t.Errorf("%s: err = %v, want SQLSTATE %s", tc.q, err, tc.code)
		}
	}
	var n int
	if err := conn.QueryRow(ctx, "select (select count(*) from customers) + (select count(*) from orders)").Scan(&n); err != nil || n != 1200 {
		t.Errorf("data modified: customers+orders = %d (%v), want 1200", n, err)
	}
}

func TestDryRunDoesNotExecute(t *testing.T) {
	e := setup(t, map[string][]string{"slow count": {"SELECT pg_sleep(0), count(*) FROM customers"}}, nil)
	out, err := psql(t, e, "-At", "-c", "EXPLAIN ASK slow count")
	if err == nil || !strings.Contains(out, "pg_sleep") {
		// pg_sleep is refused by default: the dry run reports the refusal too.
		t.Logf("dry run with refused function: %v %s", err, out)
	}
	e2 := setup(t, map[string][]string{"how many customers": {countSQL}}, nil)
	out, err = psql(t, e2, "-At", "-c", "EXPLAIN ASK how many customers")
	if err != nil {
		t.Fatalf("psql: %v\n%s", err, out)
	}
	if strings.TrimSpace(out) != countSQL {
		t.Errorf("dry run output %q, want the SQL only", out)
	}
	conn := connect(t, e2.url("postgres"))
	var sql string
	if err := conn.QueryRow(context.Background(), "EXPLAIN ASK how many customers").Scan(&sql); err != nil || sql != countSQL {
		t.Errorf("extended dry run: %q %v", sql, err)
	}
}

func TestEmbeddedAskAsSubquery(t *testing.T) {
	e := setup(t, map[string][]string{"customers per country": {"SELECT country, count(*) AS n FROM customers GROUP BY country"}}, nil)
	conn := connect(t, e.url("postgres"))
	var total int
	err := conn.QueryRow(context.Background(),
		`SELECT sum(n) FROM (ASK customers per country) "Custom SQL Query"`, pgx.QueryExecModeSimpleProtocol).Scan(&total)
	if err != nil || total != 200 {
		t.Fatalf("embedded ASK: total %d err %v", total, err)
	}
}

// A CancelRequest for a session whose ASK is generating ends the generation: the ASK fails
// with query_canceled and the session goes on. Nothing else would end this one (the engine
// blocks until its context ends, the upstream backend is idle).
func TestCancelDuringGeneration(t *testing.T) {
	e := setup(t, map[string][]string{"never ending": {"BLOCK"}}, nil)
	conn := connect(t, e.url("postgres"))
	ctx := context.Background()
	done := make(chan error, 1)
	go func() {
		_, err := conn.Exec(ctx, "ASK never ending", pgx.QueryExecModeSimpleProtocol)
		done <- err
	}()
	e.engine.waitBlocked(t)
	if err := conn.PgConn().CancelRequest(ctx); err != nil {
		t.Fatalf("CancelRequest: %v", err)
	}
	var err error
	select {
	case err = <-done:
	case <-time.After(time.Minute):
		t.Fatal("the cancelled ASK is still generating")
	}
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "57014" {
		t.Fatalf("cancelled ASK: %v, want query_canceled (57014)", err)
	}
	if ev := <-e.events; ev.Outcome != "canceled" {
		t.Errorf("outcome %q, want canceled", ev.Outcome)
	}
	var n int
	if err := conn.QueryRow(ctx, "select 1").Scan(&n); err != nil || n != 1 {
		t.Fatalf("the session after the cancel: %d, %v", n, err)
	}
}

// A query context that ends during generation: pgx sends a CancelRequest and then gives up
// on the connection; the ASK ends as canceled.
func TestContextEndsDuringGeneration(t *testing.T) {
	e := setup(t, map[string][]string{"never ending": {"BLOCK"}}, nil)
	conn := connect(t, e.url("postgres"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := conn.Exec(ctx, "ASK never ending", pgx.QueryExecModeSimpleProtocol)
		done <- err
	}()
	e.engine.waitBlocked(t)
	cancel()
	if err := <-done; err == nil {
		t.Fatal("blocked ASK returned no error")
	}
	select {
	case ev := <-e.events:
		if ev.Outcome != "canceled" {
			t.Errorf("outcome %q, want canceled", ev.Outcome)
		}
	case <-time.After(time.Minute):
		t.Fatal("the ASK is still generating after its client gave up")
	}
	// pgx closes the connection when a query's ctx ends; a fresh one works.
	conn2 := connect(t, e.url("postgres"))
	var n int
	if err := conn2.QueryRow(context.Background(), "select 1").Scan(&n); err != nil {
		t.Fatal(err)
	}
}

func TestUnavailableEngineKeepsPassThrough(t *testing.T) {
	e := setup(t, nil, func(o *askservice.Options) {
		o.Engine = askservice.EngineFunc(func(context.Context, *slog.Logger) (*askservice.Started, error) {
			return nil, &ask.UnavailableError{Reason: "model sqlcoder-7b-2 is not downloaded", Hint: "Run: pgask pull sqlcoder-7b-2"}
		})
	})
	conn := connect(t, e.url("postgres"))
	_, err := conn.Exec(context.Background(), "ASK how many customers", pgx.QueryExecModeSimpleProtocol)
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "58P01" || !strings.Contains(pe.Message, "sqlcoder-7b-2") || pe.Hint == "" {
		t.Fatalf("err = %#v", err)
	}
	var n int
	if err := conn.QueryRow(context.Background(), "select count(*) from customers").Scan(&n); err != nil || n != 200 {
		t.Fatalf("pass-through: %d %v", n, err)
	}
	// In an aborted transaction block every command gets 25P02 first, ASK included.
	ctx := context.Background()
	for _, sql := range []string{"BEGIN", "SELECT 1/0", "ASK how many customers"} {
		_, err = conn.Exec(ctx, sql, pgx.QueryExecModeSimpleProtocol)
	}
	if !errors.As(err, &pe) || pe.Code != "25P02" {
		t.Fatalf("ASK in an aborted transaction without a model: want 25P02, got %v", err)
	}
	if _, err := conn.Exec(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
}

func TestStatementTimeoutApplies(t *testing.T) {
	e := setup(t, map[string][]string{"big cross join": {
		"SELECT count(*) FROM orders a, orders b, orders c",
	}}, func(o *askservice.Options) { o.StatementTimeout = 200 * time.Millisecond })
	conn := connect(t, e.url("postgres"))
	_, err := conn.Exec(context.Background(), "ASK big cross join", pgx.QueryExecModeSimpleProtocol)
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "57014" {
		t.Fatalf("err = %v, want statement timeout 57014", err)
	}
	var st string
	if err := conn.QueryRow(context.Background(), "show statement_timeout").Scan(&st); err != nil || st != "0" {
		t.Errorf("session statement_timeout changed to %q (%v)", st, err)
	}
	if conn.PgConn().TxStatus() != 'I' {
		t.Errorf("tx status %c", conn.PgConn().TxStatus())
	}
}

func TestAuditRecordsEveryAsk(t *testing.T) {
	var buf syncBuffer
	audit := ask.NewAudit(&buf)
	e := setup(t, map[string][]string{"how many customers": {countSQL}, "nobody knows": {"I do not know"}},
		func(o *askservice.Options) { o.Observe = audit.Observe })
	conn := connect(t, e.url("postgres"))
	ctx := context.Background()
	if _, err := conn.Exec(ctx, "ASK how many customers", pgx.QueryExecModeSimpleProtocol); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "ASK nobody knows", pgx.QueryExecModeSimpleProtocol); err == nil {
		t.Fatal("unanswerable question answered")
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("audit lines = %d, want 2:\n%s", len(lines), buf.String())
	}
	var ok, bad ask.AuditRecord
	if err := json.Unmarshal([]byte(lines[0]), &ok); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(lines[1]), &bad); err != nil {
		t.Fatal(err)
	}
	if ok.Question != "how many customers" || ok.SQL != countSQL || ok.Outcome != "ok" || ok.User != "postgres" ||
		ok.Database != e.db || !strings.HasPrefix(ok.Client, "127.0.0.1:") || ok.TotalMS <= 0 || ok.ExecuteMS <= 0 {
		t.Errorf("ok record: %+v", ok)
	}
	if bad.Outcome != "unanswerable" || bad.Error == "" {
		t.Errorf("failure record: %+v", bad)
	}
	if strings.Contains(buf.String(), `"200"`) || strings.Contains(buf.String(), ":200,") {
		t.Errorf("audit log holds row data:\n%s", buf.String())
	}
	if audit.Err() != nil {
		t.Fatal(audit.Err())
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// TestOtherSessionsNotDelayedByTranslation: while one session's ASK is stuck in generation,
// other sessions' ordinary statements (and a second ASK-free session's extended protocol)
// run at once.
func TestOtherSessionsNotDelayedByTranslation(t *testing.T) {
	e := setup(t, map[string][]string{"never ending": {"BLOCK"}}, nil)
	asker := connect(t, e.url("postgres"))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := asker.Exec(ctx, "ASK never ending", pgx.QueryExecModeSimpleProtocol)
		done <- err
	}()
	e.engine.waitBlocked(t) // the ASK is generating, and stays so until cancel
	other := connect(t, e.url("postgres"))
	// A generous bound: a session stuck behind the ASK would hang here, not be slow.
	octx, ocancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer ocancel()
	for i := 0; i < 50; i++ {
		var n int
		if err := other.QueryRow(octx, "select count(*) from customers where id > $1", i).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 200-i {
			t.Fatalf("count = %d", n)
		}
	}
	select {
	case err := <-done:
		t.Fatalf("blocked ASK finished early: %v", err)
	default:
	}
	cancel()
	if err := <-done; err == nil {
		t.Fatal("cancelled ASK returned no error")
	}
}

// Malformed ASK statements get pgask's own syntax error, never a model call or the server's
// confusing "syntax error at or near ASK".
func TestMalformedAsk(t *testing.T) {
	e := setup(t, nil, nil)
	conn := connect(t, e.url("postgres"))
	ctx := context.Background()
	for _, tt := range []struct{ sql, msg string }{
		{"ASK", "ASK needs a question"},
		{"ASK   ;", "ASK needs a question"},
		{"EXPLAIN ASK", "ASK needs a question"},
		{"SELECT count(*) FROM (ASK how many customers", "unterminated parenthesised ASK"},
	} {
		for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeDescribeExec} {
			_, err := conn.Exec(ctx, tt.sql, mode)
			var pe *pgconn.PgError
			if !errors.As(err, &pe) || pe.Code != "42601" || !strings.Contains(pe.Message, tt.msg) {
				t.Errorf("%q (%v): want 42601 %q, got %v", tt.sql, mode, tt.msg, err)
			}
		}
	}
	e.engine.mu.Lock()
	prompts := len(e.engine.prompts)
	e.engine.mu.Unlock()
	if prompts != 0 {
		t.Errorf("the engine was called %d times", prompts)
	}
	var one int
	if err := conn.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Fatalf("session after the errors: %v", err)
	}
}

// A driver that took the `?` of a question for a parameter marker sends $1 in its place
// (pgjdbc, node-postgres, psycopg 3 with parameters). pgask answers such an extended-protocol
// ASK with 42P02 and a hint naming the quoted forms, without asking the model, and the session
// goes on; inside a transaction block the block is failed, as after any error. The quoted
// forms, and the simple protocol (where no driver rewrites a placeholder pgask could see),
// take the same question as the user wrote it.
func TestDriverPlaceholderHint(t *testing.T) {
	e := setup(t, map[string][]string{
		"how many customers$1":         {countSQL},
		"how many customers over $1?":  {countSQL},
		"how many customers cost $1.5": {countSQL},
	}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn := connect(t, e.url("postgres"))
	prompts := func() int {
		e.engine.mu.Lock()
		defer e.engine.mu.Unlock()
		return len(e.engine.prompts)
	}
	for _, tt := range []struct {
		name, sql string
		args      []any
	}{
		{"a value bound to the driver's $1", "ASK how many customers$1", []any{"x"}},
		{"no value", "ASK how many customers over $1?", nil},
		{"EXPLAIN ASK", "EXPLAIN ASK how many customers$1", []any{"x"}},
		{"parenthesised", "SELECT * FROM (ASK how many customers$1) t", []any{"x"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := prompts()
			var n int
			err := conn.QueryRow(ctx, tt.sql, tt.args...).Scan(&n)
			var pe *pgconn.PgError
			if !errors.As(err, &pe) || pe.Code != "42P02" || !strings.Contains(pe.Hint, "ASK $$") || !strings.Contains(pe.Message, "$1") {
				t.Fatalf("err = %v (%#v), want 42P02 naming $1 with a hint naming ASK $$…$$", err, pe)
			}
			if prompts() != before {
				t.Error("the model was asked a question a driver rewrote")
			}
			if err := conn.QueryRow(ctx, "SELECT 1").Scan(&n); err != nil || n != 1 {
				t.Errorf("session after the refusal: %v", err)
			}
		})
	}
	// Parameters for an ASK, whatever its question: declared in the Parse (psycopg 3 declares
	// the type of each %s it turned into $n, inside quotes too), refused before the model is
	// asked; or only bound (node-postgres with values), refused at the Bind of the translated
	// statement instead of the server's protocol violation.
	want42P02 := func(t *testing.T, err error, msg string) {
		t.Helper()
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "42P02" || !strings.Contains(pe.Hint, "ASK $$") || !strings.Contains(pe.Message, msg) {
			t.Fatalf("err = %v, want 42P02 %q with a hint naming ASK $$…$$", err, msg)
		}
		var n int
		if err := conn.QueryRow(ctx, "SELECT 1").Scan(&n); err != nil || n != 1 {
			t.Errorf("session after the refusal: %v", err)
		}
	}
	t.Run("declared parameter types", func(t *testing.T) {
		before := prompts()
		_, err := conn.PgConn().Prepare(ctx, "", "ASK $$how many customers over $1?$$", []uint32{25})
		want42P02(t, err, "declared 1")
		if prompts() != before {
			t.Error("the model was asked")
		}
	})
	t.Run("values bound", func(t *testing.T) {
		res := conn.PgConn().ExecParams(ctx, "ASK $$how many customers over $1?$$", [][]byte{[]byte("5")}, nil, nil, nil).Read()
		want42P02(t, res.Err, "its Bind carries 1")
		// The same statement without values runs.
		res = conn.PgConn().ExecParams(ctx, "ASK $$how many customers over $1?$$", nil, nil, nil, nil).Read()
		if res.Err != nil || len(res.Rows) != 1 || string(res.Rows[0][0]) != "200" {
			t.Errorf("without values: %v %q", res.Err, res.Rows)
		}
	})
	t.Run("in a transaction block", func(t *testing.T) {
		tx, err := conn.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx)
		var n int
		if err := tx.QueryRow(ctx, "ASK how many customers$1", "x").Scan(&n); err == nil {
			t.Fatal("the ASK succeeded")
		}
		err = tx.QueryRow(ctx, "SELECT 1").Scan(&n)
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "25P02" {
			t.Errorf("the block after the refusal: %v, want 25P02 (failed block)", err)
		}
	})
	for _, tt := range []struct {
		name, sql string
		mode      pgx.QueryExecMode
	}{
		{"dollar-quoted", "ASK $$how many customers$1$$", pgx.QueryExecModeCacheStatement},
		{"string literal", "ASK 'how many customers over $1?'", pgx.QueryExecModeExec},
		{"an amount", "ASK how many customers cost $1.5", pgx.QueryExecModeExec},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var n int
			if err := conn.QueryRow(ctx, tt.sql, tt.mode).Scan(&n); err != nil || n != 200 {
				t.Errorf("%s: n = %d, err = %v; want the 200 customers", tt.sql, n, err)
			}
		})
	}
	// psql sends the text as typed (pgx's simple protocol would fill $1 itself).
	if out, err := psql(t, e, "-At", "-c", "ASK how many customers$1"); err != nil || !strings.HasSuffix(strings.TrimSpace(out), "\n200") {
		t.Errorf("simple protocol: %v\n%s", err, out)
	}
}
