package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/spf13/cobra"

	"github.com/pgask/pgask/introspect"
	"github.com/pgask/pgask/translate/examples"
	"github.com/pgask/pgask/translate/sqleval"
)

// newInitCmd returns `pgask init`: it creates schema pgask and table pgask.examples.
func newInitCmd() *cobra.Command {
	var rawURL string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Create pgask's table of verified question → SQL pairs (pgask.examples) in a database",
		Long: `Connects to the database the URL names (or the libpq environment's) and creates schema
pgask and table pgask.examples, where verified question → SQL pairs are kept: a question that
matches a stored one is answered with its SQL without the model, and the most similar pairs
are shown to the model as worked examples. It is idempotent: when both exist it changes
nothing and says so. The SQL it runs is printed by --print (the same file is
translate/examples/init.sql), for those who prefer to run it themselves. Grant SELECT on
the table to the roles whose ASKs should use the pairs, INSERT to those who may TEACH.`,
		Example: `  pgask init --url postgres://owner@db.internal/shop
  pgask init --print | psql -d shop`,
		Args:         cobra.NoArgs,
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if p, _ := cmd.Flags().GetBool("print"); p {
				_, err := io.WriteString(cmd.OutOrStdout(), examples.InitSQL)
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			return runInit(ctx, cmd.OutOrStdout(), rawURL)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&rawURL, "url", "", "the database: a postgres:// URL (default: the PG* environment variables)")
	fl.Bool("print", false, "print the SQL instead of running it")
	fl.DurationVar(&timeout, "timeout", time.Minute, "time limit")
	return cmd
}

// existsSQL says whether schema pgask and table pgask.examples exist.
const existsSQL = `SELECT (SELECT count(*) FROM pg_catalog.pg_namespace WHERE nspname = 'pgask'),
  (SELECT count(*) FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
   WHERE n.nspname = 'pgask' AND c.relname = 'examples')`

func existing(ctx context.Context, conn *pgx.Conn) (schema, table bool, err error) {
	rows, err := introspect.NewPgxQuerier(conn).QueryText(ctx, existsSQL)
	if err != nil {
		return false, false, fmt.Errorf("look for pgask.examples: %w", err)
	}
	if len(rows) != 1 || len(rows[0]) != 2 {
		return false, false, errors.New("look for pgask.examples: unexpected result")
	}
	return string(rows[0][0]) != "0", string(rows[0][1]) != "0", nil
}

func runInit(ctx context.Context, out io.Writer, rawURL string) error {
	conn, err := connectURL(ctx, rawURL, "")
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	db := conn.Config().Database
	schema, table, err := existing(ctx, conn)
	if err != nil {
		return err
	}
	if schema && table {
		fmt.Fprintf(out, "pgask init: schema pgask and table pgask.examples already exist in database %s: nothing changed\n", db)
		return nil
	}
	if _, err := conn.PgConn().Exec(ctx, "BEGIN;\n"+examples.InitSQL+"\nCOMMIT").ReadAll(); err != nil {
		return fmt.Errorf("create pgask.examples: %w", err)
	}
	if !schema {
		fmt.Fprintf(out, "pgask init: created schema pgask in database %s\n", db)
	}
	fmt.Fprintf(out, "pgask init: created table pgask.examples (id, question, sql, added_by, added_at) in database %s\n", db)
	fmt.Fprintln(out, "Grant SELECT on pgask.examples (and USAGE on schema pgask) to the roles that ask, INSERT to those who may TEACH.")
	return nil
}

// connectURL connects with a postgres:// URL (empty: the libpq environment), to database db
// instead of the URL's when db is not empty.
func connectURL(ctx context.Context, rawURL, db string) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(rawURL)
	if err != nil {
		return nil, fmt.Errorf("url: %w", err)
	}
	if db != "" {
		cfg.Database = db
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	return conn, nil
}

