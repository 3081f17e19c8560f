package proxy

import (
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgask/pgask/internal/pgtest"
)

// Exact message-sequence tests in the style of SPQR's test/xproto: each case sends frontend
// messages in one write (pipelined) and expects exactly this list of backend messages up to
// the given number of ReadyForQuery. Every case runs against plain PostgreSQL first (to prove
// the expectation) and then through pgask, with and without an Interceptor.
type xprotoCase struct {
	name string
	send []pgproto3.FrontendMessage
	want []string
}

func TestXproto(t *testing.T) {
	cases := []xprotoCase{
		{
			name: "error in extended batch skips to Sync",
			send: []pgproto3.FrontendMessage{
				&pgproto3.Parse{Query: "select * from no_such_table"},
				&pgproto3.Bind{},
				&pgproto3.Execute{},
				&pgproto3.Parse{Query: "select 1"},
				&pgproto3.Bind{},
				&pgproto3.Execute{},
				&pgproto3.Sync{},
				&pgproto3.Parse{Query: "select 2"},
				&pgproto3.Bind{},
				&pgproto3.Execute{},
				&pgproto3.Sync{},
			},
			want: []string{"E 42P01", "Z I", "1", "2", "D 2", "C SELECT 1", "Z I"},
		},
		{
			name: "pipelined parse bind execute",
			send: []pgproto3.FrontendMessage{
				&pgproto3.Parse{Name: "s1", Query: "select $1::int + 1"},
				&pgproto3.Bind{PreparedStatement: "s1", Parameters: [][]byte{[]byte("1")}},
				&pgproto3.Execute{},
				&pgproto3.Bind{PreparedStatement: "s1", Parameters: [][]byte{[]byte("41")}},
				&pgproto3.Execute{},
				&pgproto3.Sync{},
				&pgproto3.Bind{PreparedStatement: "s1", Parameters: [][]byte{[]byte("9")}},
				&pgproto3.Execute{},
				&pgproto3.Close{ObjectType: 'S', Name: "s1"},
				&pgproto3.Sync{},
			},
			want: []string{"1", "2", "D 2", "C SELECT 1", "2", "D 42", "C SELECT 1", "Z I", "2", "D 10", "C SELECT 1", "3", "Z I"},
		},
		{
			name: "unnamed statement lives until the next Parse or Query",
			send: []pgproto3.FrontendMessage{
				&pgproto3.Parse{Query: "select 'u'"},
				&pgproto3.Sync{},
				&pgproto3.Bind{},
				&pgproto3.Execute{},
				&pgproto3.Sync{},
				&pgproto3.Query{String: "select 'q'"},
				&pgproto3.Bind{},
				&pgproto3.Execute{},
				&pgproto3.Sync{},
			},
			want: []string{"1", "Z I", "2", "D u", "C SELECT 1", "Z I", "T", "D q", "C SELECT 1", "Z I", "E 26000", "Z I"},
		},
		{
			name: "simple Query in the middle of an extended batch",
			send: []pgproto3.FrontendMessage{
				&pgproto3.Parse{Name: "m", Query: "select 'e1'"},
				&pgproto3.Bind{PreparedStatement: "m"},
				&pgproto3.Execute{},
				&pgproto3.Query{String: "select 'q'"},
				&pgproto3.Bind{PreparedStatement: "m"},
				&pgproto3.Execute{},
				&pgproto3.Sync{},
			},
			want: []string{"1", "2", "D e1", "C SELECT 1", "T", "D q", "C SELECT 1", "Z I", "2", "D e1", "C SELECT 1", "Z I"},
		},
		{
			name: "failed transaction block",
			send: []pgproto3.FrontendMessage{
				&pgproto3.Query{String: "begin"},
				&pgproto3.Parse{Query: "select 1/0"},
				&pgproto3.Bind{},
				&pgproto3.Execute{},
				&pgproto3.Sync{},
				&pgproto3.Query{String: "select 1"},
				&pgproto3.Query{String: "rollback"},
			},
			want: []string{"C BEGIN", "Z T", "1", "E 22012", "Z E", "E 25P02", "Z E", "C ROLLBACK", "Z I"},
		},
		{
			name: "describe statement and portal",
			send: []pgproto3.FrontendMessage{
				&pgproto3.Parse{Name: "d", Query: "select $1::int as a"},
				&pgproto3.Describe{ObjectType: 'S', Name: "d"},
				&pgproto3.Bind{PreparedStatement: "d", Parameters: [][]byte{[]byte("3")}},
				&pgproto3.Describe{ObjectType: 'P'},
				&pgproto3.Execute{},
				&pgproto3.Sync{},
			},
			want: []string{"1", "t", "T", "2", "T", "D 3", "C SELECT 1", "Z I"},
		},
		{
			name: "FunctionCall",
			send: []pgproto3.FrontendMessage{
				&pgproto3.FunctionCall{Function: 1397, ArgFormatCodes: []uint16{0}, Arguments: [][]byte{[]byte("-5")}}, // abs(int4)
				&pgproto3.Query{String: "select 8"},
			},
			want: []string{"V 5", "Z I", "T", "D 8", "C SELECT 1", "Z I"},
		},
		{
			name: "multi-statement Query with an error",
			send: []pgproto3.FrontendMessage{
				&pgproto3.Query{String: "select 1; select 1/0; select 3"},
				&pgproto3.Query{String: ""},
			},
			want: []string{"T", "D 1", "C SELECT 1", "E 22012", "Z I", "I", "Z I"},
		},
	}
	c := pgtest.Shared(t)
	targets := []struct{ name, addr string }{
		{"postgres", c.Addr()},
		{"pgask", proxyFor(t, c)},
	}
	_, icAddr := startProxy(t, Options{Upstream: Upstream{Addr: c.Addr(), TLSMode: TLSDisable}, Interceptor: countInterceptor{t}})
	targets = append(targets, struct{ name, addr string }{"pgask+interceptor", icAddr})
	for _, tg := range targets {
		for _, tc := range cases {
			t.Run(tg.name+"/"+tc.name, func(t *testing.T) { checkXproto(t, tg.addr, tc) })
		}
	}
	// ASK cases, through the test interceptor only.
	for _, tc := range []xprotoCase{
		{
			name: "failed ASK Parse reported in place, rest discarded until Sync",
			send: []pgproto3.FrontendMessage{
				&pgproto3.Parse{Query: "select 1"},
				&pgproto3.Bind{},
				&pgproto3.Execute{},
				&pgproto3.Parse{Query: "ASK fail"},
				&pgproto3.Bind{},
				&pgproto3.Execute{},
				&pgproto3.Sync{},
				&pgproto3.Query{String: "select 5"},
			},
			want: []string{"1", "2", "D 1", "C SELECT 1", "E 22023", "Z I", "T", "D 5", "C SELECT 1", "Z I"},
		},
		{
			name: "failed ASK Parse after an upstream error is not reported twice",
			send: []pgproto3.FrontendMessage{
				&pgproto3.Parse{Query: "select * from no_such_table"},
				&pgproto3.Parse{Query: "ASK fail"},
				&pgproto3.Sync{},
			},
			want: []string{"E 42P01", "Z I"},
		},
		{
			name: "ASK Parse rewritten, pipelined messages wait",
			send: []pgproto3.FrontendMessage{
				&pgproto3.Parse{Name: "a", Query: "ASK count"},
				&pgproto3.Describe{ObjectType: 'S', Name: "a"},
				&pgproto3.Bind{PreparedStatement: "a"},
				&pgproto3.Execute{},
				&pgproto3.Sync{},
				&pgproto3.Query{String: "select 6"},
			},
			want: []string{"1", "t", "T", "2", "D *", "C SELECT 1", "Z I", "T", "D 6", "C SELECT 1", "Z I"},
		},
		{
			name: "ASK after COPY OUT, FunctionCall and an extended COPY FROM STDIN with early Sync",
			send: []pgproto3.FrontendMessage{
				&pgproto3.Query{String: "create temp table t (a int)"},
				&pgproto3.Query{String: "copy (select 1) to stdout"},
				&pgproto3.FunctionCall{Function: 1397, ArgFormatCodes: []uint16{0}, Arguments: [][]byte{[]byte("-5")}},
				&pgproto3.Parse{Query: "copy t from stdin"},
				&pgproto3.Bind{},
				&pgproto3.Execute{},
				&pgproto3.Sync{}, // ignored by the server during COPY, as libpq sends it
				&pgproto3.CopyData{Data: []byte("7\n")},
				&pgproto3.CopyDone{},
				&pgproto3.Sync{},
				&pgproto3.Query{String: "ASK count"},
				&pgproto3.Query{String: "select a from t"},
			},
			want: []string{"C CREATE TABLE", "Z I", "*pgproto3.CopyOutResponse", "*pgproto3.CopyData", "*pgproto3.CopyDone", "C COPY 1", "Z I",
				"V 5", "Z I", "1", "2", "*pgproto3.CopyInResponse", "C COPY 1", "Z I", "T", "D *", "C SELECT 1", "Z I", "T", "D 7", "C SELECT 1", "Z I"},
		},
		{
			// The early Sync is answered: the COPY never started. pgask cannot tell which
			// Syncs the server answered until its answers are in, and then no longer
			// intercepts ASK on the session (the server reports the syntax error), rather
			// than answer it ahead of the server's last ReadyForQuery.
			name: "ASK after an extended COPY FROM STDIN that failed to start, with early Sync",
			send: []pgproto3.FrontendMessage{
				&pgproto3.Parse{Query: "copy no_such_table from stdin"},
				&pgproto3.Bind{},
				&pgproto3.Execute{},
				&pgproto3.Sync{},
				&pgproto3.CopyData{Data: []byte("7\n")},
				&pgproto3.CopyDone{},
				&pgproto3.Sync{},
				&pgproto3.Query{String: "ASK count"},
				&pgproto3.Query{String: "select 8"},
			},
			want: []string{"1", "2", "E 42P01", "Z I", "Z I", "E 42601", "Z I", "T", "D 8", "C SELECT 1", "Z I"},
		},
		{
			name: "ASK after an extended COPY FROM STDIN that failed on a bad row, with Sync after it",
			send: []pgproto3.FrontendMessage{
				&pgproto3.Query{String: "create temp table t (a int)"},
				&pgproto3.Parse{Query: "copy t from stdin"},
				&pgproto3.Bind{},
				&pgproto3.Execute{},
				&pgproto3.CopyData{Data: []byte("x\n")},
				&pgproto3.Sync{},
				&pgproto3.CopyDone{},
				&pgproto3.Sync{},
				&pgproto3.Query{String: "ASK count"},
				&pgproto3.Query{String: "select 9"},
			},
			want: []string{"C CREATE TABLE", "Z I", "1", "2", "*pgproto3.CopyInResponse", "E 22P02", "Z I", "Z I", "E 42601", "Z I",
				"T", "D 9", "C SELECT 1", "Z I"},
		},
		{
			name: "ASK Query pipelined between Queries",
			send: []pgproto3.FrontendMessage{
				&pgproto3.Query{String: "select 4"},
				&pgproto3.Query{String: "ASK count"},
				&pgproto3.Query{String: "begin; select 7"},
				&pgproto3.Query{String: "ASK count"},
				&pgproto3.Query{String: "commit"},
			},
			want: []string{"T", "D 4", "C SELECT 1", "Z I", "T", "D *", "C SELECT 1", "Z I",
				"C BEGIN", "T", "D 7", "C SELECT 1", "Z T", "T", "D *", "C SELECT 1", "Z T", "C COMMIT", "Z I"},
		},
	} {
		t.Run("pgask+interceptor/"+tc.name, func(t *testing.T) { checkXproto(t, icAddr, tc) })
	}
}

