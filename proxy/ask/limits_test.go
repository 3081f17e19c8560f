package ask_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgask/pgask/askservice"
	"github.com/pgask/pgask/proxy/ask"
)

// noticeConn is a pgx connection to the proxy that records the notices and warnings it gets.
type noticeConn struct {
	*pgx.Conn
	mu      sync.Mutex
	notices []*pgconn.Notice
}

func connectNotices(t *testing.T, url string) *noticeConn {
	t.Helper()
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	nc := &noticeConn{}
	cfg.OnNotice = func(_ *pgconn.PgConn, n *pgconn.Notice) {
		nc.mu.Lock()
		nc.notices = append(nc.notices, n)
		nc.mu.Unlock()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	nc.Conn, err = pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close(context.Background()) })
	return nc
}

// notice returns the first notice whose message contains s.
func (nc *noticeConn) notice(s string) *pgconn.Notice {
	nc.mu.Lock()
	defer nc.mu.Unlock()
	for _, n := range nc.notices {
		if strings.Contains(n.Message, s) {
			return n
		}
	}
	return nil
}

func (nc *noticeConn) clearNotices() {
	nc.mu.Lock()
	nc.notices = nil
	nc.mu.Unlock()
}

// protocols are the two ways a driver sends an ASK: a simple Query, or Parse/Bind/Execute.
var protocols = []struct {
	name string
	mode pgx.QueryExecMode
}{
	{"simple", pgx.QueryExecModeSimpleProtocol},
	{"extended", pgx.QueryExecModeCacheStatement},
}

func (e *env) calls(key string) int {
	e.engine.mu.Lock()
	defer e.engine.mu.Unlock()
	return e.engine.calls[key]
}

func (e *env) prompts() int {
	e.engine.mu.Lock()
	defer e.engine.mu.Unlock()
	return len(e.engine.prompts)
}

// lastEvent returns the latest event observed so far (waiting for at least one).
func (e *env) lastEvent(t *testing.T) ask.Event {
	t.Helper()
	var ev ask.Event
	select {
	case ev = <-e.events:
	case <-time.After(30 * time.Second):
		t.Fatal("no ASK event")
	}
	for {
		select {
		case ev = <-e.events:
		default:
			return ev
		}
	}
}

func wantLimitError(t *testing.T, err error, msg, hint string) *pgconn.PgError {
	t.Helper()
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "54000" {
		t.Fatalf("err = %v, want SQLSTATE 54000", err)
	}
	if !strings.Contains(pe.Message, msg) || pe.Hint != hint {
		t.Fatalf("error message %q hint %q, want message containing %q and hint %q", pe.Message, pe.Hint, msg, hint)
	}
	return pe
}

// question returns a question of exactly n characters (runes) that starts with prefix,
// padded with 'é' (two bytes each in UTF-8, so that a byte count would differ).
func question(prefix string, n int) string {
	q := prefix + " " + strings.Repeat("é", n-utf8.RuneCountInString(prefix)-1)
	if utf8.RuneCountInString(q) != n {
		panic("question length")
	}
	return q
}

