package ask_test

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/pgask/pgask/askservice"
)

// TestEmptyResultRepair: the scripted model first answers with SQL that returns no rows (the
// country code in lower case) and, asked again with that fact, with the right SQL. Through
// the simple and the extended protocol, outside and inside a transaction block, the client
// gets only the second answer's rows (and its NOTICE); the event counts both translations.
// A yes/no question, a second empty answer and the option turned off get no (further) repair.
func TestEmptyResultRepair(t *testing.T) {
	const (
		empty = "SELECT email FROM customers WHERE country = 'de' ORDER BY email LIMIT 3"
		right = "SELECT email FROM customers WHERE country = 'DE' ORDER BY email LIMIT 3"
	)
	type mode int
	const (
		simple mode = iota
		extended
		block
		extendedBlock
	)
	tests := []struct {
		name       string
		question   string
		answers    []string
		mode       mode
		off        bool
		wantRows   bool
		wantRepair bool
		wantCalls  int
	}{
		{name: "simple", question: "emails of customers in germany", answers: []string{empty, right}, mode: simple, wantRows: true, wantRepair: true, wantCalls: 2},
		{name: "extended", question: "emails of german customers", answers: []string{empty, right}, mode: extended, wantRows: true, wantRepair: true, wantCalls: 2},
		{name: "in a block", question: "emails of customers from germany", answers: []string{empty, right}, mode: block, wantRows: true, wantRepair: true, wantCalls: 2},
		{name: "extended in a block", question: "the emails of customers in germany", answers: []string{empty, right}, mode: extendedBlock, wantRows: true, wantRepair: true, wantCalls: 2},
		{name: "yes/no question", question: "are there customers in germany", answers: []string{empty, right}, mode: simple, wantCalls: 1},
		{name: "if any", question: "customers in germany, if any", answers: []string{empty, right}, mode: simple, wantCalls: 1},
		{name: "empty again", question: "list customers in germany", answers: []string{empty, "SELECT email FROM customers WHERE country = 'xx'"}, mode: simple, wantRepair: true, wantCalls: 2},
		{name: "rows at once", question: "show customers in germany", answers: []string{right, empty}, mode: simple, wantRows: true, wantCalls: 1},
		{name: "off", question: "customer emails in germany", answers: []string{empty, right}, mode: simple, off: true, wantCalls: 1},
	}
	answers := map[string][]string{}
	for _, tt := range tests {
		answers[tt.question] = tt.answers
	}
	on := setup(t, answers, func(o *askservice.Options) { o.EmptyRepair = true })
	off := setup(t, answers, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := on
			if tt.off {
				e = off
			}
			ctx := context.Background()
			conn := connect(t, e.url("postgres"))
			execMode := pgx.QueryExecModeSimpleProtocol
			if tt.mode == extended || tt.mode == extendedBlock {
				execMode = pgx.QueryExecModeCacheDescribe
			}
			if tt.mode == block || tt.mode == extendedBlock {
				if _, err := conn.Exec(ctx, "BEGIN"); err != nil {
					t.Fatal(err)
				}
			}
			rows, err := conn.Query(ctx, "ASK "+tt.question, execMode)
			if err != nil {
				t.Fatal(err)
			}
			got, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				t.Fatal(err)
			}
			if (len(got) > 0) != tt.wantRows {
				t.Errorf("rows = %q, want rows: %v", got, tt.wantRows)
			}
			for _, r := range got {
				if !strings.Contains(r, "@") {
					t.Errorf("row %q is not an email", r)
				}
			}
			if tt.mode == block || tt.mode == extendedBlock {
				// The block is as the client left it: not read-only, not failed.
				if st := conn.PgConn().TxStatus(); st != 'T' {
					t.Fatalf("tx status %c, want T", st)
				}
				if _, err := conn.Exec(ctx, "CREATE TEMP TABLE after_ask (x int)"); err != nil {
					t.Fatalf("write after the ASK in the block: %v", err)
				}
				if _, err := conn.Exec(ctx, "ROLLBACK"); err != nil {
					t.Fatal(err)
				}
			}
			ev := <-e.events
			if ev.EmptyRepair != tt.wantRepair || ev.Outcome != "ok" {
				t.Errorf("event: empty repair %v, outcome %s; want %v, ok", ev.EmptyRepair, ev.Outcome, tt.wantRepair)
			}
			if ev.Attempts != tt.wantCalls {
				t.Errorf("event attempts = %d, want %d", ev.Attempts, tt.wantCalls)
			}
			if rec := ev.Record(); rec.EmptyRepair != tt.wantRepair || rec.Repairs != tt.wantCalls-1 {
				t.Errorf("audit record: empty_repair %v, repairs %d", rec.EmptyRepair, rec.Repairs)
			}
			e.engine.mu.Lock()
			calls := e.engine.calls[tt.question]
			var last string
			for _, p := range e.engine.prompts {
				if strings.Contains(p, "[QUESTION]"+tt.question) {
					last = p
				}
			}
			e.engine.mu.Unlock()
			if calls != tt.wantCalls {
				t.Errorf("generations = %d, want %d", calls, tt.wantCalls)
			}
			if tt.wantRepair && (!strings.Contains(last, "returned no rows") || !strings.Contains(last, empty)) {
				t.Errorf("the repair prompt does not show the empty answer and why:\n%s", last)
			}
		})
	}
}

// TestEmptyRepairNoticeShowsTheAnswerRun: psql sees one NOTICE, with the SQL that ran, and
// its rows.
func TestEmptyRepairNoticeShowsTheAnswerRun(t *testing.T) {
	e := setup(t, map[string][]string{"customers in france": {
		"SELECT full_name FROM customers WHERE country = 'france'",
		"SELECT count(*) AS french FROM customers WHERE country = 'FR'",
	}}, func(o *askservice.Options) { o.EmptyRepair = true })
	out, err := psql(t, e, "-c", "ASK customers in france")
	if err != nil {
		t.Fatalf("psql: %v\n%s", err, out)
	}
	if strings.Count(out, "NOTICE:") != 1 || !strings.Contains(out, "NOTICE:  pgask: SELECT count(*) AS french") {
		t.Errorf("want one NOTICE with the repaired SQL:\n%s", out)
	}
	if strings.Contains(out, "full_name") || !strings.Contains(out, "french") || !strings.Contains(out, "(1 row)") {
		t.Errorf("want only the repaired SQL's result:\n%s", out)
	}
}
