package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgask/pgask/internal/asktest"
	"github.com/pgask/pgask/translate/sqleval"
)

// hostileSQL gives the shop functions that write, which no parser can see in a SELECT.
const hostileSQL = `
CREATE TABLE visits (n int NOT NULL);
INSERT INTO visits VALUES (0);
SELECT lo_from_bytea(4242, 'secret');
CREATE FUNCTION bump() RETURNS int LANGUAGE sql AS $$ UPDATE visits SET n = n + 1 RETURNING n $$;
CREATE FUNCTION bump_folded() RETURNS int LANGUAGE plpgsql IMMUTABLE AS $$BEGIN PERFORM bump(); RETURN 1; END$$;
CREATE FUNCTION drop_lo() RETURNS int LANGUAGE sql AS $$ SELECT lo_unlink(4242) $$;
CREATE VIEW visit_counter AS SELECT bump() AS n;
`

// TestAskAndEvalNeverWrite: `pgask ask` and pgask eval's runner, in front of an
// OpenAI-compatible engine that answers every question with a write, change nothing: the
// statements are refused (42501), fail in PostgreSQL's read-only state (25006), or run and
// are rolled back.
func TestAskAndEvalNeverWrite(t *testing.T) {
	c, db := shopCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := c.Exec(ctx, db, hostileSQL); err != nil {
		t.Fatal(err)
	}
	cases := []struct{ question, sql, code string }{
		{"delete all customers", "DELETE FROM customers", "42501"},
		{"visits in the select list", "SELECT bump() AS n", "25006"},
		{"visits through a view", "SELECT n FROM visit_counter", "25006"},
		{"visits folded by the planner", "SELECT bump_folded() AS n", "25006"},
		{"large object removed by a function", "SELECT drop_lo() AS r", ""},
	}
	answers := map[string]string{}
	for _, tc := range cases {
		answers[tc.question] = tc.sql
	}
	llm := asktest.OpenAIServer(t, answers)
	engine := []string{"--engine", "openai", "--openai-url", llm, "--openai-model", "hostile", "--ask-grammar", "off"}

	direct, err := pgx.Connect(ctx, c.URL("postgres", db))
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close(ctx)
	state := func() string {
		t.Helper()
		var s string
		err := direct.QueryRow(ctx, `SELECT concat_ws(' ', (SELECT n FROM visits), (SELECT count(*) FROM pg_largeobject_metadata),
			(SELECT count(*) FROM customers))`).Scan(&s)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	before := state()

	for _, tc := range cases {
		out, err := askCommand(t, append([]string{"--url", c.URL("postgres", db)}, append(engine, tc.question)...)...)
		switch {
		case tc.code == "" && err != nil:
			t.Errorf("pgask ask %q: %v", tc.question, err)
		case tc.code != "" && (err == nil || !strings.Contains(err.Error(), "SQLSTATE "+tc.code)):
			t.Errorf("pgask ask %q: want SQLSTATE %s, got %v\n%s", tc.question, tc.code, err, out)
		}
		if got := state(); got != before {
			t.Fatalf("pgask ask %q changed the database: %s, was %s", tc.question, got, before)
		}
	}

	addr := startServe(t, append([]string{"--upstream", c.Addr()}, engine...)...)
	qs := make([]sqleval.Question, len(cases))
	for i, tc := range cases {
		qs[i] = sqleval.Question{DBName: db, Category: "hostile", Question: tc.question, Query: "SELECT 1", Line: i + 1}
	}
	connect := func(ctx context.Context, dbname string, onNotice func(*pgconn.Notice)) (*pgconn.PgConn, error) {
		u, err := parseClientURL(c.URL("postgres", dbname))
		if err != nil {
			return nil, err
		}
		cc, err := u.connectConfig(addr, "", onNotice)
		if err != nil {
			return nil, err
		}
		return pgconn.ConnectConfig(ctx, cc)
	}
	recs, err := runEval(ctx, qs, connect, evalOptions{Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != len(cases) {
		t.Fatalf("%d records for %d questions", len(recs), len(cases))
	}
	for i, r := range recs {
		if code := cases[i].code; code != "" && !strings.Contains(r.Error, "SQLSTATE "+code) {
			t.Errorf("pgask eval %q: error %q, want SQLSTATE %s", cases[i].question, r.Error, code)
		}
	}
	if got := state(); got != before {
		t.Fatalf("pgask eval changed the database: %s, was %s", got, before)
	}
}