func TestMaxQuestionLength(t *testing.T) {
	const limit = 40
	atLimit := question("how many customers", limit)
	over := question("how many clients", limit+1)
	answers := map[string][]string{atLimit: {countSQL}, over: {countSQL}}
	overMsg := fmt.Sprintf("ASK question is %d characters long; the limit is %d (ask.max-question-length)", limit+1, limit)
	const hint = "Shorten the question."

	for _, p := range protocols {
		for _, tc := range []struct {
			name    string
			sql     string
			inTx    bool
			refused bool
		}{
			{"at the limit", "ASK " + atLimit, false, false},
			{"over the limit", "ASK " + over, false, true},
			{"over the limit, quoted", "ASK '" + over + "'", false, true},
			{"over the limit, dry run", "EXPLAIN ASK " + over, false, true},
			{"over the limit, in a transaction", "ASK " + over, true, true},
			{"at the limit, in a transaction", "ASK " + atLimit, true, false},
		} {
			t.Run(p.name+"/"+tc.name, func(t *testing.T) {
				e := setup(t, answers, func(o *askservice.Options) { o.MaxQuestionLength = limit })
				conn := connect(t, e.url("postgres"))
				ctx := context.Background()
				if tc.inTx {
					if _, err := conn.Exec(ctx, "BEGIN"); err != nil {
						t.Fatal(err)
					}
				}
				var n int
				err := conn.QueryRow(ctx, tc.sql, p.mode).Scan(&n)
				ev := e.lastEvent(t)
				if !tc.refused {
					if err != nil || n != 200 {
						t.Fatalf("n = %d, err = %v; want 200", n, err)
					}
					if ev.Outcome != "ok" || e.calls(atLimit) != 1 {
						t.Errorf("outcome %q, engine calls %d; want ok, 1", ev.Outcome, e.calls(atLimit))
					}
					if want := map[bool]byte{false: 'I', true: 'T'}[tc.inTx]; conn.PgConn().TxStatus() != want {
						t.Errorf("tx status %c, want %c", conn.PgConn().TxStatus(), want)
					}
					return
				}
				wantLimitError(t, err, overMsg, hint)
				if e.prompts() != 0 {
					t.Errorf("engine called %d times for a refused question", e.prompts())
				}
				if ev.Outcome != "too_long" || ev.Introspect != 0 || ev.Err == nil {
					t.Errorf("event outcome %q introspect %s err %v; want too_long, no introspection", ev.Outcome, ev.Introspect, ev.Err)
				}
				if tc.inTx {
					// As every failed ASK inside a transaction block: the block is failed.
					if st := conn.PgConn().TxStatus(); st != 'E' {
						t.Fatalf("tx status %c after refused ASK in a transaction, want E", st)
					}
					if _, err := conn.Exec(ctx, "ROLLBACK"); err != nil {
						t.Fatal(err)
					}
				}
				if st := conn.PgConn().TxStatus(); st != 'I' {
					t.Errorf("tx status %c, want I", st)
				}
				if err := conn.QueryRow(ctx, "select 41 + 1").Scan(&n); err != nil || n != 42 {
					t.Fatalf("session unusable after refused ASK: %d %v", n, err)
				}
				// The same session answers a question within the limit afterwards.
				if err := conn.QueryRow(ctx, "ASK "+atLimit, p.mode).Scan(&n); err != nil || n != 200 {
					t.Fatalf("ASK after the refusal: %d %v", n, err)
				}
			})
		}
	}
}

func TestMaxQuestionLengthEmbedded(t *testing.T) {
	over := question("customers per country", 31)
	e := setup(t, map[string][]string{over: {"SELECT country, count(*) AS n FROM customers GROUP BY country"}},
		func(o *askservice.Options) { o.MaxQuestionLength = 30 })
	conn := connect(t, e.url("postgres"))
	var total int
	err := conn.QueryRow(context.Background(), `SELECT sum(n) FROM (ASK `+over+`) "Custom SQL Query"`,
		pgx.QueryExecModeSimpleProtocol).Scan(&total)
	wantLimitError(t, err, "is 31 characters long; the limit is 30", "Shorten the question.")
	if e.prompts() != 0 {
		t.Errorf("engine called for a refused embedded question")
	}
}

// probeSQL creates probe(i), which returns i and raises the NOTICE "probe ran" for i = 1: a
// query calling it over generate_series(1, n) shows the client whether it ran. The planner
// estimates generate_series(1, n) with constant bounds at exactly n rows (its support
// function, PostgreSQL 12+).
const probeSQL = `CREATE FUNCTION probe(i bigint) RETURNS bigint LANGUAGE plpgsql VOLATILE AS
$$BEGIN IF i = 1 THEN RAISE NOTICE 'probe ran'; END IF; RETURN i; END$$`

func probeQuery(n int) string {
	return fmt.Sprintf("SELECT probe(g) AS g FROM generate_series(1, %d) AS g", n)
}

