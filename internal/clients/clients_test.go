// Package clients holds the client matrix: real drivers (pgjdbc, psqlODBC through unixODBC,
// psycopg 2 and 3, SQLAlchemy with pandas, node-postgres, pgx and psql) against pgask in front
// of a real PostgreSQL, each running ordinary traffic and ASK in every documented form.
//
// The drivers other than pgx are installed by install.sh into ~/.cache/pgask/clients (or
// $PGASK_CLIENTS_CACHE). A missing one skips its subtest, with the command that installs it;
// under CI=true or PGASK_TEST_CLIENTS=1 it fails instead.
package clients

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgask/pgask/askservice"
	"github.com/pgask/pgask/internal/asktest"
	"github.com/pgask/pgask/internal/pgcluster"
	"github.com/pgask/pgask/internal/pgtest"
	"github.com/pgask/pgask/translate"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// goldEngine plays the model: it answers exactly the questions of the matrix, found by the
// question text the prompt holds, with their gold SQL. A question a driver changed on the way
// (a `?` turned into `$1`, an apostrophe doubled) is not among them and is answered "I do not
// know", so a mangled question can never return the gold rows. Unknown questions are kept for
// the failure messages.
type goldEngine struct {
	mu      sync.Mutex
	answers map[string]string
	unknown []string
}

func (e *goldEngine) Generate(_ context.Context, req translate.GenerateRequest) (translate.GenerateResult, error) {
	_, rest, ok := strings.Cut(req.Prompt, "[QUESTION]")
	q, _, ok2 := strings.Cut(rest, "[/QUESTION]")
	if !ok || !ok2 {
		return translate.GenerateResult{}, errors.New("gold engine: no [QUESTION] in the prompt")
	}
	sql, found := e.answers[q]
	if !found {
		e.mu.Lock()
		e.unknown = append(e.unknown, q)
		e.mu.Unlock()
		sql = "I do not know"
	}
	return translate.GenerateResult{Text: sql, PromptTokens: len(req.Prompt) / 4, GeneratedTokens: len(sql) / 4}, nil
}

// result is one line a driver program prints: the rows (every value as text, nil for NULL)
// or the error of one case run through one of the driver's APIs.
type result struct {
	API      string      `json:"api"`
	Case     string      `json:"case"`
	Rows     [][]*string `json:"rows"`
	Error    string      `json:"error"`
	SQLState string      `json:"sqlstate"`
	Hint     string      `json:"hint"`
}

// env is what a driver program is given: where pgask listens and which cases to run.
type env struct {
	host, port, db string
	casesFile      string
	cache          string
	bin            string // the PostgreSQL binaries (psql)
}

func (e env) vars() []string {
	return append(os.Environ(), "PGASK_HOST="+e.host, "PGASK_PORT="+e.port, "PGASK_DB="+e.db, "PGASK_USER=postgres",
		"PGASK_CASES="+e.casesFile)
}

func cacheDir() string {
	if d := os.Getenv("PGASK_CLIENTS_CACHE"); d != "" {
		return d
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "pgask", "clients")
}

// mustHaveClients says a missing driver fails the test instead of skipping it.
func mustHaveClients() bool {
	return os.Getenv("CI") == "true" || os.Getenv("PGASK_TEST_CLIENTS") == "1"
}

