package sqleval

import (
	"reflect"
	"testing"
)

func TestGoldQueries(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"SELECT 1", []string{"SELECT 1"}},
		{"SELECT 1;", []string{"SELECT 1"}},
		{" SELECT 1 ; SELECT 2;\n", []string{"SELECT 1", "SELECT 2"}},
		{"SELECT ';' AS s; SELECT 2", []string{"SELECT ';' AS s", "SELECT 2"}},
		{"SELECT {a.id, a.name} FROM a", []string{"SELECT a.id FROM a", "SELECT a.name FROM a", "SELECT a.id, a.name FROM a"}},
		{"SELECT {x,y,z}, n FROM t GROUP BY {}, n", []string{
			"SELECT x, n FROM t GROUP BY x, n", "SELECT y, n FROM t GROUP BY y, n", "SELECT z, n FROM t GROUP BY z, n",
			"SELECT x, y, n FROM t GROUP BY x, y, n", "SELECT x, z, n FROM t GROUP BY x, z, n", "SELECT y, z, n FROM t GROUP BY y, z, n",
			"SELECT x, y, z, n FROM t GROUP BY x, y, z, n"}},
		{"SELECT {a} FROM t; SELECT b FROM t", []string{"SELECT a FROM t", "SELECT b FROM t"}},
		{"SELECT '{' FROM t", []string{"SELECT '{' FROM t"}},
		{" ; ", nil},
	}
	for _, tt := range tests {
		if got := GoldQueries(tt.in); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("GoldQueries(%q)\n got %q\nwant %q", tt.in, got, tt.want)
		}
	}
}

func TestOrdered(t *testing.T) {
	tests := []struct {
		q    Question
		want bool
	}{
		{Question{Question: "List the customers in order of signup date"}, true},
		{Question{Question: "Sort products by price"}, true},
		{Question{Question: "ARRANGE them"}, true},
		{Question{Question: "How many orders were placed?"}, false},
		{Question{Question: "Which sorting algorithm"}, false},
		{Question{Question: "top 5", Category: "order_by"}, true},
	}
	for _, tt := range tests {
		if got := Ordered(tt.q); got != tt.want {
			t.Errorf("Ordered(%+v) = %v, want %v", tt.q, got, tt.want)
		}
	}
}
