package asksplit

import (
	"strings"
	"testing"
)

func TestPlaceholder(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"how many orders are paid?", ""},
		{"how many orders are paid$1", "$1"},
		{"orders over $2 in city $1", "$2"},
		{"which costs more than $12", "$12"},
		{"what's $1's share", "$1"},
		{"orders over $1.50", ""},
		{"orders over $1,000", ""},
		{"orders over $1, by city", "$1"},
		{"is it paid$1 or not", "$1"}, // pgjdbc writes $1 where the ? was, after a word
		{"the $1st order", ""},        // an ordinal
		{"cost in $ by city", ""},     // no digits
		{"$$", ""},
		{"$", ""},
		{"", ""},
	} {
		if got := Placeholder(tt.in); got != tt.want {
			t.Errorf("Placeholder(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// FuzzPlaceholder checks that Placeholder never panics and returns either nothing or a `$`
// and digits found in the question, not followed by a letter, digit or decimal part.
func FuzzPlaceholder(f *testing.F) {
	for _, s := range []string{"how many orders are paid$1", "over $1.50?", "$12$3", "the $1st", "$", "é$9"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		p := Placeholder(q)
		if p == "" {
			return
		}
		i := strings.Index(q, p)
		if i < 0 || len(p) < 2 || p[0] != '$' || strings.Trim(p[1:], "0123456789") != "" {
			t.Fatalf("Placeholder(%q) = %q: not a $ and digits of the question", q, p)
		}
		for {
			rest := q[i+len(p):]
			amount := len(rest) > 1 && (rest[0] == '.' || rest[0] == ',') && rest[1] >= '0' && rest[1] <= '9'
			if rest == "" || !isIdentCont(rest[0]) && !amount {
				return // an occurrence that stands alone
			}
			k := strings.Index(q[i+1:], p)
			if k < 0 {
				break
			}
			i += 1 + k
		}
		t.Fatalf("Placeholder(%q) = %q, but every occurrence continues", q, p)
	})
}
