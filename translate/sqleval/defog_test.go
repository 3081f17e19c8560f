package sqleval

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgask/pgask/internal/pgcluster"
	"github.com/pgask/pgask/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var defogLoaded struct {
	sync.Mutex
	done map[string]error
}

// defogRunner returns a read-only runner on the defog database name, loading its dump from
// testdata/defog-data into the package's shared cluster on first use.
func defogRunner(t *testing.T, ctx context.Context, dir, name string) ConnRunner {
	t.Helper()
	c := pgtest.Shared(t)
	defogLoaded.Lock()
	if defogLoaded.done == nil {
		defogLoaded.done = map[string]error{}
	}
	err, ok := defogLoaded.done[name]
	if !ok {
		err = loadDefog(ctx, c, dir, name)
		defogLoaded.done[name] = err
	}
	defogLoaded.Unlock()
	if err != nil {
		t.Fatalf("load defog database %s: %v", name, err)
	}
	conn, err := pgconn.Connect(ctx, c.URL("postgres", name))
	if err != nil {
		t.Fatalf("connect to %s: %v", name, err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	// Answers under test must not change the data the next gold query reads.
	if _, err := conn.Exec(ctx, "SET default_transaction_read_only = on").ReadAll(); err != nil {
		t.Fatal(err)
	}
	return ConnRunner{Conn: conn}
}

// loadDefog creates database name and runs its dump (plain DDL and INSERTs, some relative to
// CURRENT_DATE, ewallet's in a schema of its own) with psql, stopping at the first error.
func loadDefog(ctx context.Context, c *pgcluster.Cluster, dir, name string) error {
	if err := c.CreateDatabase(ctx, name); err != nil {
		return err
	}
	return c.LoadFile(ctx, name, filepath.Join(dir, "defog-data", name, name+".sql"))
}

type fileQuestions struct {
	file string
	qs   []Question
}

func sqlEvalQuestions(t *testing.T) (string, []fileQuestions) {
	dir := sharedDir(t)
	files, _ := filepath.Glob(filepath.Join(dir, "sql-eval", "*.csv"))
	var out []fileQuestions
	for _, f := range files {
		out = append(out, fileQuestions{filepath.Base(f), readQuestionFile(t, f)})
	}
	return dir, out
}

// TestGoldScoresItself answers every question of the sql-eval files with each of its own gold
// alternatives: every answer must score correct.
func TestGoldScoresItself(t *testing.T) {
	dir, files := sqlEvalQuestions(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	runners := map[string]ConnRunner{}
	alternatives := 0
	for _, f := range files {
		var recs []Record
		for _, q := range f.qs {
			r, ok := runners[q.DBName]
			if !ok {
				r = defogRunner(t, ctx, dir, q.DBName)
				runners[q.DBName] = r
			}
			for i, alt := range GoldQueries(q.Query) {
				alternatives++
				start := time.Now()
				o, err := Score(ctx, r, q, alt)
				if err != nil {
					t.Errorf("%s record %d alternative %d: %v", f.file, q.Line, i, err)
					continue
				}
				if !o.Correct || o.GenErr != nil {
					t.Errorf("%s record %d alternative %d scores wrong (%+v):\n%s", f.file, q.Line, i, o, alt)
				}
				if i == 0 {
					recs = append(recs, NewRecord(q, alt, o, time.Since(start), nil))
				}
			}
		}
		s := Summarize(recs)
		if s.Overall.Total != len(f.qs) || s.Overall.Correct != len(f.qs) {
			t.Errorf("%s: %d of %d questions score their own gold query correct", f.file, s.Overall.Correct, s.Overall.Total)
		}
		t.Logf("%s: %d of %d gold answers correct (%d exact matches), scoring p50 %s p99 %s",
			f.file, s.Overall.Correct, s.Overall.Total, s.Exact, s.P50, s.P99)
	}
	t.Logf("gold alternatives answered: %d", alternatives)
}

var trailingLimit = regexp.MustCompile(`(?i)\bLIMIT\s+(\d+)\s*$`)

// TestWrongAnswersScoreWrong answers every question with queries whose results must differ from
// the gold one: no rows (or one row when the gold result is empty), SELECT 1, a LIMIT one
// smaller than the gold's where that removes a distinct row, and a query that fails.
func TestWrongAnswersScoreWrong(t *testing.T) {
	dir, files := sqlEvalQuestions(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	runners := map[string]ConnRunner{}
	limits := 0
	for _, f := range files {
		for _, q := range f.qs {
			r, ok := runners[q.DBName]
			if !ok {
				r = defogRunner(t, ctx, dir, q.DBName)
				runners[q.DBName] = r
			}
			alts := GoldQueries(q.Query)
			gold, err := r.Query(ctx, alts[0])
			if err != nil {
				t.Fatalf("%s record %d: gold query: %v", f.file, q.Line, err)
			}
			wrong := []string{"SELEC 1"}
			if len(gold.Rows) > 0 {
				wrong = append(wrong, fmt.Sprintf("SELECT * FROM (%s) AS g WHERE false", alts[0]))
			} else {
				wrong = append(wrong, "SELECT 1 AS one")
			}
			if Compare(gold, res("x", row("1")), Ordered(q)) == NoMatch && len(alts) == 1 {
				wrong = append(wrong, "SELECT 1")
			}
			if m := trailingLimit.FindStringSubmatch(alts[0]); m != nil && len(alts) == 1 {
				n, _ := strconv.Atoi(m[1])
				distinct := len(newTable(gold).normalize(false).rows)
				if n > 1 && len(gold.Rows) == n && distinct == n {
					wrong = append(wrong, trailingLimit.ReplaceAllString(alts[0], "LIMIT "+strconv.Itoa(n-1)))
					limits++
				}
			}
			for _, w := range wrong {
				o, err := Score(ctx, r, q, w)
				if err != nil {
					t.Errorf("%s record %d: %q: %v", f.file, q.Line, w, err)
					continue
				}
				if o.Correct || o.Match != NoMatch {
					t.Errorf("%s record %d: wrong answer scores correct (%+v):\n%s", f.file, q.Line, o, w)
				}
				if (w == "SELEC 1") != (o.GenErr != nil) {
					t.Errorf("%s record %d: %q: GenErr = %v", f.file, q.Line, w, o.GenErr)
				}
			}
		}
	}
	if limits == 0 {
		t.Error("no question had a LIMIT to shrink; the LIMIT variant tested nothing")
	}
	t.Logf("LIMIT variants tested: %d", limits)
}

// TestScoreGoldFailure checks that a gold query that fails is an error, not a wrong answer.
func TestScoreGoldFailure(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := pgtest.Shared(t)
	db := pgtest.NewDatabase(t, c)
	conn, err := pgconn.Connect(ctx, c.URL("postgres", db))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	r := ConnRunner{Conn: conn}
	q := Question{DBName: db, Category: "c", Question: "q", Query: "SELECT * FROM no_such_table", Line: 1}
	if _, err := Score(ctx, r, q, "SELECT 1"); err == nil {
		t.Error("Score with a failing gold query returned no error")
	}
	// And the runner: last result set of several statements, NULLs, statements without rows.
	got, err := r.Query(ctx, "SELECT 1 AS a; SET LOCAL work_mem = '8MB'; SELECT NULL::int AS b, 'x' AS c")
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Columns) != 2 || got.Columns[0] != "b" || len(got.Rows) != 1 || got.Rows[0][0] != nil || *got.Rows[0][1] != "x" {
		t.Errorf("runner result %+v", got)
	}
	if _, err := r.Query(ctx, "SET work_mem = '8MB'"); err == nil {
		t.Error("runner accepted a statement without a result set")
	}
}