// newExamplesCmd returns `pgask examples` and its subcommand import.
func newExamplesCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "examples",
		Short: "Manage verified question → SQL pairs (pgask.examples)",
	}
	var rawURL string
	var timeout time.Duration
	imp := &cobra.Command{
		Use:   "import FILE.csv",
		Short: "Add question → SQL pairs from a CSV file, with TEACH's checks",
		Long: `Reads pairs from a CSV file with a header naming question and query (defog's sql-eval
question files as they are) or sql, and adds each pair to pgask.examples with the checks
TEACH applies: the SQL must be one read-only SELECT that passes EXPLAIN, read-only, as the
URL's user; the INSERT runs as that user, so the database's privileges decide. When the file
has a db_name column, each pair goes to that database (the URL's database is replaced, as
pgask eval does); otherwise to the URL's. A pair already stored (the same question and SQL)
is skipped. A summary lists the rejected rows with their reasons; the exit status is 1 when
any row was rejected.`,
		Example:      `  pgask examples import --url postgres://curator@db.internal/shop verified.csv`,
		Args:         cobra.ExactArgs(1),
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			return runImport(ctx, cmd.OutOrStdout(), rawURL, args[0])
		},
	}
	fl := imp.Flags()
	fl.StringVar(&rawURL, "url", "", "the database: a postgres:// URL (default: the PG* environment variables)")
	fl.DurationVar(&timeout, "timeout", 10*time.Minute, "time limit for the whole import")
	cmd.AddCommand(imp)
	return cmd
}

// errRejected is the error of an import that rejected rows (after its summary).
var errRejected = errors.New("some rows were rejected")

func runImport(ctx context.Context, out io.Writer, rawURL, file string) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	pairs, err := sqleval.ReadPairs(f)
	f.Close()
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	byDB := map[string][]sqleval.Pair{}
	var dbs []string
	for _, p := range pairs {
		if _, ok := byDB[p.DBName]; !ok {
			dbs = append(dbs, p.DBName)
		}
		byDB[p.DBName] = append(byDB[p.DBName], p)
	}
	sort.Strings(dbs)
	type reject struct {
		line   int
		db     string
		reason string
	}
	var rejects []reject
	added, dup := 0, 0
	for _, db := range dbs {
		conn, err := connectURL(ctx, rawURL, db)
		if err != nil {
			for _, p := range byDB[db] {
				rejects = append(rejects, reject{p.Line, db, err.Error()})
			}
			continue
		}
		name := conn.Config().Database
		q := introspect.NewPgxQuerier(conn)
		for _, p := range byDB[db] {
			question, sql, err := examples.Check(ctx, examples.ReadOnlyExplainer{Q: q}, p.Question, p.SQL)
			if err == nil {
				var res []*pgconn.Result
				res, err = conn.PgConn().Exec(ctx, insertNewSQL(question, sql)).ReadAll()
				if err == nil && len(res) == 1 {
					if res[0].CommandTag.RowsAffected() == 1 {
						added++
					} else {
						dup++
					}
					continue
				}
			}
			if err == nil {
				err = errors.New("unexpected reply to the INSERT")
			}
			rejects = append(rejects, reject{p.Line, name, rejectReason(err)})
			if ctx.Err() != nil {
				break
			}
		}
		conn.Close(context.WithoutCancel(ctx))
	}
	fmt.Fprintf(out, "pgask examples import: %d rows: %d added, %d already stored, %d rejected\n", len(pairs), added, dup, len(rejects))
	for _, r := range rejects {
		fmt.Fprintf(out, "  row %d (database %s): %s\n", r.line, r.db, r.reason)
	}
	if len(rejects) > 0 {
		return errRejected
	}
	return nil
}

// insertNewSQL stores a pair unless the same question and SQL are stored already.
func insertNewSQL(question, sql string) string {
	q, s := introspect.QuoteLiteral(question), introspect.QuoteLiteral(sql)
	return "INSERT INTO " + examples.Table + " (question, sql) SELECT " + q + ", " + s +
		" WHERE NOT EXISTS (SELECT FROM " + examples.Table + " WHERE question = " + q + " AND sql = " + s + ")"
}

func rejectReason(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Message + " (SQLSTATE " + pe.Code + ")"
	}
	return err.Error()
}
