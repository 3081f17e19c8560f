package introspect_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/pgask/pgask/introspect"
)

// shopSchema is a small schema with a join path customers → orders → order_items → products
// and unrelated tables that share no words with the test questions.
func shopSchema() *introspect.Schema {
	col := func(name, typ, comment string) introspect.Column {
		return introspect.Column{Name: name, Type: typ, Comment: comment}
	}
	s := &introspect.Schema{Tables: []introspect.Table{
		{Schema: "public", Name: "customers", Visible: true, PrimaryKey: []string{"id"}, Columns: []introspect.Column{
			col("id", "integer", ""), col("full_name", "text", "name of the customer"), col("country", "text", "ISO country code"),
			col("signup_date", "date", "when the customer joined")}},
		{Schema: "public", Name: "orders", Visible: true, PrimaryKey: []string{"id"}, Columns: []introspect.Column{
			col("id", "integer", ""), col("customer_id", "integer", ""), col("ordered_at", "timestamp without time zone", ""),
			{Name: "state", Type: "order_state", Enum: []string{"open", "shipped", "cancelled"}}},
			ForeignKeys: []introspect.ForeignKey{{Columns: []string{"customer_id"}, RefSchema: "public", RefTable: "customers", RefColumns: []string{"id"}}}},
		{Schema: "public", Name: "order_items", Visible: true, Columns: []introspect.Column{
			col("order_id", "integer", ""), col("product_id", "integer", ""), col("qty", "integer", "")},
			ForeignKeys: []introspect.ForeignKey{
				{Columns: []string{"order_id"}, RefSchema: "public", RefTable: "orders", RefColumns: []string{"id"}},
				{Columns: []string{"product_id"}, RefSchema: "public", RefTable: "products", RefColumns: []string{"id"}}}},
		{Schema: "public", Name: "products", Visible: true, PrimaryKey: []string{"id"}, Columns: []introspect.Column{
			col("id", "integer", ""), col("title", "text", "product name"), col("price", "numeric(10,2)", "unit price in EUR")}},
	}}
	// Filler: wide tables about other things.
	for i := 0; i < 30; i++ {
		t := introspect.Table{Schema: "public", Name: fmt.Sprintf("telemetry_%02d", i), Visible: true}
		for j := 0; j < 15; j++ {
			t.Columns = append(t.Columns, col(fmt.Sprintf("sensor_reading_%02d", j), "double precision", "raw sensor voltage"))
		}
		s.Tables = append(s.Tables, t)
	}
	return s
}

func TestPrune(t *testing.T) {
	s := shopSchema()
	full := introspect.EstimateTokens(introspect.Render(s))
	cases := []struct {
		question   string
		budget     int
		wantTables []string // must be kept (schema.name)
		wantCols   []string // table.column that must be kept
	}{
		{"Which customers from Germany signed up last year?", 300,
			[]string{"public.customers"}, []string{"customers.country", "customers.signup_date"}},
		{"What is the total price of products bought by each customer?", 400,
			// order_items and orders connect customers to products.
			[]string{"public.customers", "public.orders", "public.order_items", "public.products"},
			[]string{"products.price", "order_items.product_id", "order_items.order_id", "orders.customer_id"}},
		{"How many orders were cancelled?", 200,
			[]string{"public.orders"}, []string{"orders.state"}},
		{"Total qty of sbCustProduct per Customer", 400,
			[]string{"public.customers", "public.order_items"}, []string{"order_items.qty"}},
	}
	for _, c := range cases {
		t.Run(c.question, func(t *testing.T) {
			p := introspect.Prune(s, c.question, c.budget)
			got := introspect.EstimateTokens(introspect.Render(p))
			if got > c.budget {
				t.Errorf("pruned schema has %d tokens, budget %d", got, c.budget)
			}
			names := tableNames(p)
			for _, w := range c.wantTables {
				if !slices.Contains(names, w) {
					t.Errorf("table %s pruned away; kept %v", w, names)
				}
			}
			for _, w := range c.wantCols {
				tab, colName, _ := strings.Cut(w, ".")
				tt := p.Table("public", tab)
				if tt == nil || tt.Column(colName) == nil {
					t.Errorf("column %s pruned away:\n%s", w, introspect.Render(p))
				}
			}
		})
	}
	if p := introspect.Prune(s, "anything", full); p != s {
		t.Errorf("Prune with a budget the whole schema fits should return it unchanged")
	}
	if p := introspect.Prune(s, "customers", 3); len(p.Tables) != 0 {
		t.Errorf("a budget too small for one table kept %v", tableNames(p))
	}
}

