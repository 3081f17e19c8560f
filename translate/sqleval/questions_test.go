package sqleval

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestReadQuestions(t *testing.T) {
	in := "\ufeffdb_name,query_category,question,instructions,query,extra\n" +
		"broker,cat_a,\"What's the total, per day?\",\"line one\nline two\",\"SELECT 1; SELECT {a, b} FROM t\",x\n" +
		"ewallet,cat_b,How many users?,,SELECT count(*) FROM consumer_div.users,y\n"
	qs, err := ReadQuestions(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []Question{
		{DBName: "broker", Category: "cat_a", Question: "What's the total, per day?", Instructions: "line one\nline two", Query: "SELECT 1; SELECT {a, b} FROM t", Line: 1},
		{DBName: "ewallet", Category: "cat_b", Question: "How many users?", Query: "SELECT count(*) FROM consumer_div.users", Line: 2},
	}
	if len(qs) != len(want) {
		t.Fatalf("got %d questions, want %d: %+v", len(qs), len(want), qs)
	}
	for i := range want {
		if qs[i] != want[i] {
			t.Errorf("question %d = %+v, want %+v", i, qs[i], want[i])
		}
	}
}

func TestReadQuestionsErrors(t *testing.T) {
	tests := map[string]string{
		"missing query column": "db_name,query_category,question\nbroker,c,q\n",
		"empty query":          "db_name,query_category,question,query\nbroker,c,q, \n",
		"bad quoting":          "db_name,query_category,question,query\nbroker,c,\"q,SELECT 1\n",
		"empty file":           "",
	}
	for name, in := range tests {
		if qs, err := ReadQuestions(strings.NewReader(in)); err == nil {
			t.Errorf("%s: got %+v, want an error", name, qs)
		}
	}
	_, err := ReadQuestions(strings.NewReader("db_name,question,query\n"))
	if !errors.Is(err, errMissingColumn) {
		t.Errorf("missing query_category: error %v, want errMissingColumn", err)
	}
}

// sharedDir is the folder holding the sql-eval questions (sql-eval) and the defog databases
// (defog-data): the repository's testdata, or PGASK_SHARED when set.
func sharedDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("PGASK_SHARED")
	if dir == "" {
		dir = filepath.Join("..", "..", "testdata")
	}
	if _, err := os.Stat(filepath.Join(dir, "sql-eval")); err != nil {
		t.Fatalf("sql-eval data not found in %s: %v", dir, err)
	}
	return dir
}

func readQuestionFile(t *testing.T, path string) []Question {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	qs, err := ReadQuestions(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return qs
}

func TestReadQuestionsSharedFiles(t *testing.T) {
	dir := sharedDir(t)
	files, _ := filepath.Glob(filepath.Join(dir, "sql-eval", "*.csv"))
	if len(files) == 0 {
		t.Fatalf("no CSV files in %s/sql-eval", dir)
	}
	for _, path := range files {
		qs := readQuestionFile(t, path)
		if len(qs) == 0 {
			t.Errorf("%s: no questions", path)
		}
		for _, q := range qs {
			if q.Category == "" || len(GoldQueries(q.Query)) == 0 {
				t.Errorf("%s record %d: no category or no gold query: %+v", path, q.Line, q)
			}
			if _, err := os.Stat(filepath.Join(dir, "defog-data", q.DBName, q.DBName+".sql")); err != nil {
				t.Errorf("%s record %d: database %q has no dump: %v", path, q.Line, q.DBName, err)
			}
		}
		t.Logf("%s: %d questions", filepath.Base(path), len(qs))
	}
}

func TestReadPairs(t *testing.T) {
	in := "db_name,query_category,question,query\n" +
		"shop,a,q1,SELECT 1\n" +
		"shop,b,q2,\"SELECT {id, name} FROM t GROUP BY {};SELECT 2\"\n" +
		"shop,c,,\n"
	got, err := ReadPairs(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []Pair{
		{DBName: "shop", Question: "q1", SQL: "SELECT 1", Line: 1},
		{DBName: "shop", Question: "q2", SQL: "SELECT id, name FROM t GROUP BY id, name", Line: 2},
		{DBName: "shop", Line: 3},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ReadPairs = %+v, want %+v", got, want)
	}
	// A sql column is taken as it is; db_name is optional.
	got, err = ReadPairs(strings.NewReader("question,sql\nq,SELECT 1; SELECT 2\n"))
	if err != nil || len(got) != 1 || got[0].SQL != "SELECT 1; SELECT 2" || got[0].DBName != "" {
		t.Errorf("ReadPairs(question,sql) = %+v, %v", got, err)
	}
	if _, err := ReadPairs(strings.NewReader("question,answer\nq,a\n")); err == nil {
		t.Error("a file without query or sql column was read")
	}
}
