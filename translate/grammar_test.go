package translate

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	pg_query "github.com/pganalyze/pg_query_go/v6"
	"github.com/pgask/pgask/introspect"
	"github.com/pgask/pgask/translate/sqleval"
)

// evalData is the repository's testdata folder: the defog databases (defog-data) and the
// sql-eval questions (sql-eval).
const evalData = "../testdata"

// schemaFromDDL builds a Schema from CREATE TABLE statements, with the names PostgreSQL's
// parser gives them (unquoted names folded to lower case), as introspection would see them.
func schemaFromDDL(t testing.TB, ddl string) *introspect.Schema {
	t.Helper()
	tree, err := pg_query.Parse(ddl)
	if err != nil {
		t.Fatalf("parse DDL: %v", err)
	}
	s := &introspect.Schema{}
	for _, st := range tree.Stmts {
		cs := st.GetStmt().GetCreateStmt()
		if cs == nil {
			continue
		}
		tb := introspect.Table{Schema: cs.Relation.Schemaname, Name: cs.Relation.Relname, Kind: "table"}
		if tb.Schema == "" {
			tb.Schema = "public"
		}
		tb.Visible = tb.Schema == "public" // the default search_path
		for _, el := range cs.TableElts {
			cd := el.GetColumnDef()
			if cd == nil {
				continue
			}
			var typ []string
			for _, n := range cd.TypeName.Names {
				typ = append(typ, n.GetString_().Sval)
			}
			tb.Columns = append(tb.Columns, introspect.Column{Name: cd.Colname, Type: strings.Join(typ, ".")})
		}
		s.Tables = append(s.Tables, tb)
	}
	return s
}

func mustParseGBNF(t testing.TB, g string) *gbnfGrammar {
	t.Helper()
	gr, err := parseGBNF(g)
	if err != nil {
		t.Fatalf("generated grammar does not parse: %v\n%s", err, g)
	}
	return gr
}

var shopDDL = `
CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL, email text, created_at timestamptz, "Country" text);
CREATE TABLE orders (id int PRIMARY KEY, customer_id int REFERENCES customers, total numeric(10,2), status text, ordered_at date);
CREATE TABLE "order" (id int, "user" text);
CREATE SCHEMA sales;
CREATE TABLE sales.regions (region_id int, region_name text);
`

func TestSchemaGrammar(t *testing.T) {
	s := schemaFromDDL(t, shopDDL)
	g := mustParseGBNF(t, SchemaGrammar(s))
	tests := []struct {
		sql  string
		want bool
	}{
		{"SELECT count(*) FROM customers;", true},
		{"SELECT COUNT(*) FROM customers;", true},
		{"select name from customers where email ilike '%@example.com';", true},
		{"SELECT c.name, SUM(o.total) AS spent FROM customers c JOIN orders o ON c.id = o.customer_id GROUP BY c.name ORDER BY spent DESC NULLS LAST LIMIT 10;", true},
		{"SELECT name FROM customers WHERE name = 'O''Brien';", true},
		{`SELECT "Country", count(*) FROM customers GROUP BY 1;`, true},
		{`SELECT "user" FROM "order";`, true},
		{"SELECT region_name FROM sales.regions;", true},
		{"SELECT id, RANK() OVER (PARTITION BY status ORDER BY total DESC) FROM orders;", true},
		{"SELECT CASE WHEN total > 100 THEN 'big' ELSE 'small' END AS size FROM orders;", true},
		{"SELECT CAST(total AS FLOAT) / NULLIF(id, 0) FROM orders;", true},
		{"SELECT id FROM orders WHERE ordered_at >= CURRENT_DATE - INTERVAL '30 days';", true},
		{"SELECT EXTRACT(YEAR FROM created_at)::int FROM customers;", true},
		{"SELECT DATE_TRUNC('month', ordered_at) AS m, AVG(total) FROM orders GROUP BY m;", true},
		{"SELECT name FROM customers WHERE id IN (SELECT customer_id FROM orders WHERE total > 10);", true},
		{"SELECT name FROM customers c WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = c.id);", true},
		{"WITH big AS (SELECT customer_id, SUM(total) AS t FROM orders GROUP BY customer_id) SELECT c.name, big.t FROM big JOIN customers c ON c.id = big.customer_id;", true},
		{"SELECT COUNT(DISTINCT customer_id) FILTER (WHERE status = 'paid') FROM orders;", true},
		{"SELECT id FROM orders WHERE total BETWEEN 10 AND 20 AND status IS NOT NULL;", true},
		{"SELECT id FROM orders UNION ALL SELECT id FROM customers;", true},
		{"SELECT\n  name\nFROM customers\nLIMIT 5 ;", true},
		// Names that do not exist.
		{"SELECT nickname FROM customers;", false},
		{"SELECT name FROM clients;", false},
		{"SELECT c.nickname FROM customers c;", false},
		{"SELECT country FROM customers;", false}, // needs quotes: "Country"
		{"SELECT user FROM order;", false},
		{"SELECT region_name FROM regions;", false}, // not in search_path: needs sales.
		// Without FROM, no column references; at most maxSelectItems items.
		{"SELECT 1;", true},
		{"SELECT current_date - 7 AS d;", true},
		{"SELECT (SELECT count(*) FROM orders) AS n, (SELECT max(total) FROM orders);", true},
		{"SELECT name;", false},
		{"SELECT *;", false},
		{"SELECT id, id, id, id, id, id, id, id, id, id, id, id, id, id, id, id FROM orders;", true},
		{"SELECT id, id, id, id, id, id, id, id, id, id, id, id, id, id, id, id, id FROM orders;", false},
		// Not a SELECT, or not terminated.
		{"DELETE FROM customers;", false},
		{"SELECT name FROM customers", false},
		{"SELECT name FROM customers; DROP TABLE customers;", false},
		{"SELECT id FROM orders WHERE total > -1;", false}, // no unary minus
		{"SELECT NULLIF(id, 0, 1) FROM orders;", false},
		{"SELECT pg_sleep(10);", false},
		// Qualifiers: a table and its own columns, or a short alias that is not a keyword.
		{"SELECT orders.total, customers.name FROM orders JOIN customers ON customers.id = orders.customer_id;", true},
		{"SELECT sales.regions.region_name FROM sales.regions;", true},
		{`SELECT "order"."user", public.orders.id FROM "order", orders;`, true},
		{"SELECT ord.total FROM orders AS ord;", true},
		{"SELECT x.total FROM (SELECT total FROM orders) AS x;", true},
		{"SELECT orders.name FROM orders;", false},            // a column of another table
		{"SELECT sbscriptid.name FROM customers;", false},     // an invented qualifier
		{"SELECT o.total FROM orders AS ordr;", false},        // alias longer than 3
		{"SELECT id FROM orders where;", false},               // a keyword is no alias
		{"SELECT id FROM orders AS and WHERE id = 1;", false}, // nor this one
	}
	for _, tt := range tests {
		got, at := g.Accepts(tt.sql)
		if got != tt.want {
			t.Errorf("Accepts(%q) = %v (stuck at byte %d: %q), want %v", tt.sql, got, at, tt.sql[min(at, len(tt.sql)):], tt.want)
		}
	}
}

