package examples

import (
	"reflect"
	"testing"
)

func TestNormalize(t *testing.T) {
	tests := []struct{ in, want string }{
		{"How many customers?", "how many customers"},
		{"  how\tMANY   customers ?! ", "how many customers"},
		{"What's the customers' total (in €)?", "what s the customers total in"},
		{"Café's orders, 2024", "café s orders 2024"},
		{"", ""},
		{"?!", ""},
	}
	for _, tt := range tests {
		if got := Normalize(tt.in); got != tt.want {
			t.Errorf("Normalize(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestExactAndSimilar(t *testing.T) {
	s := NewSet([]Pair{
		{Question: "How many customers are there?", SQL: "SELECT count(*) FROM customers"},
		{Question: "how many orders were delivered", SQL: "SELECT count(*) FROM orders WHERE status = 'delivered'"},
		{Question: "list the product categories", SQL: "SELECT name FROM categories"},
		{Question: "total revenue per country", SQL: "SELECT country, sum(total) FROM orders JOIN customers ON customers.id = orders.customer_id GROUP BY country"},
	})
	if p, ok := s.Exact("how many CUSTOMERS are there"); !ok || p.SQL != "SELECT count(*) FROM customers" {
		t.Errorf("Exact = %+v, %v", p, ok)
	}
	if _, ok := s.Exact("how many customers"); ok {
		t.Error("Exact matched a different question")
	}
	var nilSet *Set
	if _, ok := nilSet.Exact("x"); ok || nilSet.Similar("x", 3, 100) != nil || nilSet.Len() != 0 {
		t.Error("a nil Set has pairs")
	}
	if pairCost(s.Pairs[1]) <= pairCost(s.Pairs[0]) {
		t.Fatal("the budget cases below need the delivered pair to cost more than the customers one")
	}
	tests := []struct {
		q      string
		n, bud int
		want   []string // questions
	}{
		{"how many orders", 3, 500, []string{"how many orders were delivered", "How many customers are there?"}},
		{"how many orders", 1, 500, []string{"how many orders were delivered"}},
		// A pair holding less than half of the question's words is not shown.
		{"how many orders were cancelled", 3, 500, []string{"how many orders were delivered"}},
		{"revenue by country", 3, 500, []string{"total revenue per country"}},
		{"weather tomorrow", 3, 500, nil},
		// Within the budget: the most similar pair that fits, then the next ones that fit.
		{"how many orders", 3, pairCost(s.Pairs[0]), []string{"How many customers are there?"}},
		{"how many orders", 3, pairCost(s.Pairs[0]) - 1, nil},
		{"how many orders", 3, 0, nil},
	}
	for _, tt := range tests {
		var got []string
		for _, p := range s.Similar(tt.q, tt.n, tt.bud) {
			got = append(got, p.Question)
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Similar(%q, %d, %d) = %q, want %q", tt.q, tt.n, tt.bud, got, tt.want)
		}
	}
}

func TestClean(t *testing.T) {
	q, s := Clean("  how many?\n", " SELECT 1 ;\n; ")
	if q != "how many?" || s != "SELECT 1" {
		t.Errorf("Clean = %q, %q", q, s)
	}
}
