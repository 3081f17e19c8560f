package sqleval

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgconn"
)

// Runner runs one SQL text and returns its result (for several statements, the last one that
// returns rows). Score takes it to run both the gold and the generated query on the question's
// database.
type Runner interface {
	Query(ctx context.Context, sql string) (Result, error)
}

// ConnRunner is a Runner over one connection, in the simple protocol, so that values come back
// as the text a client sees. It works equally on a direct connection and through pgask (where
// the SQL may be an ASK). It does not guard against writes: connect as a read-only role or set
// default_transaction_read_only, as the tests do.
type ConnRunner struct {
	Conn *pgconn.PgConn
}

// Query runs sql and returns the last result set it produced.
func (r ConnRunner) Query(ctx context.Context, sql string) (Result, error) {
	mrr := r.Conn.Exec(ctx, sql)
	var out Result
	found := false
	for mrr.NextResult() {
		rr := mrr.ResultReader()
		fds := rr.FieldDescriptions()
		cur := Result{Columns: make([]string, len(fds))}
		for i, fd := range fds {
			cur.Columns[i] = fd.Name
		}
		for rr.NextRow() {
			vals := make([]*string, len(rr.Values()))
			for j, v := range rr.Values() {
				if v != nil {
					s := string(v)
					vals[j] = &s
				}
			}
			cur.Rows = append(cur.Rows, vals)
		}
		if _, err := rr.Close(); err != nil {
			_ = mrr.Close()
			return Result{}, fmt.Errorf("run query: %w", err)
		}
		if len(fds) > 0 {
			out, found = cur, true
		}
	}
	if err := mrr.Close(); err != nil {
		return Result{}, fmt.Errorf("run query: %w", err)
	}
	if !found {
		return Result{}, fmt.Errorf("run query: %w", errNoRows)
	}
	return out, nil
}