// TestShortIdent checks the table alias rule against its definition on every string of up to
// four characters over an alphabet that spells the forbidden words.
func TestShortIdent(t *testing.T) {
	forbidden := []string{"as", "asc", "on", "or", "a1"}
	g := mustParseGBNF(t, "root ::= "+shortIdent(3, forbidden)+"\n")
	const alphabet = "aAsScOnNr1_"
	var all func(prefix string, n int)
	all = func(prefix string, n int) {
		if prefix != "" {
			want := len(prefix) <= 3 && prefix[0] != '1' && !slices.Contains(forbidden, strings.ToLower(prefix))
			if got, _ := g.Accepts(prefix); got != want {
				t.Errorf("Accepts(%q) = %v, want %v", prefix, got, want)
			}
		}
		if n == 0 {
			return
		}
		for _, c := range alphabet {
			all(prefix+string(c), n-1)
		}
	}
	all("", 4)
}

func TestNarrowGrammar(t *testing.T) {
	s := schemaFromDDL(t, shopDDL)
	text := NarrowGrammar(s)
	g := mustParseGBNF(t, text)
	tests := []struct {
		sql  string
		want bool
	}{
		{"SELECT name FROM customers;", true},
		{"SELECT id, total, status FROM orders WHERE total > 100 LIMIT 5;", true},
		{"SELECT count(*) FROM customers;", true},
		{`SELECT "user" FROM "order";`, true},
		{"SELECT region_name FROM sales.regions;", true},
		{"SELECT total FROM customers;", false}, // column of another table
		{"SELECT id, id, id, id FROM orders;", false},
		{"SELECT name FROM customers", false},
	}
	for _, tt := range tests {
		if got, at := g.Accepts(tt.sql); got != tt.want {
			t.Errorf("Accepts(%q) = %v (at %d), want %v", tt.sql, got, at, tt.want)
		}
	}
	if n := strings.Count(text, "\n"); n > 20 {
		t.Errorf("narrow grammar has %d rules, want a small grammar", n)
	}
}

func TestGBNFRecogniserRejectsLlamaPitfalls(t *testing.T) {
	bad := map[string]string{
		"leading bar":    "root ::= \"a\"\n  | \"b\"\n",
		"left recursion": "root ::= root \"a\" | \"a\"\n",
		"undefined":      "root ::= x\n",
		"no root":        "x ::= \"a\"\n",
	}
	for name, g := range bad {
		if _, err := parseGBNF(g); err == nil {
			t.Errorf("%s: parseGBNF accepted %q", name, g)
		}
	}
	g := mustParseGBNF(t, "root ::= (\"a\"\n  | \"b\") [0-9]* x?\nx ::= [^\\n]+\n")
	for s, want := range map[string]bool{"a": true, "b12": true, "a1z": true, "": false, "c": false} {
		if got, _ := g.Accepts(s); got != want {
			t.Errorf("Accepts(%q) = %v, want %v", s, got, want)
		}
	}
}

