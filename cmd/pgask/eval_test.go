package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgask/pgask/askservice"
	"github.com/pgask/pgask/internal/asktest"
	"github.com/pgask/pgask/internal/pgcluster"
	"github.com/pgask/pgask/internal/pgtest"
	"github.com/pgask/pgask/internal/testmodel"
	"github.com/pgask/pgask/translate"
	"github.com/pgask/pgask/translate/sqleval"
)

// sharedDir is the folder holding the sql-eval questions (sql-eval) and the defog databases
// (defog-data): the repository's testdata, or PGASK_SHARED when set.
func sharedDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("PGASK_SHARED")
	if dir == "" {
		dir = filepath.Join("..", "..", "testdata")
	}
	for _, sub := range []string{"sql-eval", "defog-data"} {
		if _, err := os.Stat(filepath.Join(dir, sub)); err != nil {
			t.Fatalf("%s not found in %s: %v", sub, dir, err)
		}
	}
	return dir
}

// goldEngine plays the model for pgask eval: it answers each question with the SQL listed
// for it, found by the question text in the prompt.
type goldEngine struct {
	mu      sync.Mutex
	answers map[string]string // normalised question → SQL
	calls   int
}

func normQuestion(q string) string {
	return strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(q), ";"))
}

func (e *goldEngine) Generate(_ context.Context, req translate.GenerateRequest) (translate.GenerateResult, error) {
	_, rest, ok := strings.Cut(req.Prompt, "[QUESTION]")
	q, _, ok2 := strings.Cut(rest, "[/QUESTION]")
	if !ok || !ok2 {
		return translate.GenerateResult{}, errors.New("gold engine: no [QUESTION] in the prompt")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.calls++
	sql, found := e.answers[normQuestion(q)]
	if !found {
		return translate.GenerateResult{}, errors.New("gold engine: unknown question " + q)
	}
	return translate.GenerateResult{Text: sql + ";", PromptTokens: len(req.Prompt) / 4, GeneratedTokens: len(sql) / 4}, nil
}

// startFakePgask runs the proxy with the ASK handler on engine (grammar off, the sqlcoder-7b-2
// template) in front of c and returns its address.
func startFakePgask(t *testing.T, c *pgcluster.Cluster, engine translate.Engine) string {
	t.Helper()
	return asktest.Serve(t, c.Addr(), askservice.Options{Engine: askservice.EngineOf(engine, "gold"), Grammar: translate.GrammarOff,
		MaxTokens: 400, Notice: true, SchemaBudget: 2048, StatementTimeout: time.Minute})
}

type evalFixture struct {
	cluster *pgcluster.Cluster
	files   map[string][]sqleval.Question // file name → questions
	all     []sqleval.Question
}

// defogFixture starts a cluster and loads the defog databases the sql-eval sample questions use.
func defogFixture(t *testing.T) *evalFixture {
	t.Helper()
	dir := sharedDir(t)
	csvs, _ := filepath.Glob(filepath.Join(dir, "sql-eval", "*.csv"))
	if len(csvs) == 0 {
		t.Fatalf("no question files in %s", filepath.Join(dir, "sql-eval"))
	}
	f := &evalFixture{files: map[string][]sqleval.Question{}}
	dbs := map[string]bool{}
	for _, p := range csvs {
		qs, err := readQuestionFile(p)
		if err != nil {
			t.Fatal(err)
		}
		f.files[filepath.Base(p)] = qs
		f.all = append(f.all, qs...)
		for _, q := range qs {
			dbs[q.DBName] = true
		}
	}
	f.cluster = pgtest.Start(t, pgcluster.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	for db := range dbs {
		dump := filepath.Join(dir, "defog-data", db, db+".sql")
		if err := f.cluster.CreateDatabase(ctx, db); err != nil {
			t.Fatal(err)
		}
		if err := f.cluster.LoadFile(ctx, db, dump); err != nil {
			t.Fatalf("load %s: %v", dump, err)
		}
	}
	return f
}

// goldAnswers maps each question to its first gold alternative (GoldQueries expands `{a, b}`).
func goldAnswers(qs []sqleval.Question) map[string]string {
	m := map[string]string{}
	for _, q := range qs {
		m[normQuestion(q.Question)] = sqleval.GoldQueries(q.Query)[0]
	}
	return m
}

func (f *evalFixture) connect(addr string) connectFunc {
	return func(ctx context.Context, db string, onNotice func(*pgconn.Notice)) (*pgconn.PgConn, error) {
		u, err := parseClientURL(f.cluster.URL("postgres", db))
		if err != nil {
			return nil, err
		}
		cc, err := u.connectConfig(addr, "", onNotice)
		if err != nil {
			return nil, err
		}
		return pgconn.ConnectConfig(ctx, cc)
	}
}

// TestEvalDefog runs pgask eval's core over the real wire through the proxy, on the sql-eval
// sample questions and their defog databases, with an engine that answers every question with
// its own gold query (all must score correct), then with one answer replaced by a wrong query
// (that one must score wrong, the others still correct).
func TestEvalDefog(t *testing.T) {
	f := defogFixture(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()

	t.Run("gold", func(t *testing.T) {
		engine := &goldEngine{answers: goldAnswers(f.all)}
		addr := startFakePgask(t, f.cluster, engine)
		var emitted []sqleval.Record
		recs, err := runEval(ctx, f.all, f.connect(addr), evalOptions{Timeout: 2 * time.Minute,
			Emit: func(r sqleval.Record) error { emitted = append(emitted, r); return nil }})
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != len(f.all) || len(emitted) != len(recs) {
			t.Fatalf("%d records, %d emitted, for %d questions", len(recs), len(emitted), len(f.all))
		}
		for i, r := range recs {
			q := f.all[i]
			if !r.Correct || r.Error != "" {
				t.Errorf("%s line %d (%s) scores wrong: %+v", q.DBName, q.Line, q.Category, r)
			}
			if want := sqleval.GoldQueries(q.Query)[0]; r.GeneratedSQL != want {
				t.Errorf("%s line %d: generated SQL from the NOTICE %q, want %q", q.DBName, q.Line, r.GeneratedSQL, want)
			}
		}
		if engine.calls != len(f.all) {
			t.Errorf("engine asked %d times for %d questions", engine.calls, len(f.all))
		}
		s := sqleval.Summarize(recs)
		if s.Overall.Correct != len(f.all) {
			t.Errorf("accuracy %d/%d, want 100%%", s.Overall.Correct, s.Overall.Total)
		}
		var buf bytes.Buffer
		if err := s.WriteText(&buf); err != nil {
			t.Fatal(err)
		}
		t.Logf("%d questions through pgask:\n%s", len(recs), buf.String())
	})

	t.Run("one wrong", func(t *testing.T) {
		answers := goldAnswers(f.all)
		wrong := f.all[0] // broker: top 5 countries (3 columns, 5 rows)
		answers[normQuestion(wrong.Question)] = "SELECT 1"
		addr := startFakePgask(t, f.cluster, &goldEngine{answers: answers})
		recs, err := runEval(ctx, f.all, f.connect(addr), evalOptions{Timeout: 2 * time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != len(f.all) {
			t.Fatalf("%d records for %d questions", len(recs), len(f.all))
		}
		for i, r := range recs {
			q := f.all[i]
			isWrong := q.Question == wrong.Question
			if r.Correct == isWrong {
				t.Errorf("%s line %d: correct=%v, want %v (%+v)", q.DBName, q.Line, r.Correct, !isWrong, r)
			}
			if isWrong && (r.GeneratedSQL != "SELECT 1" || r.Rows != 1 || r.Match != sqleval.NoMatch) {
				t.Errorf("wrong answer record %+v", r)
			}
		}
		if s := sqleval.Summarize(recs); s.Overall.Correct != len(f.all)-1 {
			t.Errorf("correct %d, want %d", s.Overall.Correct, len(f.all)-1)
		}
	})

	t.Run("failing answer and timeout", func(t *testing.T) {
		qs := f.files["instruct_basic_postgres.csv"]
		if len(qs) < 4 {
			t.Fatal("basic file has fewer than 4 questions")
		}
		qs = qs[:4]
		answers := goldAnswers(qs)
		answers[normQuestion(qs[0].Question)] = "SELECT no_such_column FROM sbCustomer"
		answers[normQuestion(qs[1].Question)] = "SELECT count(*) FROM generate_series(1, 2000000000) AS a"
		// No rows: a result set all the same, scored (wrong), not an error.
		answers[normQuestion(qs[3].Question)] = "SELECT * FROM (" + sqleval.GoldQueries(qs[3].Query)[0] + ") AS g WHERE false"
		addr := startFakePgask(t, f.cluster, &goldEngine{answers: answers})
		recs, err := runEval(ctx, qs, f.connect(addr), evalOptions{Timeout: 3 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != 4 {
			t.Fatalf("%d records", len(recs))
		}
		if recs[0].Correct || !strings.Contains(recs[0].Error, "no_such_column") {
			t.Errorf("failing answer: %+v", recs[0])
		}
		if recs[1].Correct || !strings.Contains(recs[1].Error, "no answer within") {
			t.Errorf("timed-out answer: %+v", recs[1])
		}
		// The connection stays usable after the cancelled question.
		if !recs[2].Correct {
			t.Errorf("question after a timeout: %+v", recs[2])
		}
		if recs[3].Correct || recs[3].Error != "" || recs[3].Rows != 0 || recs[3].GeneratedSQL == "" {
			t.Errorf("answer without rows: %+v", recs[3])
		}
	})

	// The command's in-process mode: pgask as serve builds it (the tiny random-weight GGUF on
	// llama.cpp, narrow grammar) in front of the cluster. The answers are nonsense; every
	// question must still be asked, answered with SQL from the NOTICE, and recorded.
	t.Run("in-process tiny model", func(t *testing.T) {
		model := filepath.Join(t.TempDir(), "tiny.gguf")
		if err := testmodel.Write(model, testmodel.Options{Type: testmodel.F16, Seed: 7}); err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(t.TempDir(), "out.jsonl")
		cmd := newEvalCmd()
		cmd.SilenceUsage, cmd.SilenceErrors = true, true
		var stdout, stderr bytes.Buffer
		cmd.SetOut(&stdout)
		cmd.SetErr(&stderr)
		cmd.SetArgs([]string{"--in-process", "--url", f.cluster.URL("postgres", "postgres"), "--out", out, "--limit", "2",
			"--model", model, "--template", "sqlcoder-7b-2", "--ask-grammar", "narrow", "--ask-max-tokens", "48",
			"--threads", "1", "--ask-max-repairs", "3", "--timeout", "2m",
			filepath.Join(sharedDir(t), "sql-eval", "instruct_basic_postgres.csv")})
		if err := cmd.ExecuteContext(ctx); err != nil {
			t.Fatalf("eval --in-process: %v\n%s", err, stderr.String())
		}
		if !regexp.MustCompile(`(?m)^\s*overall\s+\d+\s+2\s`).MatchString(stdout.String()) {
			t.Errorf("summary does not count 2 questions:\n%s", stdout.String())
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		if len(lines) != 2 {
			t.Fatalf("%d JSONL records, want 2:\n%s", len(lines), b)
		}
		for _, l := range lines {
			var r sqleval.Record
			if err := json.Unmarshal([]byte(l), &r); err != nil {
				t.Fatal(err)
			}
			if r.DBName != "broker" || (r.Error == "" && !strings.HasPrefix(r.GeneratedSQL, "SELECT ")) {
				t.Errorf("record %+v", r)
			}
		}
		t.Logf("tiny model:\n%s%s", stderr.String(), stdout.String())
	})

	t.Run("command", func(t *testing.T) {
		addr := startFakePgask(t, f.cluster, &goldEngine{answers: goldAnswers(f.all)})
		out := filepath.Join(t.TempDir(), "out.jsonl")
		file := filepath.Join(sharedDir(t), "sql-eval", "instruct_basic_postgres.csv")
		cmd := newEvalCmd()
		var stdout, stderr bytes.Buffer
		cmd.SetOut(&stdout)
		cmd.SetErr(&stderr)
		cmd.SetArgs([]string{"--url", "postgres://postgres@" + addr + "/?sslmode=disable", "--out", out,
			"--limit", "4", "--category", "basic_join_date_group_order_limit,basic_left_join", file})
		if err := cmd.ExecuteContext(ctx); err != nil {
			t.Fatalf("eval: %v\n%s", err, stderr.String())
		}
		if !strings.Contains(stdout.String(), "overall") || !strings.Contains(stdout.String(), "100.0%") {
			t.Errorf("summary:\n%s", stdout.String())
		}
		if n := strings.Count(stderr.String(), "correct ("); n != 4 {
			t.Errorf("%d progress lines say correct, want 4:\n%s", n, stderr.String())
		}
		fh, err := os.Open(out)
		if err != nil {
			t.Fatal(err)
		}
		defer fh.Close()
		sc := bufio.NewScanner(fh)
		sc.Buffer(nil, 1<<20)
		n := 0
		for sc.Scan() {
			var r sqleval.Record
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
				t.Fatalf("JSONL line %d: %v", n+1, err)
			}
			if !r.Correct || r.GeneratedSQL == "" || r.DBName == "" ||
				(r.Category != "basic_join_date_group_order_limit" && r.Category != "basic_left_join") {
				t.Errorf("JSONL record %+v", r)
			}
			n++
		}
		if n != 4 {
			t.Errorf("%d JSONL records, want 4", n)
		}
	})
}

func TestSelectQuestions(t *testing.T) {
	qs := []sqleval.Question{{Category: "a", Line: 1}, {Category: "b", Line: 2}, {Category: "a", Line: 3}, {Category: "c", Line: 4}}
	lines := func(qs []sqleval.Question) []int {
		var out []int
		for _, q := range qs {
			out = append(out, q.Line)
		}
		return out
	}
	for _, tc := range []struct {
		name  string
		cats  []string
		limit int
		want  []int
	}{
		{"all", nil, 0, []int{1, 2, 3, 4}},
		{"limit", nil, 2, []int{1, 2}},
		{"category", []string{"a"}, 0, []int{1, 3}},
		{"categories and limit", []string{"a", "c"}, 2, []int{1, 3}},
		{"no match", []string{"x"}, 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := lines(selectQuestions(qs, tc.cats, tc.limit))
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("got %v, want %v", got, tc.want)
				}
			}
		})
	}
}
