package asksplit

import (
	"strings"
	"testing"
)

// A typical BI catalog query (no ASK) and a long SELECT that mentions the word "ask" as a column.
var benchTexts = map[string]string{
	"catalog": `SELECT n.nspname, c.relname, a.attname, format_type(a.atttypid, a.atttypmod), ` +
		`col_description(c.oid, a.attnum) FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ` +
		`ON c.oid = a.attrelid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE a.attnum > 0 ` +
		`AND NOT a.attisdropped AND c.relkind IN ('r','v','m','f','p') AND n.nspname !~ '^pg_' ORDER BY 1, 2, a.attnum`,
	"ask_columns": strings.Repeat("SELECT ask, bid, ask - bid AS spread FROM quotes WHERE task_id = 1 AND ask > 0; ", 20),
	"ask":         "-- Metabase:: userID: 1\nASK what's the customer's total spend per country?",
}

func BenchmarkMightContainASK(b *testing.B) {
	for name, text := range benchTexts {
		buf := []byte(text)
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(buf)))
			b.ReportAllocs()
			for b.Loop() {
				MightContainASK(buf)
			}
		})
	}
}

func BenchmarkSplit(b *testing.B) {
	for name, text := range benchTexts {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(text)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Split(text); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestMightContainASKAllocs(t *testing.T) {
	buf := []byte(benchTexts["ask_columns"])
	if n := testing.AllocsPerRun(100, func() { MightContainASK(buf) }); n != 0 {
		t.Errorf("MightContainASK allocates %v times per call", n)
	}
}
