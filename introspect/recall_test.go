package introspect_test

import (
		"flag"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/pgask/pgask/internal/pgtest"
	"github.com/pgask/pgask/introspect"
)

var dumpDDL = flag.String("dump-ddl", "", "write the combined defog catalog's DDL and the sql-eval questions to this folder (for tokenizer calibration)")

// defogNames lists the databases in ../shared/defog-data, skipping the test when it is absent.
func defogNames(t testing.TB) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(sharedDir, "defog-data"))
	if err != nil {
		t.Skipf("%s/defog-data not present (%v): the combined-catalog tests need all eleven databases", sharedDir, err)
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
	files, _ := filepath.Glob(filepath.Join(sharedDir, "sql-eval", "*.csv"))
	if len(files) == 0 {
		t.Skipf("no question sets in %s/sql-eval", sharedDir)
	}
	sort.Strings(files)
	var qs []evalQuestion
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		recs := readCSV(string(b))
		col := map[string]int{}
		for i, h := range recs[0] {
			col[h] = i
		}
		for _, r := range recs[1:] {
			qs = append(qs, evalQuestion{DB: r[col["db_name"]], Category: r[col["query_category"]],
				Question: r[col["question"]], Query: r[col["query"]]})
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

// readCSV parses CSV the way Python's csv module does by default: the advanced question set has
// a stray quote inside a quoted field ("... changes". Return ...), which Python reads as the end
// of the quoted part followed by more text of the same field; encoding/csv rejects the file.
func readCSV(s string) [][]string {
	var (
		recs  [][]string
		rec   []string
		field strings.Builder
	)
	inQuotes, quoted := false, false
	endField := func() {
		rec = append(rec, field.String())
		field.Reset()
		quoted = false
	}
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case inQuotes && ch == '"' && i+1 < len(s) && s[i+1] == '"':
			field.WriteByte('"')
			i++
		case inQuotes && ch == '"':
			inQuotes = false
		case inQuotes:
			field.WriteByte(ch)
		case ch == '"' && field.Len() == 0 && !quoted:
			inQuotes, quoted = true, true
		case ch == ',':
			endField()
		case ch == '\r':
		case ch == '\n':
			endField()
			recs = append(recs, rec)
			rec = nil
		default:
			field.WriteByte(ch)
		}
	}
	if field.Len() > 0 || len(rec) > 0 {
		endField()
		recs = append(recs, rec)
	}
	return recs
}