// TestPruneDoesNotModify checks that Prune leaves the (shared, cached) input alone.
func TestPruneDoesNotModify(t *testing.T) {
	s := shopSchema()
	before := introspect.Render(s)
	fp := s.Fingerprint()
	_ = introspect.Prune(s, "total price of products per customer", 250)
	if introspect.Render(s) != before || s.Fingerprint() != fp {
		t.Error("Prune modified its input")
	}
}

func TestPruneDeterministic(t *testing.T) {
	s := shopSchema()
	a := introspect.Render(introspect.Prune(s, "orders per customer country", 300))
	for i := 0; i < 5; i++ {
		if b := introspect.Render(introspect.Prune(s, "orders per customer country", 300)); b != a {
			t.Fatalf("run %d differs:\n%s\n---\n%s", i, b, a)
		}
	}
}

// FuzzPrune feeds arbitrary questions and budgets: Prune must stay within the budget and keep
// only tables and columns of the input.
func FuzzPrune(f *testing.F) {
	f.Add("How many customers ordered products last week?", 300)
	f.Add("ASK 'what''s the sbTxAmount' -- /* */ $$", 50)
	f.Add("", 0)
	f.Add("ÄÖÜ 顧客 customers_id__X9", 1000)
	s := shopSchema()
	f.Fuzz(func(t *testing.T, q string, budget int) {
		if budget < 0 || budget > 100000 {
			return
		}
		p := introspect.Prune(s, q, budget)
		if got := introspect.EstimateTokens(introspect.Render(p)); got > budget {
			t.Fatalf("question %q budget %d: %d tokens", q, budget, got)
		}
		for _, tab := range p.Tables {
			src := s.Table(tab.Schema, tab.Name)
			if src == nil {
				t.Fatalf("invented table %s", tab.Name)
			}
			for _, c := range tab.Columns {
				if src.Column(c.Name) == nil {
					t.Fatalf("invented column %s.%s", tab.Name, c.Name)
				}
			}
		}
	})
}

func FuzzEstimateTokens(f *testing.F) {
	f.Add("CREATE TABLE t (\n  a varchar(20), --comment\n);\n")
	f.Add("\xff\xfe héllo   SQLServer")
	f.Fuzz(func(t *testing.T, s string) {
		n := introspect.EstimateTokens(s)
		if n < 0 || n > 2*len(s) {
			t.Fatalf("EstimateTokens(%q) = %d", s, n)
		}
		// Additive over line ends.
		for i := 0; i < len(s); i++ {
			if s[i] == '\n' {
				if a, b := introspect.EstimateTokens(s[:i+1]), introspect.EstimateTokens(s[i+1:]); a+b != n {
					t.Fatalf("not additive at %d: %d + %d != %d", i, a, b, n)
				}
			}
		}
	})
}

// TestPruneCostMatchesRender checks the incremental cost bookkeeping against a full render on
// many questions and budgets: every result fits, and a generous budget is used (more than
// half of it) when the schema is larger.
func TestPruneCostMatchesRender(t *testing.T) {
	s := shopSchema()
	for _, q := range []string{"customers", "orders by state", "price of products", "sensor voltage", "nothing matches xyzzy"} {
		for budget := 20; budget <= 2000; budget += 97 {
			p := introspect.Prune(s, q, budget)
			got := introspect.EstimateTokens(introspect.Render(p))
			if got > budget {
				t.Fatalf("%q budget %d: %d tokens", q, budget, got)
			}
			if budget >= 200 && got < budget/2 {
				t.Errorf("%q budget %d: only %d tokens used", q, budget, got)
			}
		}
	}
}
