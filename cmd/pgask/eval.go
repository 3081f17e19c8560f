package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/spf13/cobra"

	"github.com/pgask/pgask/config"
	"github.com/pgask/pgask/proxy/ask"
	"github.com/pgask/pgask/translate/sqleval"
)

func newEvalCmd() *cobra.Command {
	var (
		configFile string
		rawURL     string
		inProcess  bool
		outFile    string
		limit      int
		categories []string
		timeout    time.Duration
		quiet      bool
	)
	cmd := &cobra.Command{
		Use:   "eval FILE.csv",
		Short: "Measure answer accuracy on a sql-eval question file",
		Long: `Ask every question of a question file in defog's sql-eval CSV format (db_name,
query_category, question, query) over the wire through pgask, score the rows that come
back against the gold query by sql-eval's rules, and print the accuracy overall and per
query_category with latency percentiles.

--url is a connection URL; each question's db_name replaces its database. Without
--in-process it names a running pgask. With --in-process (or without --url, using
--upstream and the libpq environment) pgask runs in process, configured like serve, in
front of the PostgreSQL server the URL names. The databases must be loaded beforehand;
eval loads nothing. Each connection is set to default_transaction_read_only.`,
		Example: `  pgask eval --url postgres://eval@localhost:6432/?sslmode=disable sql-eval/instruct_basic_postgres.csv
  pgask eval --in-process --url postgres://postgres@localhost:5432/ --model ./sqlcoder-7b-2.Q4_K_M.gguf --out results.jsonl questions.csv`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			qs, err := readQuestionFile(args[0])
			if err != nil {
				return err
			}
			qs = selectQuestions(qs, categories, limit)
			if len(qs) == 0 {
				return errors.New("no questions selected")
			}
			if rawURL == "" {
				rawURL = os.Getenv("PGASK_URL")
			}
			if rawURL == "" {
				inProcess = true // the libpq environment (PGHOST, PGUSER, …) and --upstream
			}
			u, err := parseClientURL(rawURL)
			if err != nil {
				return err
			}
			addr := ""
			stats := &askStats{}
			if inProcess {
				cfg, err := inProcessConfig(cmd.Flags(), configFile, u.upstream)
				if err != nil {
					return err
				}
				log, err := cliLogger(cmd.ErrOrStderr(), cmd.Flags(), cfg)
				if err != nil {
					return err
				}
				a, stop, err := startInProcess(ctx, cfg, log, stats.observe)
				if err != nil {
					return err
				}
				defer stop()
				addr = a
			}
			var sink *jsonlSink
			if outFile != "" {
				f, err := os.Create(outFile)
				if err != nil {
					return fmt.Errorf("--out: %w", err)
				}
				defer f.Close()
				sink = &jsonlSink{w: bufio.NewWriter(f)}
			}
			opts := evalOptions{Timeout: timeout, File: filepath.Base(args[0])}
			if inProcess {
				opts.Stats = stats.take
			}
			if !quiet {
				opts.Progress = cmd.ErrOrStderr()
			}
			if sink != nil {
				opts.Emit = sink.write
			}
			connect := func(ctx context.Context, db string, onNotice func(*pgconn.Notice)) (*pgconn.PgConn, error) {
				cc, err := u.connectConfig(addr, db, onNotice)
				if err != nil {
					return nil, err
				}
				return pgconn.ConnectConfig(ctx, cc)
			}
			recs, err := runEval(ctx, qs, connect, opts)
			if sink != nil {
				if ferr := sink.w.Flush(); ferr != nil && err == nil {
					err = fmt.Errorf("--out: %w", ferr)
				}
			}
			if len(recs) > 0 {
				out := cmd.OutOrStdout()
				fmt.Fprintf(out, "%s: %d questions\n", args[0], len(recs))
				if werr := sqleval.Summarize(recs).WriteText(out); werr != nil && err == nil {
					err = werr
				}
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&rawURL, "url", "", "connection URL; each question's db_name replaces the database: a running pgask, or PostgreSQL with --in-process ($PGASK_URL)")
	f.BoolVar(&inProcess, "in-process", false, "run pgask in process in front of the server --url names (serve's flags configure it)")
	f.StringVarP(&outFile, "out", "o", "", "write one JSON object per question to this file (JSONL)")
	f.IntVar(&limit, "limit", 0, "ask at most this many questions (0 = all)")
	f.StringSliceVar(&categories, "category", nil, "ask only questions of these query_category values (repeat or comma-separate)")
	f.DurationVar(&timeout, "timeout", 2*time.Minute, "longest time one question (answer and gold query) may take; it is then cancelled and counted wrong")
	f.BoolVarP(&quiet, "quiet", "q", false, "print only the summary, not a line per question")
	f.StringVar(&configFile, "config", "", "YAML configuration file (serve's keys, for --in-process)")
	config.RegisterFlags(f)
	return cmd
}

func readQuestionFile(path string) ([]sqleval.Question, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read questions: %w", err)
	}
	defer f.Close()
	qs, err := sqleval.ReadQuestions(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return qs, nil
}

// selectQuestions keeps the questions of the given categories (all when none), at most limit
// of them (all when limit ≤ 0), in file order.
func selectQuestions(qs []sqleval.Question, categories []string, limit int) []sqleval.Question {
	var out []sqleval.Question
	for _, q := range qs {
		if len(categories) > 0 && !slices.Contains(categories, q.Category) {
			continue
		}
		if limit > 0 && len(out) == limit {
			break
		}
		out = append(out, q)
	}
	return out
}

type jsonlSink struct{ w *bufio.Writer }

func (s *jsonlSink) write(r sqleval.Record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	b = append(b, '\n')
	if _, err := s.w.Write(b); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	return nil
}

// connectFunc opens a connection to database db through pgask; onNotice receives the
// connection's notices (pgask sends the generated SQL as one).
type connectFunc func(ctx context.Context, db string, onNotice func(*pgconn.Notice)) (*pgconn.PgConn, error)

type evalOptions struct {
	Timeout  time.Duration              // per question (answer and gold queries); 0 = none
	File     string                     // the question file's base name, for the records
	Progress io.Writer                  // a line per question when set
	Emit     func(sqleval.Record) error // called with each record as it is made
	// Stats, when set, returns pgask's account of the question's ASK (in process only).
	Stats func(question string) *sqleval.AskStats
}

// askStats keeps the last in-process ASK event of each question text, for the eval records.
type askStats struct {
	mu   sync.Mutex
	last map[string]ask.Event
}

func (a *askStats) observe(ev ask.Event) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.last == nil {
		a.last = map[string]ask.Event{}
	}
	a.last[ev.Question] = ev
}

