package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runCLI runs pgask with args and returns what it printed and its error.
func runCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := newRootCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(context.Background())
	return out.String(), err
}

// TestInitTwiceAndImport: pgask init creates pgask.examples once and then says nothing changed;
// pgask examples import adds the good rows of a sql-eval-format file (its db_name column
// naming the database), skips those already stored on a second run, and lists the rejected
// rows with their reasons, storing none of them.
func TestInitTwiceAndImport(t *testing.T) {
	c, db := shopCluster(t)
	url := c.URL("postgres", db)
	out, err := runCLI(t, "init", "--url", url)
	if err != nil || !strings.Contains(out, "created schema pgask in database "+db) || !strings.Contains(out, "created table pgask.examples") {
		t.Fatalf("first init: %v\n%s", err, out)
	}
	out, err = runCLI(t, "init", "--url", url)
	if err != nil || !strings.Contains(out, "already exist in database "+db+": nothing changed") || strings.Contains(out, "created") {
		t.Fatalf("second init: %v\n%s", err, out)
	}
	if out, err := runCLI(t, "init", "--print"); err != nil || !strings.Contains(out, "CREATE TABLE IF NOT EXISTS pgask.examples") {
		t.Fatalf("init --print: %v\n%s", err, out)
	}

	csv := "db_name,query_category,question,query\n" +
		db + ",count,How many customers are there?,SELECT count(*) FROM customers\n" +
		db + `,list,"Which products cost more than 100, by name?","SELECT name FROM products WHERE price > 100 ORDER BY name;SELECT id, name FROM products WHERE price > 100 ORDER BY name"` + "\n" +
		db + ",bad,delete everyone,DELETE FROM customers\n" +
		db + ",bad,no such column,SELECT nosuch FROM customers\n" +
		db + ",bad,,SELECT 1\n" +
		db + ",bad,syntax,SELEC 1\n"
	file := filepath.Join(t.TempDir(), "pairs.csv")
	if err := os.WriteFile(file, []byte(csv), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err = runCLI(t, "examples", "import", "--url", c.URL("postgres", "postgres"), file)
	if !errors.Is(err, errRejected) {
		t.Fatalf("import with bad rows: err %v\n%s", err, out)
	}
	for _, want := range []string{
		"6 rows: 2 added, 0 already stored, 4 rejected",
		"row 3 (database " + db + "): not a SELECT statement",
		"row 4 (database " + db + `): column "nosuch" does not exist (SQLSTATE 42703)`,
		"row 5 (database " + db + "): the question is empty",
		"row 6 (database " + db + "): syntax error",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("import summary lacks %q:\n%s", want, out)
		}
	}
	got, err := c.Psql(context.Background(), db, "-At", "-c", "SELECT question || ' | ' || sql FROM pgask.examples ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	want := "How many customers are there? | SELECT count(*) FROM customers\n" +
		"Which products cost more than 100, by name? | SELECT name FROM products WHERE price > 100 ORDER BY name\n"
	if string(got) != want {
		t.Errorf("stored:\n%s\nwant:\n%s", got, want)
	}
	out, err = runCLI(t, "examples", "import", "--url", c.URL("postgres", "postgres"), file)
	if !errors.Is(err, errRejected) || !strings.Contains(out, "6 rows: 0 added, 2 already stored, 4 rejected") {
		t.Errorf("second import: %v\n%s", err, out)
	}
}
