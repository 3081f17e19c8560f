package translate

import (
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkSchemaGrammar measures building the grammar for sql-eval's ewallet schema (cached
// per schema fingerprint by the Translator).
func BenchmarkSchemaGrammar(b *testing.B) {
	ddl, err := os.ReadFile(filepath.Join(evalData, "defog-data", "ewallet", "ewallet.sql"))
	if err != nil {
		b.Fatal(err)
	}
	s := schemaFromDDL(b, string(ddl))
	b.ReportAllocs()
	for b.Loop() {
		if g := SchemaGrammar(s); len(g) == 0 {
			b.Fatal("empty grammar")
		}
	}
}

func BenchmarkExtract(b *testing.B) {
	in := "SELECT c.name, SUM(o.total) AS spent FROM customers c JOIN orders o ON c.id = o.customer_id WHERE c.name <> 'O''Brien; Ltd' GROUP BY c.name ORDER BY spent DESC NULLS LAST LIMIT 10;\n[/SQL]\nThis query ..."
	for b.Loop() {
		if _, err := Extract(in); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCheckStatic(b *testing.B) {
	sql := "WITH t AS (SELECT customer_id, SUM(total) AS s FROM orders GROUP BY 1) SELECT c.name, t.s FROM customers c JOIN t ON t.customer_id = c.id ORDER BY t.s DESC LIMIT 5"
	for b.Loop() {
		if err := CheckStatic(sql, nil); err != nil {
			b.Fatal(err)
		}
	}
}