func TestMaxResultRows(t *testing.T) {
	const limit = 1000
	answers := map[string][]string{
		"many rows":     {probeQuery(5000)},
		"exactly limit": {probeQuery(limit)},
		"few rows":      {probeQuery(10)},
	}
	const overMsg = "the generated query would return about 5000 rows (planner estimate); the limit is 1000 (ask.max-result-rows)"
	const hint = "Ask a narrower question, or raise ask.max-result-rows."

	for _, p := range protocols {
		for _, tc := range []struct {
			name     string
			question string
			inTx     bool
			rows     int // 0: refused
		}{
			{"over the limit", "many rows", false, 0},
			{"at the limit", "exactly limit", false, limit},
			{"under the limit", "few rows", false, 10},
			{"over the limit, in a transaction", "many rows", true, 0},
			{"under the limit, in a transaction", "few rows", true, 10},
		} {
			t.Run(p.name+"/"+tc.name, func(t *testing.T) {
				e := setup(t, answers, func(o *askservice.Options) { o.MaxResultRows = limit })
				ctx := context.Background()
				if err := e.cluster.Exec(ctx, e.db, probeSQL); err != nil {
					t.Fatal(err)
				}
				// Twice, each time on a new session (a session's own memo and pgx's statement
				// cache would skip the second Parse): the second time the translation comes
				// from translate's cache, where no EXPLAIN check ran, and the limit must hold
				// all the same.
				for round, cached := range []bool{false, true} {
					conn := connectNotices(t, e.url("postgres"))
					if tc.inTx {
						if _, err := conn.Exec(ctx, "BEGIN"); err != nil {
							t.Fatal(err)
						}
					}
					got, err := pgx.CollectRows(mustQuery(conn.Conn, "ASK "+tc.question, p.mode), pgx.RowTo[int64])
					ev := e.lastEvent(t)
					if ev.Cached != cached {
						t.Fatalf("round %d: event Cached = %v, want %v", round, ev.Cached, cached)
					}
					if tc.rows > 0 {
						if err != nil || len(got) != tc.rows {
							t.Fatalf("round %d: %d rows, err %v; want %d", round, len(got), err, tc.rows)
						}
						// The positive control of the probe: when the query runs, it shows.
						if conn.notice("probe ran") == nil || ev.Outcome != "ok" {
							t.Fatalf("round %d: no probe notice, or outcome %q", round, ev.Outcome)
						}
					} else {
						pe := wantLimitError(t, err, overMsg, hint)
						if pe.Detail != probeQuery(5000) {
							t.Errorf("detail %q, want the generated SQL", pe.Detail)
						}
						if conn.notice("probe ran") != nil {
							t.Fatalf("round %d: the refused query ran", round)
						}
						if conn.notice("pgask: SELECT") != nil {
							t.Errorf("round %d: the refused SQL was announced as run", round)
						}
						if ev.Outcome != "too_many_rows" || ev.SQL != probeQuery(5000) {
							t.Errorf("round %d: event outcome %q sql %q", round, ev.Outcome, ev.SQL)
						}
					}
					if e.calls(tc.question) != 1 {
						t.Fatalf("round %d: engine called %d times, want 1 (cached)", round, e.calls(tc.question))
					}
					wantTx := byte('I')
					if tc.inTx {
						wantTx = 'T'
						if tc.rows == 0 {
							wantTx = 'E' // as every failed ASK inside a transaction block
						}
					}
					if st := conn.PgConn().TxStatus(); st != wantTx {
						t.Fatalf("round %d: tx status %c, want %c", round, st, wantTx)
					}
					if tc.inTx {
						if _, err := conn.Exec(ctx, "ROLLBACK"); err != nil {
							t.Fatal(err)
						}
					}
					var n int
					if err := conn.QueryRow(ctx, "select 41 + 1").Scan(&n); err != nil || n != 42 {
						t.Fatalf("round %d: session unusable: %d %v", round, n, err)
					}
				}
			})
		}
	}
}

// mustQuery runs sql; an error comes back through the rows (as pgx.CollectRows expects).
func mustQuery(conn *pgx.Conn, sql string, mode pgx.QueryExecMode) pgx.Rows {
	rows, _ := conn.Query(context.Background(), sql, mode)
	return rows
}