func checkXproto(t *testing.T, addr string, tc xprotoCase) {
	t.Helper()
	got := runXproto(t, addr, tc.send, countZ(tc.want))
	ok := len(got) == len(tc.want)
	for i := 0; ok && i < len(got); i++ {
		ok = got[i] == tc.want[i] || (tc.want[i] == "D *" && strings.HasPrefix(got[i], "D "))
	}
	if !ok {
		t.Fatalf("\n got %s\nwant %s", strings.Join(got, " | "), strings.Join(tc.want, " | "))
	}
}

func countZ(want []string) int {
	n := 0
	for _, w := range want {
		if strings.HasPrefix(w, "Z") {
			n++
		}
	}
	return n
}

// runXproto connects as postgres, sends msgs in one write and describes the backend messages
// until zs ReadyForQuery messages arrived.
func runXproto(t *testing.T, addr string, msgs []pgproto3.FrontendMessage, zs int) []string {
	t.Helper()
	rc := dialRaw(t, addr)
	defer rc.nc.Close()
	fe := rc.fe
	for _, m := range msgs {
		fe.Send(m)
	}
	if err := fe.Flush(); err != nil {
		t.Fatal(err)
	}
	var got []string
	for zs > 0 {
		m, err := fe.Receive()
		if err != nil {
			t.Fatalf("after %v: %v", got, err)
		}
		var d string
		switch m := m.(type) {
		case *pgproto3.ParseComplete:
			d = "1"
		case *pgproto3.BindComplete:
			d = "2"
		case *pgproto3.CloseComplete:
			d = "3"
		case *pgproto3.ParameterDescription:
			d = "t"
		case *pgproto3.RowDescription:
			d = "T"
		case *pgproto3.NoData:
			d = "n"
		case *pgproto3.EmptyQueryResponse:
			d = "I"
		case *pgproto3.DataRow:
			vals := make([]string, len(m.Values))
			for i, v := range m.Values {
				vals[i] = string(v)
			}
			d = "D " + strings.Join(vals, ",")
		case *pgproto3.CommandComplete:
			d = "C " + string(m.CommandTag)
		case *pgproto3.ErrorResponse:
			d = "E " + m.Code
		case *pgproto3.FunctionCallResponse:
			d = "V " + string(m.Result)
		case *pgproto3.ReadyForQuery:
			d = "Z " + string(m.TxStatus)
			zs--
		case *pgproto3.NoticeResponse, *pgproto3.ParameterStatus:
			continue
		default:
			d = fmt.Sprintf("%T", m)
		}
		got = append(got, d)
	}
	return got
}