// take returns and forgets the event of question, nil when none was seen.
func (a *askStats) take(question string) *sqleval.AskStats {
	a.mu.Lock()
	ev, ok := a.last[question]
	delete(a.last, question)
	a.mu.Unlock()
	if !ok {
		return nil
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	return &sqleval.AskStats{
		Outcome: ev.Outcome, Attempts: ev.Attempts, Example: ev.Example, EmptyRepair: ev.EmptyRepair,
		VoteCandidates: ev.VoteCandidates, VoteVotes: ev.VoteVotes,
		PromptTokens: ev.PromptTokens, ReusedTokens: ev.ReusedTokens, GeneratedTokens: ev.GeneratedTokens,
		GrammarFallback: ev.GrammarFallback,
		IntrospectMS:    ms(ev.Introspect), PromptEvalMS: ms(ev.Translate.PromptEval),
		GenerationMS: ms(ev.Translate.Generation), CheckMS: ms(ev.Translate.Check), ExecuteMS: ms(ev.Execute),
	}
}

// evalConn is one connection per database, with the SQL of the last pgask NOTICE seen on it.
type evalConn struct {
	conn *pgconn.PgConn
	sql  string
}

// runEval asks each question through pgask over a connection to its database (one per
// db_name, reused, read-only), scores the rows that come back against the gold query with
// sqleval's rules and returns a record per question. An answer that fails or times out is a
// wrong answer; a connection broken by a timeout is replaced. runEval stops early only when
// ctx ends, a connection cannot be opened or Emit fails; it then returns the records so far.
func runEval(ctx context.Context, qs []sqleval.Question, connect connectFunc, opts evalOptions) ([]sqleval.Record, error) {
	conns := map[string]*evalConn{}
	defer func() {
		for _, c := range conns {
			_ = c.conn.Close(context.WithoutCancel(ctx))
		}
	}()
	get := func(db string) (*evalConn, error) {
		if c, ok := conns[db]; ok && !c.conn.IsClosed() {
			return c, nil
		}
		c := &evalConn{}
		conn, err := connect(ctx, db, func(n *pgconn.Notice) {
			if s, ok := strings.CutPrefix(n.Message, "pgask: "); ok {
				c.sql = s
			}
		})
		if err != nil {
			return nil, fmt.Errorf("connect to %s: %w", db, err)
		}
		// No answer may change the data a later gold query reads.
		if _, err := conn.Exec(ctx, "SET default_transaction_read_only = on").ReadAll(); err != nil {
			_ = conn.Close(ctx)
			return nil, fmt.Errorf("connect to %s: set read-only: %w", db, err)
		}
		c.conn = conn
		conns[db] = c
		return c, nil
	}
	recs := make([]sqleval.Record, 0, len(qs))
	for i, q := range qs {
		if err := ctx.Err(); err != nil {
			return recs, err
		}
		c, err := get(q.DBName)
		if err != nil {
			return recs, err
		}
		rec := evalOne(ctx, c, q, opts.Timeout)
		rec.File = opts.File
		if opts.Stats != nil {
			rec.Ask = opts.Stats(strings.TrimSpace(q.Question))
		}
		if err := ctx.Err(); err != nil {
			return recs, err // cancelled by the caller, not a wrong answer
		}
		recs = append(recs, rec)
		if opts.Progress != nil {
			verdict := "wrong"
			if rec.Correct {
				verdict = "correct (" + string(rec.Match) + ")"
			}
			if rec.Error != "" {
				verdict += ": " + firstLine(rec.Error)
			}
			fmt.Fprintf(opts.Progress, "[%d/%d] %s %s line %d: %s in %s\n", i+1, len(qs), q.DBName, q.Category, q.Line,
				verdict, time.Duration(rec.LatencyMS*float64(time.Millisecond)).Round(time.Millisecond))
		}
		if opts.Emit != nil {
			if err := opts.Emit(rec); err != nil {
				return recs, err
			}
		}
	}
	return recs, nil
}

// evalOne asks q on c and scores the answer.
func evalOne(ctx context.Context, c *evalConn, q sqleval.Question, timeout time.Duration) sqleval.Record {
	bounded := func() (context.Context, context.CancelFunc) {
		if timeout > 0 {
			return context.WithTimeout(ctx, timeout)
		}
		return context.WithCancel(ctx)
	}
	qctx, cancel := bounded()
	defer cancel()
	c.sql = ""
	start := time.Now()
	results, err := readResults(c.conn.Exec(qctx, "ASK "+q.Question))
	latency := time.Since(start)
	if err != nil {
		if qctx.Err() != nil {
			err = fmt.Errorf("no answer within %s: %s", timeout, pgErrorText(err))
		} else {
			err = errors.New(pgErrorText(err))
		}
		return sqleval.NewRecord(q, c.sql, sqleval.Outcome{}, latency, err)
	}
	var got sqleval.Result
	found := false
	for _, r := range results {
		if len(r.fields) == 0 {
			continue
		}
		got, found = sqleval.Result{}, true
		for _, fd := range r.fields {
			got.Columns = append(got.Columns, fd.Name)
		}
		for _, row := range r.rows {
			vals := make([]*string, len(row))
			for j, v := range row {
				if v != nil {
					s := string(v)
					vals[j] = &s
				}
			}
			got.Rows = append(got.Rows, vals)
		}
	}
	if !found {
		return sqleval.NewRecord(q, c.sql, sqleval.Outcome{}, latency, errors.New("the answer returned no result set"))
	}
	gctx, gcancel := bounded()
	defer gcancel()
	o, err := sqleval.ScoreResult(gctx, sqleval.ConnRunner{Conn: c.conn}, q, got)
	if err != nil {
		err = fmt.Errorf("cannot score (gold query failed): %w", err)
	}
	return sqleval.NewRecord(q, c.sql, o, latency, err)
}
