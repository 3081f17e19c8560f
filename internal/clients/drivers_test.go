package clients

import (
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// drivers is the matrix. Each expect function is the README's table for that client: the
// forms that give the gold rows, and the way the others break.
var drivers = []driver{
	{name: "pgx", run: runPgx, hints: 1, plain: allPlain, expect: expectPgx},
	{name: "psql", run: runPsql, plain: []string{"tables", "columns", "tx", "after_rollback", "copy", "error", "after_error"}, expect: expectPsql},
	{name: "psycopg2", run: python("psycopg2"), plain: allPlain},
	{name: "psycopg3", run: python("psycopg3"), hints: 1, plain: allPlain, expect: expectPsycopg3},
	{name: "sqlalchemy", run: python("sqlalchemy"), plain: []string{"tables", "columns", "param", "tx", "after_rollback", "error", "after_error"}, expect: expectSQLAlchemy},
	{name: "psqlodbc", run: pyodbc, plain: []string{"tables", "columns", "param", "tx", "after_rollback", "error", "after_error"}, expect: expectODBC},
	{name: "pgjdbc", run: runPgjdbc, hints: 1, plain: allPlain, expect: expectPgjdbc},
	{name: "node-postgres", run: runNodePostgres, hints: 2, plain: []string{"tables", "columns", "param", "tx", "after_rollback", "error", "after_error"}, expect: expectNode},
}

func venvPython(t *testing.T, e env) string {
	t.Helper()
	py := filepath.Join(e.cache, "venv", "bin", "python")
	requireFile(t, py, "the Python drivers' virtual environment")
	return py
}

func python(driver string) func(t *testing.T, ctx context.Context, e env) []result {
	return func(t *testing.T, ctx context.Context, e env) []result {
		py := venvPython(t, e)
		return runProgram(t, ctx, e, exec.CommandContext(ctx, py, testdata(t, "python/matrix.py"), driver))
	}
}

func pyodbc(t *testing.T, ctx context.Context, e env) []result {
	py := venvPython(t, e)
	drv, _ := filepath.Glob("/usr/lib/*/odbc/psqlodbcw.so")
	if len(drv) == 0 {
		missing(t, "psqlODBC (Debian package odbc-postgresql)")
	}
	cmd := exec.CommandContext(ctx, py, testdata(t, "python/matrix.py"), "pyodbc")
	cmd.Env = append(cmd.Env, "PGASK_ODBC_DRIVER="+drv[0])
	return runProgram(t, ctx, e, cmd)
}

// runPgx is pgx in this process: the simple protocol, and the extended protocol with a cached
// named statement and with the unnamed one.
func runPgx(t *testing.T, ctx context.Context, e env) []result {
	url := "postgres://postgres@" + e.host + ":" + e.port + "/" + e.db + "?sslmode=disable"
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var out []result
	add := func(api, c string, rows [][]*string, err error) {
		r := result{API: api, Case: c, Rows: rows}
		if err != nil {
			r.Rows, r.Error = nil, err.Error()
			var pe *pgconn.PgError
			if errors.As(err, &pe) {
				r.SQLState, r.Hint = pe.Code, pe.Hint
			}
		}
		out = append(out, r)
	}
	query := func(mode pgx.QueryExecMode, sql string, args ...any) ([][]*string, error) {
		rows, err := conn.Query(ctx, sql, append([]any{mode, pgx.QueryResultFormats{pgx.TextFormatCode}}, args...)...)
		if err != nil {
			return nil, err
		}
		return textRows(rows)
	}
	def := pgx.QueryExecModeCacheStatement
	rows, err := query(def, `SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') ORDER BY 1`)
	add("extended", "plain/tables", rows, err)
	if r, err := conn.Query(ctx, "SELECT * FROM orders LIMIT 0"); err == nil {
		var cols [][]*string
		for _, f := range r.FieldDescriptions() {
			cols = append(cols, []*string{text(f.Name)})
		}
		r.Close()
		add("extended", "plain/columns", cols, r.Err())
	} else {
		add("extended", "plain/columns", nil, err)
	}
	rows, err = query(def, "SELECT name FROM cities WHERE population > $1 ORDER BY name", 300000)
	add("extended", "plain/param", rows, err)
	if tx, err := conn.Begin(ctx); err == nil {
		_, err = tx.Exec(ctx, "INSERT INTO orders VALUES (100, 'Lyon', 'paid', 1.00, 0)")
		if err == nil {
			rows, err = query(def, "SELECT count(*)::text FROM orders WHERE status = 'paid'")
		}
		add("extended", "plain/tx", rows, err)
		_ = tx.Rollback(ctx)
	}
	rows, err = query(def, "SELECT count(*)::text FROM orders WHERE status = 'paid'")
	add("extended", "plain/after_rollback", rows, err)
	var buf strings.Builder
	_, err = conn.PgConn().CopyTo(ctx, &buf, "COPY (SELECT name, population FROM cities ORDER BY name) TO STDOUT")
	add("extended", "plain/copy", copyRows(buf.String()), err)
	_, err = query(def, "SELECT * FROM no_such_table")
	add("extended", "plain/error", nil, err)
	rows, err = query(def, "SELECT 1")
	add("extended", "plain/after_error", rows, err)

	for _, api := range []struct {
		name string
		mode pgx.QueryExecMode
	}{{"simple", pgx.QueryExecModeSimpleProtocol}, {"extended", def}, {"unnamed", pgx.QueryExecModeExec}} {
		for _, c := range askCases() {
			rows, err := query(api.mode, c.SQL)
			add(api.name, c.ID, rows, err)
		}
	}
	// A driver that turned the `?` of a question into a parameter: the question holds $1 and a
	// value is bound to it.
	_, err = query(def, "ASK how many orders cost more than $1", 5)
	add("extended", "hint", nil, err)
	return out
}

func copyRows(s string) [][]*string {
	var out [][]*string
	for _, line := range strings.Split(strings.TrimSuffix(s, "\n"), "\n") {
		if line == "" {
			continue
		}
		var row []*string
		for _, v := range strings.Split(line, "\t") {
			row = append(row, text(v))
		}
		out = append(out, row)
	}
	return out
}

// runPsql is psql: a statement given with -c (sent as one Query, unlexed) and the same read
// from a file with -f (lexed by psql as its prompt does).
func runPsql(t *testing.T, ctx context.Context, e env) []result {
	bin := filepath.Join(e.bin, "psql")
	run := func(args []string, stdin string) ([][]*string, error) {
		cmd := exec.CommandContext(ctx, bin, append([]string{"-X", "-q", "-A", "-t", "-F", "\x1f", "-v", "ON_ERROR_STOP=1",
			"-h", e.host, "-p", e.port, "-U", "postgres", "-d", e.db}, args...)...)
		cmd.Stdin = strings.NewReader(stdin)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return nil, errors.New(strings.TrimSpace(stderr.String()) + " (" + err.Error() + ")")
		}
		var rows [][]*string
		for _, line := range strings.Split(strings.TrimSuffix(string(out), "\n"), "\n") {
			if line == "" {
				continue
			}
			var row []*string
			for _, v := range strings.Split(line, "\x1f") {
				row = append(row, text(v))
			}
			rows = append(rows, row)
		}
		return rows, nil
	}
	var out []result
	add := func(api, c string, rows [][]*string, err error) {
		r := result{API: api, Case: c, Rows: rows}
		if err != nil {
			r.Rows, r.Error = nil, err.Error()
		}
		out = append(out, r)
	}
	rows, err := run([]string{"-c", `\dt public.*`}, "")
	var tables [][]*string
	for _, r := range rows {
		if len(r) > 1 {
			tables = append(tables, r[1:2])
		}
	}
	add("-c", "plain/tables", tables, err)
	rows, err = run([]string{"-c", "SELECT attname FROM pg_attribute WHERE attrelid = 'orders'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum"}, "")
	add("-c", "plain/columns", rows, err)
	rows, err = run([]string{"-f", "-"}, "BEGIN;\nINSERT INTO orders VALUES (100, 'Lyon', 'paid', 1.00, 0);\nSELECT count(*)::text FROM orders WHERE status = 'paid';\nROLLBACK;\n")
	add("-f", "plain/tx", rows, err)
	rows, err = run([]string{"-c", "SELECT count(*)::text FROM orders WHERE status = 'paid'"}, "")
	add("-c", "plain/after_rollback", rows, err)
	rows, err = run([]string{"-c", `\copy (SELECT name, population FROM cities ORDER BY name) to stdout`}, "")
	var copied [][]*string
	for _, r := range rows { // \copy writes tab-separated lines, not psql's aligned rows
		copied = append(copied, copyRows(*r[0])...)
	}
	add("-c", "plain/copy", copied, err)
	_, err = run([]string{"-f", "-"}, "SELECT * FROM no_such_table;\n")
	add("-f", "plain/error", nil, err)
	rows, err = run([]string{"-f", "-"}, "\\set ON_ERROR_STOP 0\nSELECT * FROM no_such_table;\nSELECT 1;\n")
	add("-f", "plain/after_error", rows, err)
	for _, c := range askCases() {
		rows, err := run([]string{"-c", c.SQL}, "")
		add("-c", c.ID, rows, err)
		rows, err = run([]string{"-f", "-"}, c.SQL+";\n")
		add("-f", c.ID, rows, err)
	}
	return out
}

