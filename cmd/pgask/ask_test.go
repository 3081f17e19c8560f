package main

import (
	"bytes"
	"context"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/pgask/pgask/internal/testmodel"
)

// trimLines drops trailing white space on every line and trailing blank lines.
func trimLines(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ")
	}
	return strings.TrimRight(strings.Join(lines, "\n"), "\n")
}

// TestRunAskMatchesPsql asks through pgask with an engine that answers each question with a
// known query, and compares the table `pgask ask` prints with psql's own aligned output of
// the same query on the same database: header, rule, alignment (numbers right), NULLs, UTF-8,
// and the row-count footer.
func TestRunAskMatchesPsql(t *testing.T) {
	c, db := shopCluster(t)
	cases := []struct{ question, sql string }{
		{"customers per country", "SELECT country, count(*) AS customers FROM customers GROUP BY country ORDER BY country"},
		{"the cheapest product", "SELECT name, price, in_stock FROM products ORDER BY price, id LIMIT 1"},
		{"nulls and accents", "SELECT NULL::text AS nothing, 'Müller'::text AS name, 12345678901::bigint AS big, 2.5::float8 AS f UNION ALL SELECT 'x', NULL, NULL, NULL"},
		{"what's nothing", "SELECT id, email FROM customers WHERE false"},
	}
	answers := map[string]string{}
	for _, tc := range cases {
		answers[tc.question] = tc.sql
	}
	addr := startFakePgask(t, c, &goldEngine{answers: answers})
	u, err := parseClientURL(c.URL("postgres", db))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, tc := range cases {
		t.Run(tc.question, func(t *testing.T) {
			var out bytes.Buffer
			if err := runAsk(ctx, &out, u, addr, tc.question, false); err != nil {
				t.Fatal(err)
			}
			if testing.Verbose() {
				t.Logf("pgask ask %q:\n%s", tc.question, out.String())
			}
			sqlPart, tablePart, ok := strings.Cut(out.String(), ";\n\n")
			if !ok || sqlPart != tc.sql {
				t.Fatalf("output does not start with the generated SQL and a blank line:\n%s", out.String())
			}
			psql, err := c.Psql(ctx, db, "-P", "footer=on", "-c", tc.sql)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := trimLines(tablePart), trimLines(string(psql)); got != want {
				t.Errorf("table differs from psql's\n--- pgask ask:\n%s\n--- psql:\n%s", got, want)
			}

			out.Reset()
			if err := runAsk(ctx, &out, u, addr, tc.question, true); err != nil {
				t.Fatal(err)
			}
			if got := out.String(); got != tc.sql+";\n" {
				t.Errorf("dry run printed %q, want only the SQL", got)
			}
		})
	}

	// An unanswerable question: the server's error, with its SQLSTATE and hint.
	var out bytes.Buffer
	err = runAsk(ctx, &out, u, addr, "how is the weather", false)
	if err == nil || !strings.Contains(err.Error(), "ERROR:  ") || !strings.Contains(err.Error(), "SQLSTATE") {
		t.Errorf("err = %v", err)
	}
	if out.Len() != 0 {
		t.Errorf("printed %q on failure", out.String())
	}
}

// askCommand runs `pgask ask` with args and returns stdout and the error.
func askCommand(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := newAskCmd()
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	var stdout, stderr bytes.Buffer
	cmd.SetOut(&stdout)
	cmd.SetErr(&stderr)
	cmd.SetArgs(args)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	err := cmd.ExecuteContext(ctx)
	if testing.Verbose() {
		t.Logf("pgask ask %s:\n%s%s(err: %v)", strings.Join(args, " "), stdout.String(), stderr.String(), err)
	}
	return stdout.String(), err
}

var (
	askSQLLine  = regexp.MustCompile(`^SELECT .*;\n`)
	askRowCount = regexp.MustCompile(`\n\((\d+ rows|1 row)\)\n$`)
)

