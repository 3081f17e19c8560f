package introspect_test

import (
	"strings"
	"testing"

	"github.com/pgask/pgask/internal/pgtest"
	"github.com/pgask/pgask/introspect"
)

// TestQuoteIdentMatchesServer compares QuoteIdent with the server's quote_ident on every
// keyword the server knows and on awkward names. Keywords that only newer releases reserve
// may be quoted by QuoteIdent and not by an older server; nothing may go the other way.
func TestQuoteIdentMatchesServer(t *testing.T) {
	c := pgtest.Shared(t)
	conn := connect(t, c, "postgres", "postgres")
	names := []string{"plain", "Mixed", "with space", `quo"te`, "1digit", "d1git", "dollar$", "$dollar", "_under",
		"ümlaut", "", "user", "order", "select", "at", "name", "value", "json_table"}
	rows, err := conn.Query(ctxT(t), "SELECT word FROM pg_get_keywords()")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var w string
		if err := rows.Scan(&w); err != nil {
			t.Fatal(err)
		}
		names = append(names, w)
	}
	if rows.Err() != nil || len(names) < 400 {
		t.Fatalf("read keywords: %v (%d names)", rows.Err(), len(names))
	}
	for _, n := range names {
		if n == "" {
			if got := introspect.QuoteIdent(n); got != `""` {
				t.Errorf("QuoteIdent(\"\") = %s", got)
			}
			continue
		}
		var want string
		if err := conn.QueryRow(ctxT(t), "SELECT quote_ident($1)", n).Scan(&want); err != nil {
			t.Fatal(err)
		}
		got := introspect.QuoteIdent(n)
		if got == want {
			continue
		}
		if want == n && got == `"`+n+`"` && strings.HasPrefix(n, "json") {
			continue // a newer release's keyword (quoting it is harmless)
		}
		t.Errorf("QuoteIdent(%q) = %s, server says %s", n, got, want)
	}
}

// TestQuoteLiteralRoundTrip has the server read back each literal QuoteLiteral writes: the same
// string, with NUL bytes dropped.
func TestQuoteLiteralRoundTrip(t *testing.T) {
	c := pgtest.Shared(t)
	conn := connect(t, c, "postgres", "postgres")
	for _, s := range []string{"", "plain", "O'Brien", "''", `back\slash`, `\'`, "new\nline", "tab\t", "nul\x00byte", "ümlaut ☃", "$$dollar$$", "--comment", "/* c */"} {
		var got string
		if err := conn.QueryRow(ctxT(t), "SELECT "+introspect.QuoteLiteral(s)).Scan(&got); err != nil {
			t.Errorf("SELECT %s: %v", introspect.QuoteLiteral(s), err)
			continue
		}
		if want := strings.ReplaceAll(s, "\x00", ""); got != want {
			t.Errorf("SELECT %s = %q, want %q", introspect.QuoteLiteral(s), got, want)
		}
	}
}
