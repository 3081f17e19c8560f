package introspect_test

import (
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/pgask/pgask/internal/pgtest"
	"github.com/pgask/pgask/introspect"
)

// bigCatalogSQL creates tables × cols tables (integer, text, numeric, timestamp and varchar
// columns, a primary key, a comment on every fifth column, a foreign key to the previous table).
func bigCatalogSQL(tables, cols int) string {
	return fmt.Sprintf(`DO $$
DECLARE
  i int; j int; ddl text;
BEGIN
  FOR i IN 1..%[1]d LOOP
    ddl := format('CREATE TABLE t%%s (id bigint PRIMARY KEY', i);
    IF i > 1 THEN ddl := ddl || format(', prev_id bigint REFERENCES t%%s', i - 1); END IF;
    FOR j IN 1..%[2]d - 2 LOOP
      ddl := ddl || format(', c%%s_%%s %%s', i, j,
        (ARRAY['integer', 'text', 'numeric(12,2)', 'timestamp', 'varchar(40)'])[1 + j %% 5]);
    END LOOP;
    EXECUTE ddl || ')';
    FOR j IN 1..%[2]d - 2 BY 5 LOOP
      EXECUTE format('COMMENT ON COLUMN t%%s.c%%s_%%s IS %%L', i, i, j, 'column ' || j || ' of table ' || i);
    END LOOP;
  END LOOP;
END $$`, tables, cols)
}

// bigCatalog creates the 1,000 × 20 catalog once per benchmark run.
func bigCatalog(b *testing.B) *pgx.Conn {
	b.Helper()
	c := pgtest.Shared(b)
	db := pgtest.NewDatabase(b, c)
	mustExec(b, c, db, bigCatalogSQL(1000, 20))
	mustExec(b, c, db, "VACUUM ANALYZE")
	return connect(b, c, "postgres", db)
}

// BenchmarkLoad1000x20 times one full introspection (the catalog query, its transfer and
// decoding) of 1,000 tables × 20 columns. Run: go test ./introspect -run XXX -bench Load
func BenchmarkLoad1000x20(b *testing.B) {
	conn := bigCatalog(b)
	q := introspect.NewPgxQuerier(conn)
	var s *introspect.Schema
	for b.Loop() {
		var err error
		if s, err = introspect.Load(ctxT(b), q, introspect.Options{}); err != nil {
			b.Fatal(err)
		}
	}
	if len(s.Tables) != 1000 || len(s.Tables[999].Columns) != 20 {
		b.Fatalf("loaded %d tables", len(s.Tables))
	}
	b.ReportMetric(float64(len(introspect.Render(s))), "ddl-bytes")
}

// BenchmarkFreshness1000x20 times Cache.Get when nothing changed: the freshness query on the
// 1,000 × 20 catalog plus the lookup — the cost every ASK pays.
func BenchmarkFreshness1000x20(b *testing.B) {
	conn := bigCatalog(b)
	benchCacheHit(b, conn)
}

// BenchmarkFreshnessSmall is the same on a small database (broker, 4 tables).
func BenchmarkFreshnessSmall(b *testing.B) {
	c := pgtest.Shared(b)
	db := pgtest.NewDatabase(b, c)
	loadDefog(b, c, db, "broker", false)
	benchCacheHit(b, connect(b, c, "postgres", db))
}

func benchCacheHit(b *testing.B, conn *pgx.Conn) {
	q := introspect.NewPgxQuerier(conn)
	cache := introspect.NewCache(introspect.CacheOptions{})
	key := introspect.Key{Database: "bench", User: "postgres"}
	if _, _, err := cache.Get(ctxT(b), q, key); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, _, err := cache.Get(ctxT(b), q, key); err != nil {
			b.Fatal(err)
		}
	}
	if st := cache.Stats(); st.Misses != 1 {
		b.Fatalf("%d misses, want 1", st.Misses)
	}
}

// BenchmarkPrune1000x20 times pruning the 1,000 × 20 catalog to 2,000 tokens.
func BenchmarkPrune1000x20(b *testing.B) {
	s := syntheticSchema(1000, 20)
	for b.Loop() {
		p := introspect.Prune(s, "What is the total c12_3 of table 12 per c13_4 of table 13 last month?", 2000)
		if len(p.Tables) == 0 {
			b.Fatal("pruned to nothing")
		}
	}
}

func BenchmarkRender1000x20(b *testing.B) {
	s := syntheticSchema(1000, 20)
	for b.Loop() {
		_ = introspect.Render(s)
	}
}

// syntheticSchema mirrors bigCatalogSQL without a server.
func syntheticSchema(tables, cols int) *introspect.Schema {
	types := []string{"integer", "text", "numeric(12,2)", "timestamp without time zone", "character varying(40)"}
	s := &introspect.Schema{}
	for i := 1; i <= tables; i++ {
		t := introspect.Table{Schema: "public", Name: fmt.Sprintf("t%d", i), Visible: true, PrimaryKey: []string{"id"},
			Columns: []introspect.Column{{Name: "id", Type: "bigint"}}}
		if i > 1 {
			t.Columns = append(t.Columns, introspect.Column{Name: "prev_id", Type: "bigint"})
			t.ForeignKeys = []introspect.ForeignKey{{Columns: []string{"prev_id"}, RefSchema: "public", RefTable: fmt.Sprintf("t%d", i-1), RefColumns: []string{"id"}}}
		}
		for j := 1; len(t.Columns) < cols; j++ {
			c := introspect.Column{Name: fmt.Sprintf("c%d_%d", i, j), Type: types[j%5]}
			if j%5 == 1 {
				c.Comment = fmt.Sprintf("column %d of table %d", j, i)
			}
			t.Columns = append(t.Columns, c)
		}
		s.Tables = append(s.Tables, t)
	}
	return s
}

// BenchmarkPrunerReuse1000x20 is the per-question cost with a Pruner kept for the schema.
func BenchmarkPrunerReuse1000x20(b *testing.B) {
	p := introspect.NewPruner(syntheticSchema(1000, 20))
	for b.Loop() {
		if s := p.Prune("What is the total c12_3 of table 12 per c13_4 of table 13 last month?", 2000); len(s.Tables) == 0 {
			b.Fatal("pruned to nothing")
		}
	}
}

// BenchmarkPrune110x7 is pruning a catalog the size of all eleven defog databases together.
func BenchmarkPrune110x7(b *testing.B) {
	s := syntheticSchema(110, 7)
	for b.Loop() {
		if p := introspect.Prune(s, "What is the total c12_3 of table 12 per c13_4 of table 13 last month?", 1000); len(p.Tables) == 0 {
			b.Fatal("pruned to nothing")
		}
	}
}
