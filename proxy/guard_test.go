package proxy

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgask/pgask/internal/pgtest"
)

// guardSQL creates, in the shared cluster's postgres database, a one-row table and functions
// that write to it or change a setting, for translated statements to call.
const guardSQL = `
CREATE TABLE IF NOT EXISTS guard_t (x int);
CREATE TABLE IF NOT EXISTS guard_log (y int);
TRUNCATE guard_t, guard_log;
INSERT INTO guard_t VALUES (0);
CREATE OR REPLACE FUNCTION guard_bump() RETURNS int LANGUAGE sql AS $$ UPDATE guard_t SET x = x + 1 RETURNING x $$;
-- Mislabelled IMMUTABLE: the planner runs it while it folds constants, at Bind.
CREATE OR REPLACE FUNCTION guard_folded() RETURNS int LANGUAGE plpgsql IMMUTABLE AS $$BEGIN PERFORM guard_bump(); RETURN 1; END$$;
CREATE OR REPLACE FUNCTION guard_settings() RETURNS text LANGUAGE sql AS $$ SELECT set_config('search_path', 'pwned', false) $$;
`

// timeoutInterceptor is countInterceptor with a statement timeout for translated statements.
type timeoutInterceptor struct{ countInterceptor }

func (timeoutInterceptor) StatementTimeout() time.Duration { return 1234 * time.Millisecond }