func missing(t *testing.T, what string) {
	t.Helper()
	msg := what + " is not installed: run `bash internal/clients/install.sh` (or `make clients`)"
	if mustHaveClients() {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

func TestClientMatrix(t *testing.T) {
	c := pgtest.Shared(t)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	db := pgtest.NewDatabase(t, c)
	if err := c.LoadFile(ctx, db, "testdata/fixture.sql"); err != nil {
		t.Fatal(err)
	}
	eng := &goldEngine{answers: map[string]string{}}
	for _, q := range questions {
		eng.answers[q.text] = q.sql
	}
	addr := asktest.Serve(t, c.Addr(), askservice.Options{Engine: askservice.EngineOf(eng, "gold"), Grammar: translate.GrammarOff,
		MaxTokens: 200, StatementTimeout: time.Minute})
	gold := goldRows(t, ctx, c, db)

	cases := askCases()
	dir := t.TempDir()
	casesFile := filepath.Join(dir, "cases.json")
	b, err := json.Marshal(cases)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(casesFile, b, 0o644); err != nil {
		t.Fatal(err)
	}
	host, port, _ := strings.Cut(addr, ":")
	e := env{host: host, port: port, db: db, casesFile: casesFile, cache: cacheDir(), bin: c.BinDir}

	for _, d := range drivers {
		t.Run(d.name, func(t *testing.T) {
			results := d.run(t, ctx, e)
			check(t, d, cases, gold, results, eng)
		})
	}
}

// gold holds the rows each case and each ordinary statement must return, read from
// PostgreSQL directly.
type gold struct {
	questions map[string][][]*string // question id → rows
	plain     map[string][][]*string // ordinary traffic id → rows
}

func text(s string) *string { return &s }

// textRows reads rows fetched in text format as strings (nil for NULL) and closes them.
func textRows(rows pgx.Rows) ([][]*string, error) {
	defer rows.Close()
	var out [][]*string
	for rows.Next() {
		var row []*string
		for _, v := range rows.RawValues() {
			if v == nil {
				row = append(row, nil)
			} else {
				row = append(row, text(string(v)))
			}
		}
		out = append(out, row)
	}
	return out, rows.Err()
}

func goldRows(t *testing.T, ctx context.Context, c *pgcluster.Cluster, db string) gold {
	t.Helper()
	conn, err := pgx.Connect(ctx, c.URL("postgres", db))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	query := func(sql string, args ...any) [][]*string {
		rows, err := conn.Query(ctx, sql, append([]any{pgx.QueryResultFormats{pgx.TextFormatCode}}, args...)...)
		if err != nil {
			t.Fatalf("gold %s: %v", sql, err)
		}
		out, err := textRows(rows)
		if err != nil {
			t.Fatalf("gold %s: %v", sql, err)
		}
		return out
	}
	g := gold{questions: map[string][][]*string{}, plain: map[string][][]*string{}}
	for _, q := range questions {
		g.questions[q.id] = query(q.sql)
	}
	g.plain["tables"] = query(`SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1`)
	g.plain["columns"] = query(`SELECT column_name::text FROM information_schema.columns WHERE table_schema = 'public' AND table_name = 'orders' ORDER BY ordinal_position`)
	g.plain["param"] = query(`SELECT name FROM cities WHERE population > $1 ORDER BY name`, 300000)
	g.plain["copy"] = query(`SELECT name, population::text FROM cities ORDER BY name`)
	n := query(`SELECT (count(*) + 1)::text FROM orders WHERE status = 'paid'`)
	g.plain["tx"] = n
	g.plain["after_rollback"] = g.questions["paid"]
	g.plain["after_error"] = [][]*string{{text("1")}}
	return g
}

// expectation is what one case through one API must give: the gold rows, or an error whose
// text holds want (the documented way that form breaks in that driver).
type expectation struct {
	err    string // "" = the gold rows
	reason string
}

// driver is one client of the matrix.
type driver struct {
	name string
	// run runs the driver's program and returns its results; it skips (or fails under CI)
	// when the driver is not installed.
	run func(t *testing.T, ctx context.Context, e env) []result
	// plain lists the ordinary-traffic checks the program reports.
	plain []string
	// hints is the number of cases (ids "hint…") where the driver sends what pgask answers
	// with its 42P02 hint: parameters for an ASK.
	hints int
	// expect says how a case behaves through api; nil means every case gives the gold rows.
	expect func(api string, c askCase) expectation
}

var allPlain = []string{"tables", "columns", "param", "tx", "after_rollback", "copy", "error", "after_error"}

func check(t *testing.T, d driver, cases []askCase, g gold, results []result, eng *goldEngine) {
	t.Helper()
	byCase := map[string]askCase{}
	for _, c := range cases {
		byCase[c.ID] = c
	}
	apis := map[string]bool{}
	seen := map[string]bool{}
	failed, hints := 0, 0
	for _, r := range results {
		seen[r.API+" "+r.Case] = true
		if name, ok := strings.CutPrefix(r.Case, "plain/"); ok {
			if name == "error" {
				if r.Error == "" || !strings.Contains(r.Error, "no_such_table") {
					t.Errorf("%s %s: the failing statement gave rows %v, error %q; want an error naming no_such_table", d.name, r.API, show(r.Rows), r.Error)
				}
				continue
			}
			want, ok := g.plain[name]
			if !ok {
				t.Errorf("%s %s: unknown check %q", d.name, r.API, r.Case)
				continue
			}
			if r.Error != "" || !sameRows(r.Rows, want) {
				t.Errorf("%s %s %s: got rows %v error %q; want rows %v", d.name, r.API, name, show(r.Rows), r.Error, show(want))
			}
			continue
		}
		if strings.HasPrefix(r.Case, "hint") {
			hints++
			if r.SQLState != "42P02" || !strings.Contains(r.Hint, "ASK $$") {
				t.Errorf("%s %s %s: an ASK with a driver's parameters: got sqlstate %q hint %q error %q; want 42P02 with a hint naming ASK $$…$$",
					d.name, r.API, r.Case, r.SQLState, r.Hint, r.Error)
			}
			continue
		}
		c, ok := byCase[r.Case]
		if !ok {
			t.Errorf("%s %s: unknown case %q", d.name, r.API, r.Case)
			continue
		}
		apis[r.API] = true
		exp := expectation{}
		if d.expect != nil {
			exp = d.expect(r.API, c)
		}
		want := g.questions[c.q.id]
		if c.form.dry {
			want = [][]*string{{text(c.q.sql)}}
		}
		switch {
		case exp.err == "" && (r.Error != "" || !sameRows(r.Rows, want)):
			failed++
			t.Errorf("driver %s, api %s, form %s, question %q:\n  sent  %s\n  got   rows %v error %q\n  want  rows %v",
				d.name, r.API, c.form.id, c.q.text, c.SQL, show(r.Rows), r.Error, show(want))
		case exp.err == errHint && (r.SQLState != "42P02" || !strings.Contains(r.Hint+r.Error, "ASK $$")):
			failed++
			t.Errorf("driver %s, api %s, form %s, question %q:\n  sent  %s\n  got   rows %v error %q sqlstate %q hint %q\n  want  pgask's 42P02 with a hint naming ASK $$…$$ (%s)",
				d.name, r.API, c.form.id, c.q.text, c.SQL, show(r.Rows), r.Error, r.SQLState, r.Hint, exp.reason)
		case exp.err != "" && exp.err != errHint && !strings.Contains(r.Error, exp.err):
			failed++
			t.Errorf("driver %s, api %s, form %s, question %q:\n  sent  %s\n  got   rows %v error %q\n  want  the documented failure %q (%s)",
				d.name, r.API, c.form.id, c.q.text, c.SQL, show(r.Rows), r.Error, exp.err, exp.reason)
		}
	}
	for api := range apis {
		for _, c := range cases {
			if !seen[api+" "+c.ID] {
				t.Errorf("%s %s: no result for case %s", d.name, api, c.ID)
			}
		}
	}
	if len(apis) == 0 {
		t.Errorf("%s: the program reported no ASK case", d.name)
	}
	if hints != d.hints {
		t.Errorf("%s: %d results of pgask's hint cases, want %d", d.name, hints, d.hints)
	}
	for _, p := range d.plain {
		found := false
		for k := range seen {
			if strings.HasSuffix(k, " plain/"+p) {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: no result for the ordinary check %s", d.name, p)
		}
	}
	if failed > 0 {
		eng.mu.Lock()
		t.Logf("questions the model was asked that are not the matrix's (as the driver changed them): %q", eng.unknown)
		eng.mu.Unlock()
	}
}

func sameRows(a, b [][]*string) bool {
	return slices.EqualFunc(a, b, func(x, y []*string) bool {
		return slices.EqualFunc(x, y, func(p, q *string) bool { return (p == nil) == (q == nil) && (p == nil || *p == *q) })
	})
}

func show(rows [][]*string) string {
	var b strings.Builder
	b.WriteString("[")
	for i, r := range rows {
		if i > 0 {
			b.WriteString(" ")
		}
		b.WriteString("(")
		for j, v := range r {
			if j > 0 {
				b.WriteString(", ")
			}
			if v == nil {
				b.WriteString("NULL")
			} else {
				fmt.Fprintf(&b, "%q", *v)
			}
		}
		b.WriteString(")")
	}
	b.WriteString("]")
	return b.String()
}

// runProgram runs a driver program and parses its JSON lines; anything else it prints is
// shown when it fails.
func runProgram(t *testing.T, ctx context.Context, e env, cmd *exec.Cmd) []result {
	t.Helper()
	cmd.Env = append(cmd.Env, e.vars()...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v\nstderr:\n%s\nstdout:\n%s", strings.Join(cmd.Args, " "), err, stderr.String(), out)
	}
	var results []result
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		line := sc.Bytes()
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var r result
		if err := json.Unmarshal(line, &r); err != nil {
			t.Fatalf("%s printed a line that is not a result: %s (%v)\nstderr:\n%s", cmd.Args[0], line, err, stderr.String())
		}
		results = append(results, r)
	}
	return results
}

func requireFile(t *testing.T, path, what string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		missing(t, what+" ("+path+")")
	}
}

func requireCommand(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		missing(t, name)
	}
	return p
}

func testdata(t *testing.T, rel string) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "testdata", rel)
}
