package asksplit

import "testing"

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