// runPgjdbc compiles Matrix.java against the pgjdbc jar into a temporary directory and runs it.
func runPgjdbc(t *testing.T, ctx context.Context, e env) []result {
	jar := filepath.Join(e.cache, "java", "postgresql.jar")
	requireFile(t, jar, "pgjdbc")
	javac, java := requireCommand(t, "javac"), requireCommand(t, "java")
	classes := t.TempDir()
	if out, err := exec.CommandContext(ctx, javac, "-cp", jar, "-d", classes, testdata(t, "java/Matrix.java")).CombinedOutput(); err != nil {
		t.Fatalf("javac Matrix.java: %v\n%s", err, out)
	}
	return runProgram(t, ctx, e, exec.CommandContext(ctx, java, "-cp", classes+string(filepath.ListSeparator)+jar, "Matrix"))
}

// runNodePostgres runs matrix.js with node-postgres from the cache.
func runNodePostgres(t *testing.T, ctx context.Context, e env) []result {
	modules := filepath.Join(e.cache, "node", "node_modules")
	requireFile(t, filepath.Join(modules, "pg", "package.json"), "node-postgres")
	node := requireCommand(t, "node")
	cmd := exec.CommandContext(ctx, node, testdata(t, "node/matrix.js"))
	cmd.Env = append(cmd.Env, "NODE_PATH="+modules)
	return runProgram(t, ctx, e, cmd)
}