// normaliseGold writes a gold query as a model prompted with the introspected (lower-case)
// schema would: unquoted identifiers and unreserved key words (which may be column names)
// folded to lower case, reserved key words in upper case, and a terminating ';'.
func normaliseGold(t testing.TB, q string) string {
	res, err := pg_query.Scan(q)
	if err != nil {
		t.Fatalf("scan %q: %v", q, err)
	}
	b := []byte(q)
	for _, tok := range res.Tokens {
		w := q[tok.Start:tok.End]
		switch {
		case tok.Token == pg_query.Token_IDENT && !strings.HasPrefix(w, `"`),
			tok.KeywordKind == pg_query.KeywordKind_UNRESERVED_KEYWORD,
			tok.KeywordKind == pg_query.KeywordKind_COL_NAME_KEYWORD:
			// What may be a column name (name, year, type) the way the catalog spells it.
			copy(b[tok.Start:], strings.ToLower(w))
		case tok.KeywordKind != pg_query.KeywordKind_NO_KEYWORD:
			copy(b[tok.Start:], strings.ToUpper(w))
		}
	}
	return strings.TrimSpace(string(b)) + ";"
}

// TestGrammarAcceptsGoldQueries measures how many of sql-eval's gold queries the grammar for
// their database accepts.
func TestGrammarAcceptsGoldQueries(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(evalData, "sql-eval", "*.csv"))
	if len(files) == 0 {
		t.Fatalf("no sql-eval question files in %s/sql-eval", evalData)
	}
	grammars := map[string]*gbnfGrammar{}
	total, accepted := 0, 0
	var rejected []string
	for _, f := range files {
		file, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		questions, err := sqleval.ReadQuestions(file)
		file.Close()
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range questions {
			db := q.DBName
			g, ok := grammars[db]
			if !ok {
				ddl, err := os.ReadFile(filepath.Join(evalData, "defog-data", db, db+".sql"))
				if err != nil {
					t.Fatalf("no schema for %s: %v", db, err)
				}
				text := SchemaGrammar(schemaFromDDL(t, string(ddl)))
				t.Logf("%s: grammar of %d rules, %d bytes", db, strings.Count(text, "\n"), len(text))
				dumpGrammar(t, db+".gbnf", text)
				g = mustParseGBNF(t, text)
				grammars[db] = g
			}
			alts, err := pg_query.SplitWithScanner(q.Query, true)
			if err != nil {
				t.Fatalf("split gold query: %v", err)
			}
			for _, q := range alts {
				if q == "" || strings.Contains(q, "{") {
					continue // sql-eval's {a, b} means "any subset": not SQL
				}
				q = normaliseGold(t, q)
				total++
				dumpQuery(t, db+".queries", q)
				if ok, at := g.Accepts(q); ok {
					accepted++
				} else {
					rejected = append(rejected, db+": "+q[:at]+" ⟦"+q[at:])
				}
			}
		}
	}
	rate := float64(accepted) / float64(total)
	t.Logf("grammar accepts %d of %d gold queries (%.1f %%)", accepted, total, 100*rate)
	for _, r := range rejected {
		t.Logf("rejected: %s", r)
	}
	if rate < 0.95 {
		t.Errorf("acceptance %.1f %% below 95 %%", 100*rate)
	}
}

// With PGASK_GRAMMAR_DUMP=dir, the gold test writes each database's grammar and its
// normalised gold queries (one a line, newlines as \n) there, to cross-check them with
// llama.cpp's own grammar parser (see the translate notes).
func dumpGrammar(t *testing.T, name, text string) {
	if dir := os.Getenv("PGASK_GRAMMAR_DUMP"); dir != "" {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func dumpQuery(t *testing.T, name, q string) {
	if dir := os.Getenv("PGASK_GRAMMAR_DUMP"); dir != "" {
		f, err := os.OpenFile(filepath.Join(dir, name), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.WriteString(strings.ReplaceAll(q, "\n", `\n`) + "\n"); err != nil {
			t.Fatal(err)
		}
	}
}

func TestTrie(t *testing.T) {
	words := []string{"count", "coalesce", "col", "co", "c", "sum", `"Country"`, "é", "éa", "ab"}
	g := mustParseGBNF(t, "root ::= "+trie(append(words, "count"))+"\n")
	for _, w := range words {
		if ok, _ := g.Accepts(w); !ok {
			t.Errorf("trie rejects %q", w)
		}
	}
	for _, w := range []string{"", "cou", "coun", "counts", "a", "s", "Country", "éb", "colx"} {
		if ok, _ := g.Accepts(w); ok {
			t.Errorf("trie accepts %q", w)
		}
	}
}