// TestMaxResultRowsDryRunAndEmbedded: EXPLAIN ASK still shows SQL over the limit (with a
// WARNING that running it would be refused, and without running it); a parenthesised ASK is
// held to the limit by its own generated query.
func TestMaxResultRowsDryRunAndEmbedded(t *testing.T) {
	e := setup(t, map[string][]string{"many rows": {probeQuery(5000)}, "few rows": {probeQuery(10)}},
		func(o *askservice.Options) { o.MaxResultRows = 1000 })
	ctx := context.Background()
	if err := e.cluster.Exec(ctx, e.db, probeSQL); err != nil {
		t.Fatal(err)
	}
	conn := connectNotices(t, e.url("postgres"))
	for _, p := range protocols {
		for _, tc := range []struct {
			question string
			warned   bool
		}{{"many rows", true}, {"few rows", false}} {
			conn.clearNotices()
			var sql string
			if err := conn.QueryRow(ctx, "EXPLAIN ASK "+tc.question, p.mode).Scan(&sql); err != nil {
				t.Fatalf("%s dry run %q: %v", p.name, tc.question, err)
			}
			if sql != answers(tc.question) {
				t.Errorf("%s dry run %q: sql %q", p.name, tc.question, sql)
			}
			w := conn.notice("running it would be refused")
			if (w != nil) != tc.warned {
				t.Errorf("%s dry run %q: warning %+v, want warned=%v", p.name, tc.question, w, tc.warned)
			}
			if w != nil && (w.Code != "54000" || w.Severity != "WARNING" || !strings.Contains(w.Message, "about 5000 rows")) {
				t.Errorf("%s dry run warning: %+v", p.name, w)
			}
			if conn.notice("probe ran") != nil {
				t.Errorf("%s dry run %q ran the query", p.name, tc.question)
			}
			if ev := e.lastEvent(t); ev.Outcome != "dry_run" {
				t.Errorf("%s dry run %q: outcome %q", p.name, tc.question, ev.Outcome)
			}
		}
	}

	conn.clearNotices()
	var n int
	err := conn.QueryRow(ctx, `SELECT count(*) FROM (ASK many rows) "Custom SQL Query"`, pgx.QueryExecModeSimpleProtocol).Scan(&n)
	wantLimitError(t, err, "about 5000 rows (planner estimate); the limit is 1000", "Ask a narrower question, or raise ask.max-result-rows.")
	if conn.notice("probe ran") != nil {
		t.Error("the refused embedded query ran")
	}
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM (ASK few rows) "Custom SQL Query"`, pgx.QueryExecModeSimpleProtocol).Scan(&n); err != nil || n != 10 {
		t.Fatalf("embedded under the limit: %d %v", n, err)
	}
}

func answers(question string) string {
	switch question {
	case "many rows":
		return probeQuery(5000)
	case "few rows":
		return probeQuery(10)
	}
	return ""
}

// TestNoLimitsByDefault: with the zero Options a long question and a large estimate pass.
func TestNoLimitsByDefault(t *testing.T) {
	long := question("how many customers", 5000)
	e := setup(t, map[string][]string{long: {countSQL}, "many rows": {"SELECT g FROM generate_series(1, 5000) AS g"}}, nil)
	conn := connect(t, e.url("postgres"))
	ctx := context.Background()
	var n int
	if err := conn.QueryRow(ctx, "ASK "+long).Scan(&n); err != nil || n != 200 {
		t.Fatalf("long question without a limit: %d %v", n, err)
	}
	rows, err := pgx.CollectRows(mustQuery(conn, "ASK many rows", pgx.QueryExecModeSimpleProtocol), pgx.RowTo[int64])
	if err != nil || len(rows) != 5000 {
		t.Fatalf("large result without a limit: %d rows, %v", len(rows), err)
	}
}

// TestMaxResultRowsAfterRepairInTransaction: inside a transaction block the EXPLAIN check
// of a broken first answer is rolled back to its savepoint, the repaired SQL's estimate is
// the one held to the limit, and the client's transaction goes on.
func TestMaxResultRowsAfterRepairInTransaction(t *testing.T) {
	e := setup(t, map[string][]string{
		"total stock": {"SELECT sum(stock) FROM products", "SELECT sum(in_stock) AS stock FROM products"},
		"all stock":   {"SELECT in_stok FROM products", "SELECT in_stock FROM products"},
	}, func(o *askservice.Options) { o.MaxResultRows = 10 })
	conn := connect(t, e.url("postgres"))
	ctx := context.Background()
	beginWithWrite(t, conn)
	var stock int
	if err := conn.QueryRow(ctx, "ASK total stock").Scan(&stock); err != nil {
		t.Fatalf("repaired ASK in a transaction: %v", err)
	}
	if ev := e.lastEvent(t); ev.Attempts != 2 || ev.Outcome != "ok" || conn.PgConn().TxStatus() != 'T' {
		t.Fatalf("event %+v, tx status %c", ev, conn.PgConn().TxStatus())
	}
	var n int
	if err := conn.QueryRow(ctx, "select count(*) from categories where name = 'Toys'").Scan(&n); err != nil || n != 1 {
		t.Fatalf("client's transaction lost its insert: %d %v", n, err)
	}
	// The repaired SQL lists every product (the shop has more than 10): refused.
	_, err := conn.Exec(ctx, "ASK all stock")
	pe := wantLimitError(t, err, "the limit is 10 (ask.max-result-rows)", "Ask a narrower question, or raise ask.max-result-rows.")
	if pe.Detail != "SELECT in_stock FROM products" {
		t.Errorf("detail %q", pe.Detail)
	}
	if ev := e.lastEvent(t); ev.Attempts != 2 || ev.Outcome != "too_many_rows" {
		t.Errorf("event %+v", ev)
	}
	if st := conn.PgConn().TxStatus(); st != 'E' {
		t.Errorf("tx status %c, want E", st)
	}
}
