package introspect_test

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/pgask/pgask/internal/pgtest"
	"github.com/pgask/pgask/introspect"
	"github.com/pgask/pgask/translate/sqleval"
)

var dumpDDL = flag.String("dump-ddl", "", "write the combined defog catalog's DDL and the sql-eval questions to this folder (for tokenizer calibration)")

// defogNames lists the databases in testdata/defog-data.
func defogNames(t testing.TB) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(evalData, "defog-data"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names
}

// combinedCatalog loads every defog database into one fresh database, each in a schema of its
// own name, and returns a connection whose search_path holds all of them.
func combinedCatalog(t testing.TB) (*pgx.Conn, []string) {
	t.Helper()
	names := defogNames(t)
	c := pgtest.Shared(t)
	db := pgtest.NewDatabase(t, c)
	for _, name := range names {
		loadDefog(t, c, db, name, true)
	}
	conn := connect(t, c, "postgres", db)
	if _, err := conn.Exec(ctxT(t), "SET search_path = "+strings.Join(names, ", ")); err != nil {
		t.Fatal(err)
	}
	return conn, names
}

// evalQuestion is one sql-eval row.
type evalQuestion struct {
	DB, Category, Question, Query string
}

func readEvalQuestions(t testing.TB) []evalQuestion {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(evalData, "sql-eval", "*.csv"))
	if len(files) == 0 {
		t.Fatalf("no question sets in %s/sql-eval", evalData)
	}
	sort.Strings(files)
	var qs []evalQuestion
	for _, f := range files {
		file, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		questions, err := sqleval.ReadQuestions(file)
		file.Close()
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, q := range questions {
			qs = append(qs, evalQuestion{DB: q.DBName, Category: q.Category, Question: q.Question, Query: q.Query})
		}
	}
	return qs
}

func TestDumpDDL(t *testing.T) {
	if *dumpDDL == "" {
		t.Skip("set -dump-ddl DIR to write the combined catalog's DDL")
	}
	conn, _ := combinedCatalog(t)
	s, err := introspect.Load(ctxT(t), introspect.NewPgxQuerier(conn), introspect.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(*dumpDDL, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range s.Tables {
		one := &introspect.Schema{Tables: s.Tables[i : i+1]}
		p := filepath.Join(*dumpDDL, s.Tables[i].Schema+"."+s.Tables[i].Name+".ddl")
		if err := os.WriteFile(p, []byte(introspect.Render(one)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(*dumpDDL, "all.ddl"), []byte(introspect.Render(s)), 0o644); err != nil {
		t.Fatal(err)
	}
	var qs strings.Builder
	for _, q := range readEvalQuestions(t) {
		qs.WriteString(q.Question + "\n")
	}
	if err := os.WriteFile(filepath.Join(*dumpDDL, "questions.txt"), []byte(qs.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestPruneRecall measures, on one catalog holding all defog databases (each in its own
// schema) and on each database alone, the share of sql-eval questions whose gold tables and
// columns all survive Prune at 1k and 2k tokens. It fails below 95 % at 2k tokens, and when
// the combined catalog's figures differ from the README's (Prune is deterministic: a change
// to it that moves them updates the README too).
// Run: go test ./introspect -run TestPruneRecall -v
func TestPruneRecall(t *testing.T) {
	readme := readmeRecall(t)
	conn, names := combinedCatalog(t)
	qs := readEvalQuestions(t)
	full, err := introspect.Load(ctxT(t), introspect.NewPgxQuerier(conn), introspect.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("combined catalog: %d tables, %d tokens of DDL (estimated)", len(full.Tables), introspect.EstimateTokens(introspect.Render(full)))

	only := func(schema string) *introspect.Schema {
		out := &introspect.Schema{}
		for _, tab := range full.Tables {
			if tab.Schema == schema {
				out.Tables = append(out.Tables, tab)
			}
		}
		return out
	}
	type result struct{ all, tables, n, tokens int }
	run := func(name string, budget int, schemaOf func(db string) *introspect.Schema) result {
		var r result
		for _, q := range qs {
			s := schemaOf(q.DB)
			alts, err := goldRefs(full, q.DB, q.Query)
			if err != nil {
				t.Errorf("%s: %v", q.DB, err)
				continue
			}
			pruned := introspect.Prune(s, q.Question, budget)
			tokens := introspect.EstimateTokens(introspect.Render(pruned))
			if tokens > budget {
				t.Errorf("%s budget %d: pruned schema has %d tokens", name, budget, tokens)
			}
			r.tokens += tokens
			r.n++
			okAll, okTables := false, false
			for _, a := range alts {
				all, tables := a.survives(pruned, q.DB)
				okAll, okTables = okAll || all, okTables || tables
			}
			if okAll {
				r.all++
			}
			if okTables {
				r.tables++
			}
			if !okAll && testing.Verbose() && budget == 2000 {
				t.Logf("%s %d miss [%s] %q\n  gold %v\n  kept %v", name, budget, q.DB, q.Question, alts, tableNames(pruned))
			}
		}
		return r
	}
	var at1k, at2k float64
	for _, c := range []struct {
		name     string
		schemaOf func(string) *introspect.Schema
	}{
		{"combined", func(string) *introspect.Schema { return full }},
		{"single", only},
	} {
		for _, budget := range []int{1000, 2000} {
			r := run(c.name, budget, c.schemaOf)
			if r.n == 0 {
				t.Fatal("no questions")
			}
			rec := float64(r.all) / float64(r.n)
			t.Logf("RECALL %-8s budget %4d: tables+columns %5.1f %% (%d/%d), tables %5.1f %%, mean %d tokens",
				c.name, budget, 100*rec, r.all, r.n, 100*float64(r.tables)/float64(r.n), r.tokens/r.n)
			if c.name == "combined" && budget == 1000 {
				at1k = rec
			}
			if c.name == "combined" && budget == 2000 {
				at2k = rec
			}
		}
	}
	if at2k < 0.95 {
		t.Errorf("recall at 2k tokens on the combined catalog = %.1f %%, want ≥ 95 %%", 100*at2k)
	}
	got := recallFigure{dbs: len(names), tables: len(full.Tables), at2k: fmt.Sprintf("%.1f", 100*at2k), at1k: fmt.Sprintf("%.1f", 100*at1k)}
	if got != readme {
		t.Errorf("measured %+v, the README states %+v", got, readme)
	}
}

// recallFigure is the README's pruning-recall row: databases and tables of the combined
// catalog, recall in percent at 2k and 1k tokens.
type recallFigure struct {
	dbs, tables int
	at2k, at1k  string
}

// readmeRecall reads the pruning-recall row of the README's benchmark table.
func readmeRecall(t *testing.T) recallFigure {
	t.Helper()
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?m)^\| pruning recall, (\d+) defog databases in one catalog \((\d+) tables\) \| ([0-9.]+) % at 2k tokens, ([0-9.]+) % at 1k \|$`)
	m := re.FindStringSubmatch(string(b))
	if m == nil {
		t.Fatalf("no line matching %s in the README", re)
	}
	dbs, _ := strconv.Atoi(m[1])
	tables, _ := strconv.Atoi(m[2])
	return recallFigure{dbs: dbs, tables: tables, at2k: m[3], at1k: m[4]}
}