// TestAskCommandTinyModel runs the command as a user would, with the tiny random-weight GGUF
// on llama.cpp under the narrow grammar: whatever the model picks over the shop's tables, the
// SQL comes first and a table follows; with --dry-run only the SQL is printed.
func TestAskCommandTinyModel(t *testing.T) {
	c, db := shopCluster(t)
	model := filepath.Join(t.TempDir(), "tiny.gguf")
	if err := testmodel.Write(model, testmodel.Options{Type: testmodel.F16, Seed: 7}); err != nil {
		t.Fatal(err)
	}
	base := []string{"--url", c.URL("postgres", db), "--model", model, "--template", "sqlcoder-7b-2",
		"--ask-grammar", "narrow", "--ask-max-tokens", "48", "--threads", "1", "--context-size", "2048", "--ask-max-repairs", "3"}

	out, err := askCommand(t, append(base, "how many customers")...)
	if err != nil {
		t.Fatalf("ask: %v\n%s", err, out)
	}
	if !askSQLLine.MatchString(out) || !askRowCount.MatchString(out) || !strings.Contains(out, ";\n\n") || !strings.Contains(out, "-+-") && !strings.Contains(out, "\n---") {
		t.Errorf("want the SQL, a blank line, then a table:\n%s", out)
	}

	out, err = askCommand(t, append(base, "--dry-run", "how", "many", "customers")...)
	if err != nil {
		t.Fatalf("ask --dry-run: %v\n%s", err, out)
	}
	if !askSQLLine.MatchString(out) || strings.Count(out, "\n") != 1 {
		t.Errorf("dry run: want only one line of SQL, got:\n%s", out)
	}
}

// TestAskCommandMissingModel: with no model the command fails with pgask's error and hint.
func TestAskCommandMissingModel(t *testing.T) {
	c, db := shopCluster(t)
	out, err := askCommand(t, "--url", c.URL("postgres", db), "--model", "sqlcoder-7b-2", "--model-download=false",
		"--model-cache-dir", t.TempDir(), "how many customers")
	if err == nil {
		t.Fatalf("ask without a model succeeded:\n%s", out)
	}
	for _, want := range []string{"ERROR:  ", "sqlcoder-7b-2", "SQLSTATE 58P01", "HINT:  ", "pgask pull"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if out != "" {
		t.Errorf("printed %q", out)
	}
	if _, err := askCommand(t, "how many customers"); err == nil || !strings.Contains(err.Error(), "--url") {
		t.Errorf("without --url: %v", err)
	}
}

func TestParseClientURL(t *testing.T) {
	for _, tc := range []struct {
		in, upstream, user, db string
		wantErr                bool
	}{
		{"postgres://alice:pw@db.example:6543/shop?sslmode=require", "postgres://db.example:6543/?sslmode=require", "alice", "shop", false},
		{"postgres://bob@127.0.0.1/sales?sslmode=disable", "postgres://127.0.0.1:5432/?sslmode=disable", "bob", "sales", false},
		{"postgres://bob@[::1]:5433/sales", "postgres://[::1]:5433/?sslmode=prefer", "bob", "sales", false},
		{"postgres://bob@h/d?sslmode=verify-full&sslrootcert=/tmp/ca.pem", "postgres://h:5432/?sslmode=verify-full&sslrootcert=%2Ftmp%2Fca.pem", "bob", "d", true},
		{"host=db port=5444 user=carol dbname=hr sslmode=disable", "postgres://db:5444/?sslmode=disable", "carol", "hr", false},
		{"host=/var/run/postgresql user=carol dbname=hr", "", "", "", true},
		{"postgres://bob@h/d?sslmode=bogus", "", "", "", true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			u, err := parseClientURL(tc.in)
			if tc.wantErr {
				// verify-full with a missing root certificate fails in pgconn, as it should.
				if err == nil {
					t.Fatalf("no error; upstream %q", u.upstream)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if u.upstream != tc.upstream || u.cfg.User != tc.user || u.cfg.Database != tc.db {
				t.Errorf("got upstream %q user %q db %q", u.upstream, u.cfg.User, u.cfg.Database)
			}
			cc, err := u.connectConfig("127.0.0.1:7000", "other", nil)
			if err != nil {
				t.Fatal(err)
			}
			if cc.Host != "127.0.0.1" || cc.Port != 7000 || cc.Database != "other" || cc.TLSConfig != nil || cc.User != tc.user {
				t.Errorf("connect config %s:%d %s tls=%v user %s", cc.Host, cc.Port, cc.Database, cc.TLSConfig != nil, cc.User)
			}
		})
	}
}

// TestCommandFlags keeps the documented flags in place.
func TestCommandFlags(t *testing.T) {
	for _, tc := range []struct {
		cmd   *cobra.Command
		flags []string
	}{
		{newAskCmd(), []string{"url", "dry-run", "config", "model", "ask-grammar", "template", "threads"}},
		{newEvalCmd(), []string{"url", "in-process", "out", "limit", "category", "timeout", "quiet", "config", "model", "upstream"}},
	} {
		for _, f := range tc.flags {
			if tc.cmd.Flags().Lookup(f) == nil {
				t.Errorf("pgask %s has no --%s", tc.cmd.Name(), f)
			}
		}
	}
}
