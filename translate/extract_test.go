package translate

import (
	"errors"
	"strings"
	"testing"
)

func TestExtract(t *testing.T) {
	tests := []struct {
		name, in, want string
		err            error
	}{
		{"plain", "SELECT 1", "SELECT 1", nil},
		{"semicolon", "SELECT name FROM t;", "SELECT name FROM t", nil},
		{"sqlcoder marker", " SELECT a FROM t;\n[/SQL]", "SELECT a FROM t", nil},
		{"marker without semicolon", "SELECT a FROM t\n[/SQL] and more", "SELECT a FROM t", nil},
		{"opening marker", "[SQL]\nSELECT a FROM t [/SQL]", "SELECT a FROM t", nil},
		{"fence continued", "SELECT a\nFROM t\n```\nThis query lists a.", "SELECT a\nFROM t", nil},
		{"full fence", "```sql\nSELECT a FROM t\n```", "SELECT a FROM t", nil},
		{"fence other info", "```postgresql\nWITH x AS (SELECT 1) SELECT * FROM x;\n```", "WITH x AS (SELECT 1) SELECT * FROM x", nil},
		{"prose before", "Here is the query you asked for:\n\nSELECT count(*) FROM orders;", "SELECT count(*) FROM orders", nil},
		{"prose inline", "The answer is SELECT 1; obviously", "SELECT 1", nil},
		{"prose after blank line", "SELECT a FROM t\n\nThis returns every a.", "SELECT a FROM t", nil},
		{"blank line inside", "SELECT a\n\nFROM t\n\nWHERE a > 1", "SELECT a\n\nFROM t\n\nWHERE a > 1", nil},
		{"semicolon in string", "SELECT 'a;b' FROM t; DROP TABLE t;", "SELECT 'a;b' FROM t", nil},
		{"doubled quote", "SELECT 'O''Brien;' AS n;", "SELECT 'O''Brien;' AS n", nil},
		{"E string", `SELECT E'it\'s;' AS n; x`, `SELECT E'it\'s;' AS n`, nil},
		{"quoted ident", `SELECT "a;b" FROM t;`, `SELECT "a;b" FROM t`, nil},
		{"line comment", "SELECT a -- the a; really\nFROM t;", "SELECT a -- the a; really\nFROM t", nil},
		{"block comment", "SELECT /* a; /* nested; */ b; */ 1;", "SELECT /* a; /* nested; */ b; */ 1", nil},
		{"dollar quote", "SELECT $x$a;b$x$ AS s; more", "SELECT $x$a;b$x$ AS s", nil},
		{"fence in string", "SELECT '```' AS f;", "SELECT '```' AS f", nil},
		{"eot", "SELECT 1<|eot_id|>", "SELECT 1", nil},
		{"lower case", "select a from t", "select a from t", nil},
		{"parenthesised", "(SELECT 1) UNION (SELECT 2);", "(SELECT 1) UNION (SELECT 2)", nil},
		{"unterminated string", "SELECT 'abc", "SELECT 'abc", nil},
		{"do not know", "I do not know", "", ErrUnanswerable},
		{"do not know quoted", "'I do not know'\n[/SQL]", "", ErrUnanswerable},
		{"dont know", "  I don't know how to answer that.", "", ErrUnanswerable},
		{"do not know in fence", "```sql\nI do not know\n```", "", ErrUnanswerable},
		{"empty", "", "", errNoSQL},
		{"only prose", "Sorry, the schema has no such table.", "", errNoSQL},
		{"selection word", "There is no selection here", "", errNoSQL},
		{"update is not hidden", "UPDATE t SET a = 1; SELECT 1", "UPDATE t SET a = 1", nil},
		{"delete is not hidden", "```sql\nDELETE FROM t\n```", "DELETE FROM t", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Extract(tt.in)
			if !errors.Is(err, tt.err) || (tt.err == nil && err != nil) {
				t.Fatalf("Extract(%q) error = %v, want %v", tt.in, err, tt.err)
			}
			if got != tt.want {
				t.Errorf("Extract(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func FuzzExtract(f *testing.F) {
	for _, s := range []string{"SELECT 1;", "```sql\nSELECT 'a;b'\n```", "I do not know", "x $a$;$a$ ; y",
		"SELECT /* /* */ ; */ 1", "SELECT E'\\';' ;", "Here:\nWITH a AS (SELECT 1) SELECT * FROM a\n\nDone."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		sql, err := Extract(in)
		if err != nil {
			if sql != "" {
				t.Fatalf("Extract(%q) returned %q with error %v", in, sql, err)
			}
			return
		}
		if sql == "" || sql != strings.TrimSpace(sql) {
			t.Fatalf("Extract(%q) = %q: empty or untrimmed", in, sql)
		}
		if !strings.Contains(in, sql) {
			t.Fatalf("Extract(%q) = %q: not a part of the input", in, sql)
		}
		if findSQLStart(sql) != 0 {
			t.Fatalf("Extract(%q) = %q: does not start with a statement", in, sql)
		}
		// Cutting is idempotent: the statement holds no terminator outside quotes.
		if again := strings.TrimSpace(cutStatement(sql)); again != sql {
			t.Fatalf("Extract(%q) = %q, which cuts again to %q", in, sql, again)
		}
	})
}

func TestCheckStatic(t *testing.T) {
	tests := []struct {
		sql    string
		unsafe bool
		parse  bool
	}{
		{"SELECT 1", false, false},
		{"WITH a AS (SELECT 1 AS x) SELECT x FROM a", false, false},
		{"SELECT 1 UNION SELECT 2", false, false},
		{"VALUES (1)", false, false},
		{"SELECT pg_catalog.now()", false, false},
		{"SELEC 1", false, true},
		{"SELECT 'unterminated", false, true},
		{"", true, false},
		{"SELECT 1; SELECT 2", true, false},
		{"DELETE FROM t", true, false},
		{"UPDATE t SET a = 1", true, false},
		{"DROP TABLE t", true, false},
		{"COPY t TO '/tmp/x'", true, false},
		{"WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d", true, false},
		{"SELECT * INTO t2 FROM t", true, false},
		{"SELECT * FROM t FOR UPDATE", true, false},
		{"SELECT * FROM (SELECT * FROM t FOR SHARE) s", true, false},
		{"SELECT pg_sleep(5)", true, false},
		{"SELECT pg_catalog.PG_TERMINATE_BACKEND(42)", true, false},
		{"SELECT x FROM t WHERE x = (SELECT pg_read_file('/etc/passwd'))", true, false},
		{"SELECT dblink_exec('x', 'y')", true, false},
		{"SELECT lo_import('/etc/passwd')", true, false},
		{"SELECT set_config('role', 'postgres', false)", true, false},
		{"SELECT nextval('s')", true, false},
		{"SELECT pg_advisory_lock(1)", true, false},
	}
	for _, tt := range tests {
		err := CheckStatic(tt.sql, nil)
		var pe *parseError
		if got := isUnsafe(err); got != tt.unsafe {
			t.Errorf("CheckStatic(%q) = %v, unsafe %v, want %v", tt.sql, err, got, tt.unsafe)
		}
		if got := errors.As(err, &pe); got != tt.parse {
			t.Errorf("CheckStatic(%q) = %v, parse error %v, want %v", tt.sql, err, got, tt.parse)
		}
	}
	if err := CheckStatic("SELECT pg_sleep(0)", []string{"PG_SLEEP"}); err != nil {
		t.Errorf("allowed function refused: %v", err)
	}
}