// TestReadOnlyGuardXproto: statements an Interceptor translated in Parse run read-only at
// every Bind and Execute, in autocommit and in transaction blocks; the client sees exactly
// the messages PostgreSQL sends for its own statements (pgask's are consumed), and the
// session's state afterwards is as before.
func TestReadOnlyGuardXproto(t *testing.T) {
	c := pgtest.Shared(t)
	if err := c.Exec(context.Background(), "postgres", guardSQL); err != nil {
		t.Fatal(err)
	}
	_, addr := startProxy(t, Options{Upstream: Upstream{Addr: c.Addr(), TLSMode: TLSDisable}, Interceptor: countInterceptor{t}})
	const ro = "ASK run select current_setting('transaction_read_only')"
	const show = "select current_setting('transaction_read_only')"
	prepare := []pgproto3.FrontendMessage{&pgproto3.Parse{Name: "a", Query: ro}, &pgproto3.Sync{}}
	with := func(first []pgproto3.FrontendMessage, rest ...pgproto3.FrontendMessage) []pgproto3.FrontendMessage {
		return append(append([]pgproto3.FrontendMessage{}, first...), rest...)
	}
	cases := []xprotoCase{
		{
			name: "autocommit: a write in the translated statement is refused by the server, the session stays read-write",
			send: []pgproto3.FrontendMessage{
				&pgproto3.Parse{Name: "a", Query: "ASK run select guard_bump()"},
				&pgproto3.Bind{PreparedStatement: "a"},
				&pgproto3.Execute{},
				&pgproto3.Sync{},
				&pgproto3.Query{String: show + ", x from guard_t"},
			},
			want: []string{"1", "2", "E 25006", "Z I", "T", "D off,0", "C SELECT 1", "Z I"},
		},
		{
			name: "autocommit: after a failed translated statement, a failed ASK Parse is still reported",
			send: []pgproto3.FrontendMessage{
				&pgproto3.Parse{Name: "a", Query: "ASK run select guard_bump()"},
				&pgproto3.Bind{PreparedStatement: "a"},
				&pgproto3.Execute{},
				&pgproto3.Sync{},
				&pgproto3.Parse{Name: "b", Query: "ASK fail"},
				&pgproto3.Sync{},
			},
			want: []string{"1", "2", "E 25006", "Z I", "E 22023", "Z I"},
		},
		{
			name: "autocommit: the statements after a translated one in its pipeline run read-write",
			send: []pgproto3.FrontendMessage{
				&pgproto3.Parse{Name: "a", Query: ro},
				&pgproto3.Bind{PreparedStatement: "a"},
				&pgproto3.Execute{},
				&pgproto3.Parse{Query: "insert into guard_log values (1)"},
				&pgproto3.Bind{},
				&pgproto3.Execute{},
				&pgproto3.Parse{Query: show + ", count(*) from guard_log"},
				&pgproto3.Bind{},
				&pgproto3.Execute{},
				&pgproto3.Sync{},
				&pgproto3.Query{String: "delete from guard_log"},
			},
			want: []string{"1", "2", "D on", "C SELECT 1", "1", "2", "C INSERT 0 1", "1", "2", "D off,1", "C SELECT 1", "Z I", "C DELETE 1", "Z I"},
		},
		{
			name: "block: read-only inside the scope only, the block's own writes before and after stay",
			send: []pgproto3.FrontendMessage{
				&pgproto3.Query{String: "begin"},
				&pgproto3.Query{String: "insert into guard_log values (1)"},
				&pgproto3.Parse{Name: "a", Query: ro},
				&pgproto3.Bind{PreparedStatement: "a"},
				&pgproto3.Execute{},
				&pgproto3.Sync{},
				&pgproto3.Query{String: "insert into guard_log values (2); " + show + ", count(*) from guard_log"},
				&pgproto3.Query{String: "rollback"},
			},
			want: []string{"C BEGIN", "Z T", "C INSERT 0 1", "Z T", "1", "2", "D on", "C SELECT 1", "Z T",
				"C INSERT 0 1", "T", "D off,2", "C SELECT 1", "Z T", "C ROLLBACK", "Z I"},
		},
		{
			name: "block: a failing translated statement fails the block; ROLLBACK TO the client's savepoint restores it",
			send: []pgproto3.FrontendMessage{
				&pgproto3.Query{String: "begin; savepoint c"},
				&pgproto3.Parse{Name: "a", Query: "ASK run select guard_bump()"},
				&pgproto3.Bind{PreparedStatement: "a"},
				&pgproto3.Execute{},
				&pgproto3.Sync{},
				&pgproto3.Query{String: "select 1"},
				&pgproto3.Query{String: "rollback to savepoint c; insert into guard_log values (3); " + show},
				&pgproto3.Query{String: "rollback"},
			},
			want: []string{"C BEGIN", "C SAVEPOINT", "Z T", "1", "2", "E 25006", "Z E", "E 25P02", "Z E",
				"C ROLLBACK", "C INSERT 0 1", "T", "D off", "C SELECT 1", "Z T", "C ROLLBACK", "Z I"},
		},
		{
			name: "block: a portal fetched in parts runs read-only at every Execute",
			send: []pgproto3.FrontendMessage{
				&pgproto3.Query{String: "begin"},
				&pgproto3.Parse{Name: "a", Query: "ASK run select g, current_setting('transaction_read_only') from generate_series(1, 3) g"},
				&pgproto3.Bind{DestinationPortal: "p", PreparedStatement: "a"},
				&pgproto3.Execute{Portal: "p", MaxRows: 2},
				&pgproto3.Sync{},
				&pgproto3.Execute{Portal: "p", MaxRows: 2},
				&pgproto3.Sync{},
				&pgproto3.Query{String: show},
				&pgproto3.Query{String: "rollback"},
			},
			want: []string{"C BEGIN", "Z T", "1", "2", "D 1,on", "D 2,on", "*pgproto3.PortalSuspended", "Z T", "D 3,on", "C SELECT 1", "Z T",
				"T", "D off", "C SELECT 1", "Z T", "C ROLLBACK", "Z I"},
		},
		{
			name: "block: an ASK's portal that another statement closed is refused with a clear error",
			send: []pgproto3.FrontendMessage{
				&pgproto3.Query{String: "begin"},
				&pgproto3.Parse{Name: "a", Query: "ASK run select generate_series(1, 3)"},
				&pgproto3.Bind{DestinationPortal: "p", PreparedStatement: "a"},
				&pgproto3.Execute{Portal: "p", MaxRows: 1},
				&pgproto3.Sync{},
				&pgproto3.Query{String: "select 5"},
				&pgproto3.Execute{Portal: "p", MaxRows: 1},
				&pgproto3.Sync{},
				&pgproto3.Query{String: "rollback"},
			},
			want: []string{"C BEGIN", "Z T", "1", "2", "D 1", "*pgproto3.PortalSuspended", "Z T", "T", "D 5", "C SELECT 1", "Z T", "E 0A000", "Z E", "C ROLLBACK", "Z I"},
		},
		{
			name: "autocommit: an ASK after the client's own statements of a pipeline is refused, the batch skipped",
			send: with(prepare,
				&pgproto3.Parse{Query: "insert into guard_log values (4)"},
				&pgproto3.Bind{},
				&pgproto3.Execute{},
				&pgproto3.Bind{PreparedStatement: "a"},
				&pgproto3.Execute{},
				&pgproto3.Sync{},
				&pgproto3.Query{String: "select count(*) from guard_log"},
			),
			want: []string{"1", "Z I", "1", "2", "C INSERT 0 1", "E 0A000", "Z I", "T", "D 0", "C SELECT 1", "Z I"},
		},
		{
			name: "a BEGIN earlier in the pipeline (JDBC) puts the scope inside the block",
			send: with(prepare,
				&pgproto3.Parse{Query: "begin"},
				&pgproto3.Bind{},
				&pgproto3.Execute{},
				&pgproto3.Bind{PreparedStatement: "a"},
				&pgproto3.Execute{},
				&pgproto3.Parse{Query: show},
				&pgproto3.Bind{},
				&pgproto3.Execute{},
				&pgproto3.Sync{},
				&pgproto3.Query{String: "rollback"},
			),
			want: []string{"1", "Z I", "1", "2", "C BEGIN", "2", "D on", "C SELECT 1", "1", "2", "D off", "C SELECT 1", "Z T", "C ROLLBACK", "Z I"},
		},
		{
			name: "a COMMIT earlier in the pipeline leaves the state unknown: refused",
			send: with(prepare,
				&pgproto3.Query{String: "begin"},
				&pgproto3.Parse{Query: "commit"},
				&pgproto3.Bind{},
				&pgproto3.Execute{},
				&pgproto3.Bind{PreparedStatement: "a"},
				&pgproto3.Execute{},
				&pgproto3.Sync{},
			),
			want: []string{"1", "Z I", "C BEGIN", "Z T", "1", "2", "C COMMIT", "E 0A000", "Z I"},
		},
		{
			name: "a named translated statement executed again and again runs read-only every time",
			send: with(prepare,
				&pgproto3.Bind{PreparedStatement: "a"}, &pgproto3.Execute{}, &pgproto3.Sync{},
				&pgproto3.Bind{PreparedStatement: "a"}, &pgproto3.Execute{}, &pgproto3.Sync{},
				&pgproto3.Bind{PreparedStatement: "a"}, &pgproto3.Execute{},
				&pgproto3.Bind{PreparedStatement: "a"}, &pgproto3.Execute{}, &pgproto3.Sync{},
				&pgproto3.Query{String: show},
			),
			want: []string{"1", "Z I", "2", "D on", "C SELECT 1", "Z I", "2", "D on", "C SELECT 1", "Z I",
				"2", "D on", "C SELECT 1", "2", "D on", "C SELECT 1", "Z I", "T", "D off", "C SELECT 1", "Z I"},
		},
		{
			name: "functions the planner runs at Bind run read-only",
			send: []pgproto3.FrontendMessage{
				&pgproto3.Parse{Name: "a", Query: "ASK run select guard_folded()"},
				&pgproto3.Bind{PreparedStatement: "a"},
				&pgproto3.Execute{},
				&pgproto3.Sync{},
				&pgproto3.Query{String: "select x from guard_t"},
			},
			want: []string{"1", "E 25006", "Z I", "T", "D 0", "C SELECT 1", "Z I"},
		},
		{
			name: "settings a translated statement changes are rolled back with it",
			send: []pgproto3.FrontendMessage{
				&pgproto3.Parse{Name: "a", Query: "ASK run select guard_settings()"},
				&pgproto3.Bind{PreparedStatement: "a"},
				&pgproto3.Execute{},
				&pgproto3.Sync{},
				&pgproto3.Query{String: "begin"},
				&pgproto3.Bind{PreparedStatement: "a"},
				&pgproto3.Execute{},
				&pgproto3.Sync{},
				&pgproto3.Query{String: "show search_path"},
				&pgproto3.Query{String: "commit"},
			},
			want: []string{"1", "2", "D pwned", "C SELECT 1", "Z I", "C BEGIN", "Z T", "2", "D pwned", "C SELECT 1", "Z T",
				"T", `D "$user", public`, "C SHOW", "Z T", "C COMMIT", "Z I"},
		},
		{
			name: "a closed translated statement's name holds the client's own statement again",
			send: with(prepare,
				&pgproto3.Close{ObjectType: 'S', Name: "a"},
				&pgproto3.Parse{Name: "a", Query: show},
				&pgproto3.Bind{PreparedStatement: "a"},
				&pgproto3.Execute{},
				&pgproto3.Sync{},
			),
			want: []string{"1", "Z I", "3", "1", "2", "D off", "C SELECT 1", "Z I"},
		},
		{
			name: "a Close skipped after an error leaves the statement translated",
			send: with(prepare,
				&pgproto3.Parse{Query: "select 1/x from guard_t"},
				&pgproto3.Bind{},
				&pgproto3.Execute{},
				&pgproto3.Close{ObjectType: 'S', Name: "a"},
				&pgproto3.Sync{},
				&pgproto3.Bind{PreparedStatement: "a"},
				&pgproto3.Execute{},
				&pgproto3.Sync{},
			),
			want: []string{"1", "Z I", "1", "2", "E 22012", "Z I", "2", "D on", "C SELECT 1", "Z I"},
		},
		{
			name: "the unnamed statement is the client's own again after a plain Parse",
			send: []pgproto3.FrontendMessage{
				&pgproto3.Parse{Query: ro},
				&pgproto3.Bind{},
				&pgproto3.Execute{},
				&pgproto3.Sync{},
				&pgproto3.Parse{Query: show},
				&pgproto3.Bind{},
				&pgproto3.Execute{},
				&pgproto3.Sync{},
			},
			want: []string{"1", "2", "D on", "C SELECT 1", "Z I", "1", "2", "D off", "C SELECT 1", "Z I"},
		},
		{
			name: "two translated statements of one autocommit pipeline share a scope",
			send: []pgproto3.FrontendMessage{
				&pgproto3.Parse{Name: "a", Query: ro},
				&pgproto3.Parse{Name: "b", Query: "ASK run select 2"},
				&pgproto3.Bind{DestinationPortal: "p1", PreparedStatement: "a"},
				&pgproto3.Bind{DestinationPortal: "p2", PreparedStatement: "b"},
				&pgproto3.Execute{Portal: "p1"},
				&pgproto3.Execute{Portal: "p2"},
				&pgproto3.Sync{},
				&pgproto3.Query{String: show},
			},
			want: []string{"1", "1", "2", "2", "D on", "C SELECT 1", "D 2", "C SELECT 1", "Z I", "T", "D off", "C SELECT 1", "Z I"},
		},
		{
			name: "after a Query inside an extended batch pgask cannot place its statements: the Bind is refused",
			send: with(prepare,
				&pgproto3.Parse{Query: "select 1"},
				&pgproto3.Bind{},
				&pgproto3.Execute{},
				&pgproto3.Query{String: "select 2"},
				&pgproto3.Bind{PreparedStatement: "a"},
				&pgproto3.Execute{},
				&pgproto3.Sync{},
			),
			want: []string{"1", "Z I", "1", "2", "D 1", "C SELECT 1", "T", "D 2", "C SELECT 1", "Z I", "E 0A000", "Z I"},
		},
		{
			name: "an extended COPY FROM STDIN with an early Sync (libpq) keeps the answers counted",
			send: with(prepare,
				&pgproto3.Query{String: "create temp table ct (a int)"},
				&pgproto3.Parse{Query: "copy ct from stdin"},
				&pgproto3.Bind{},
				&pgproto3.Execute{},
				&pgproto3.Sync{}, // ignored by the server during COPY
				&pgproto3.CopyData{Data: []byte("7\n")},
				&pgproto3.CopyDone{},
				&pgproto3.Sync{},
				&pgproto3.Bind{PreparedStatement: "a"},
				&pgproto3.Execute{},
				&pgproto3.Sync{},
				&pgproto3.Query{String: "select a from ct"},
			),
			want: []string{"1", "Z I", "C CREATE TABLE", "Z I", "1", "2", "*pgproto3.CopyInResponse", "C COPY 1", "Z I",
				"2", "D on", "C SELECT 1", "Z I", "T", "D 7", "C SELECT 1", "Z I"},
		},
		{
			name: "an ASK after an extended COPY FROM STDIN of the same autocommit pipeline is refused",
			send: with(prepare,
				&pgproto3.Query{String: "create temp table ct (a int)"},
				&pgproto3.Parse{Query: "copy ct from stdin"},
				&pgproto3.Bind{},
				&pgproto3.Execute{},
				&pgproto3.Sync{}, // ignored by the server during COPY
				&pgproto3.CopyData{Data: []byte("7\n")},
				&pgproto3.CopyDone{},
				&pgproto3.Bind{PreparedStatement: "a"},
				&pgproto3.Execute{},
				&pgproto3.Sync{},
				&pgproto3.Query{String: "select count(*) from ct"},
			),
			want: []string{"1", "Z I", "C CREATE TABLE", "Z I", "1", "2", "*pgproto3.CopyInResponse", "C COPY 1", "E 0A000", "Z I",
				"T", "D 0", "C SELECT 1", "Z I"},
		},
		{
			name: "the first ASK of a session must begin its batch",
			send: []pgproto3.FrontendMessage{
				&pgproto3.Parse{Query: "select 1"},
				&pgproto3.Parse{Name: "a", Query: "ASK run select 1"},
				&pgproto3.Sync{},
			},
			want: []string{"1", "E 0A000", "Z I"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { checkXproto(t, addr, tc) })
	}

	_, taddr := startProxy(t, Options{Upstream: Upstream{Addr: c.Addr(), TLSMode: TLSDisable}, Interceptor: timeoutInterceptor{countInterceptor{t}}})
	for _, tc := range []xprotoCase{
		{
			name: "statement timeout inside the scope only (autocommit)",
			send: []pgproto3.FrontendMessage{
				&pgproto3.Parse{Name: "a", Query: "ASK run show statement_timeout"},
				&pgproto3.Bind{PreparedStatement: "a"},
				&pgproto3.Execute{},
				&pgproto3.Sync{},
				&pgproto3.Query{String: "show statement_timeout"},
			},
			want: []string{"1", "2", "D 1234ms", "C SHOW", "Z I", "T", "D 0", "C SHOW", "Z I"},
		},
		{
			name: "statement timeout inside the scope only (block)",
			send: []pgproto3.FrontendMessage{
				&pgproto3.Query{String: "begin"},
				&pgproto3.Parse{Name: "a", Query: "ASK run show statement_timeout"},
				&pgproto3.Bind{PreparedStatement: "a"},
				&pgproto3.Execute{},
				&pgproto3.Sync{},
				&pgproto3.Query{String: "show statement_timeout"},
				&pgproto3.Query{String: "commit"},
			},
			want: []string{"C BEGIN", "Z T", "1", "2", "D 1234ms", "C SHOW", "Z T", "T", "D 0", "C SHOW", "Z T", "C COMMIT", "Z I"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) { checkXproto(t, taddr, tc) })
	}

	// Nothing was written, and pgask left none of its own statements behind.
	got := runXproto(t, addr, []pgproto3.FrontendMessage{
		&pgproto3.Query{String: "select (select x from guard_t), (select count(*) from guard_log)"},
	}, 1)
	if strings.Join(got, " | ") != "T | D 0,0 | C SELECT 1 | Z I" {
		t.Errorf("after the cases: %s", strings.Join(got, " | "))
	}
}
