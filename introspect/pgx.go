package introspect

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// PgxQuerier adapts a pgx connection to Querier: the statement runs over the simple query
// protocol (pgconn's Exec) and the values come back in text format.
type PgxQuerier struct {
	Conn *pgx.Conn
}

// NewPgxQuerier returns a Querier over conn.
func NewPgxQuerier(conn *pgx.Conn) PgxQuerier { return PgxQuerier{Conn: conn} }

// QueryText runs sql and returns the rows of its (single) result.
func (q PgxQuerier) QueryText(ctx context.Context, sql string) ([][][]byte, error) {
	results, err := q.Conn.PgConn().Exec(ctx, sql).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("query: %w", err)
	}
	if len(results) != 1 {
		return nil, fmt.Errorf("query: %d results, want 1: %w", len(results), ErrUnexpectedResult)
	}
	if results[0].Err != nil {
		return nil, fmt.Errorf("query: %w", results[0].Err)
	}
	return results[0].Rows, nil
}
