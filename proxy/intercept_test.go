package proxy

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgask/pgask/internal/pgtest"
)

// countInterceptor answers "ASK count" with the number of pg_class rows, computed with
// QueryText on the client's own session; "ASK run <sql>" runs sql through RelayQuery;
// "ASK fail" returns an error; anything else passes through. In Parse, "ASK count" becomes
// a SELECT of the count computed at Parse time and "ASK run <sql>" becomes sql.
type countInterceptor struct{ t *testing.T }

// closingInterceptor reports closed sessions (SessionCloser).
type closingInterceptor struct {
	countInterceptor
	closed chan *Session
}

func (p closingInterceptor) SessionClosed(s *Session) { p.closed <- s }

func TestInterceptorSessionClosed(t *testing.T) {
	c := pgtest.Shared(t)
	ic := closingInterceptor{closed: make(chan *Session, 1)}
	_, addr := startProxy(t, Options{Upstream: Upstream{Addr: c.Addr(), TLSMode: TLSDisable}, Interceptor: ic})
	ctx := ctxT(t)
	conn, err := pgx.Connect(ctx, fmt.Sprintf("postgres://postgres@%s/postgres?sslmode=disable", addr))
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	if err := conn.QueryRow(ctx, "ASK count", pgx.QueryExecModeSimpleProtocol).Scan(&n); err != nil || n < 100 {
		t.Fatalf("ASK count: %d %v", n, err)
	}
	conn.Close(ctx)
	select {
	case s := <-ic.closed:
		if s.User() != "postgres" {
			t.Fatalf("closed session user %q", s.User())
		}
	case <-ctx.Done():
		t.Fatal("SessionClosed not called")
	}
}

// askRest returns the words after a leading ASK (comments skipped), or ok=false.
func askRest(stmt string) (string, bool) {
	b := []byte(stmt)
	i := skipSpaceAndComments(b, 0)
	if !isAskWord(b, i) {
		return "", false
	}
	return strings.TrimSpace(stmt[i+3:]), true
}

// Query splits text on ';' (the test's statements hold no quoted semicolons), relays the
// plain statements with RelayQuery and answers the ASK ones.
func (ic countInterceptor) Query(ctx context.Context, s *Session, text string) error {
	var stmts []string
	any := false
	for _, st := range strings.Split(text, ";") {
		if strings.TrimSpace(st) == "" {
			continue
		}
		stmts = append(stmts, st)
		if _, ok := askRest(st); ok {
			any = true
		}
	}
	if !any {
		return ErrPassThrough
	}
	for _, st := range stmts {
		rest, ok := askRest(st)
		if !ok {
			if err := s.RelayQuery(ctx, st); err != nil {
				return err
			}
			continue
		}
		if err := ic.answer(ctx, s, rest); err != nil {
			return err
		}
	}
	return nil
}

func (ic countInterceptor) answer(ctx context.Context, s *Session, rest string) error {
	switch {
	case strings.EqualFold(rest, "count"):
		n, err := ic.count(ctx, s)
		if err != nil {
			return err
		}
		return s.Send(ctx,
			&pgproto3.RowDescription{Fields: []pgproto3.FieldDescription{{Name: []byte("count"), DataTypeOID: 20, DataTypeSize: 8, TypeModifier: -1}}},
			&pgproto3.DataRow{Values: [][]byte{[]byte(n)}},
			&pgproto3.CommandComplete{CommandTag: []byte("SELECT 1")})
	case strings.HasPrefix(strings.ToLower(rest), "run "):
		return s.RelayQuery(ctx, rest[4:])
	case strings.EqualFold(rest, "fail"):
		return &pgconn.PgError{Code: "22023", Message: "cannot answer that"}
	case strings.EqualFold(rest, "whoami"):
		rows, err := s.QueryText(ctx, "select current_user, current_database(), $$x$$, null")
		if err != nil {
			return err
		}
		if got := fmt.Sprintf("%s/%s/%s/%v", rows[0][0], rows[0][1], rows[0][2], rows[0][3] == nil); got != s.User()+"/"+s.Database()+"/x/true" {
			return fmt.Errorf("whoami: %s", got)
		}
		return s.Send(ctx, &pgproto3.CommandComplete{CommandTag: []byte("WHOAMI")})
	case strings.EqualFold(rest, "bad sql"):
		_, err := s.QueryText(ctx, "select * from no_such_table")
		return err
	case strings.EqualFold(rest, "nothing"):
		return s.RelayQuery(ctx, "ask nothing") // the upstream's own syntax error
	}
	return fmt.Errorf("unknown question %q", rest)
}

func (ic countInterceptor) count(ctx context.Context, s *Session) (string, error) {
	rows, err := s.QueryText(ctx, "select count(*) from pg_class")
	if err != nil {
		return "", err
	}
	if len(rows) != 1 || len(rows[0]) != 1 {
		return "", fmt.Errorf("count: %d rows", len(rows))
	}
	return string(rows[0][0]), nil
}

func (ic countInterceptor) Parse(ctx context.Context, s *Session, name, text string) (string, error) {
	rest, ok := askRest(strings.TrimSuffix(strings.TrimSpace(text), ";"))
	if !ok {
		return "", ErrPassThrough
	}
	switch {
	case strings.EqualFold(rest, "count"):
		n, err := ic.count(ctx, s)
		if err != nil {
			return "", err
		}
		return "select " + n + "::bigint as count", nil
	case strings.EqualFold(rest, "fail"):
		return "", &pgconn.PgError{Code: "22023", Message: "cannot answer that"}
	case strings.HasPrefix(strings.ToLower(rest), "run "):
		return rest[4:], nil // "translated" to the SQL after it
	}
	return "", ErrPassThrough
}

func TestInterceptorPgx(t *testing.T) {
	c := pgtest.Shared(t)
	_, addr := startProxy(t, Options{Upstream: Upstream{Addr: c.Addr(), TLSMode: TLSDisable}, Interceptor: countInterceptor{t}})
	url := fmt.Sprintf("postgres://postgres@%s/postgres?sslmode=disable", addr)
	ctx := ctxT(t)
	conn := connect(t, url)
	var want int64
	if err := conn.QueryRow(ctx, "select count(*) from pg_class").Scan(&want); err != nil {
		t.Fatal(err)
	}
	for i, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeCacheStatement, pgx.QueryExecModeExec, pgx.QueryExecModeDescribeExec} {
		var got int64
		if err := conn.QueryRow(ctx, " /* c */ -- x\n ask count;", mode).Scan(&got); err != nil {
			t.Fatalf("mode %v: %v", mode, err)
		}
		if got != want {
			t.Fatalf("mode %v: got %d want %d", mode, got, want)
		}
		// The session stays in step: a normal query, a transaction, again.
		var v int
		if err := conn.QueryRow(ctx, "select $1::int", mode, i).Scan(&v); err != nil || v != i {
			t.Fatalf("mode %v after ASK: %d %v", mode, v, err)
		}
	}

	t.Run("error keeps session usable", func(t *testing.T) {
		for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeCacheStatement} {
			_, err := conn.Exec(ctx, "ASK fail", mode)
			var pe *pgconn.PgError
			if !errors.As(err, &pe) || pe.Code != "22023" || pe.Message != "cannot answer that" {
				t.Fatalf("mode %v: want 22023, got %v", mode, err)
			}
			var v int
			if err := conn.QueryRow(ctx, "select 11", mode).Scan(&v); err != nil || v != 11 {
				t.Fatalf("mode %v after failed ASK: %d %v", mode, v, err)
			}
		}
	})

	t.Run("upstream error from QueryText", func(t *testing.T) {
		_, err := conn.Exec(ctx, "ASK bad sql", pgx.QueryExecModeSimpleProtocol)
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "42P01" {
			t.Fatalf("want 42P01, got %v", err)
		}
	})

	t.Run("RelayQuery streams rows", func(t *testing.T) {
		rows, err := conn.Query(ctx, "ASK run select g, g*2 from generate_series(1,1000) g", pgx.QueryExecModeSimpleProtocol)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for rows.Next() {
			var a, b int
			if err := rows.Scan(&a, &b); err != nil || b != 2*a {
				t.Fatalf("row %d: %d %d %v", n, a, b, err)
			}
			n++
		}
		if rows.Err() != nil || n != 1000 {
			t.Fatalf("%d rows, %v", n, rows.Err())
		}
		_, err = conn.Exec(ctx, "ASK run select 1/0", pgx.QueryExecModeSimpleProtocol)
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "22012" {
			t.Fatalf("want 22012, got %v", err)
		}
	})

	t.Run("whoami and transaction status", func(t *testing.T) {
		if _, err := conn.Exec(ctx, "ASK whoami", pgx.QueryExecModeSimpleProtocol); err != nil {
			t.Fatal(err)
		}
		tx, err := conn.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(ctx, "ASK count", pgx.QueryExecModeSimpleProtocol); err != nil {
			t.Fatal(err)
		}
		if st := conn.PgConn().TxStatus(); st != 'T' {
			t.Fatalf("tx status after ASK in a transaction: %q", st)
		}
		if err := tx.Rollback(ctx); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("pass through", func(t *testing.T) {
		_, err := conn.Exec(ctx, "select 'ask count'", pgx.QueryExecModeSimpleProtocol)
		if err != nil {
			t.Fatal(err)
		}
		_, err = conn.Exec(ctx, "ask nothing", pgx.QueryExecModeSimpleProtocol)
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "42601" {
			t.Fatalf("want the upstream's syntax error, got %v", err)
		}
	})
}

func TestInterceptorPsql(t *testing.T) {
	c := pgtest.Shared(t)
	_, addr := startProxy(t, Options{Upstream: Upstream{Addr: c.Addr(), TLSMode: TLSDisable}, Interceptor: countInterceptor{t}})
	out, err := runPsql(t, addr, "postgres", "-At", "-c", "select 1; ASK count; select 2")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || lines[0] != "1" || lines[2] != "2" {
		t.Fatalf("psql output %q", out)
	}
	if n, err := strconv.Atoi(lines[1]); err != nil || n < 100 {
		t.Fatalf("count line %q", lines[1])
	}
	out, err = runPsql(t, addr, "postgres", "-At", "-c", "ASK fail")
	if err == nil || !strings.Contains(out, "cannot answer that") {
		t.Fatalf("psql ASK fail: %v %q", err, out)
	}
}

// runPsql runs the system psql against addr and returns its combined output.
func runPsql(t *testing.T, addr, db string, args ...string) (string, error) {
	t.Helper()
	bin, err := findPsql()
	if err != nil {
		t.Skip(err)
	}
	host, port, _ := strings.Cut(addr, ":")
	all := append([]string{"-X", "-v", "ON_ERROR_STOP=1", "-h", host, "-p", port, "-U", "postgres", "-d", db}, args...)
	cmd := exec.CommandContext(ctxT(t), bin, all...)
	cmd.Env = append(cmd.Environ(), "PGSSLMODE=disable", "PGCONNECT_TIMEOUT=30")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func findPsql() (string, error) {
	if p, err := exec.LookPath("psql"); err == nil {
		return p, nil
	}
	m, _ := filepath.Glob("/usr/lib/postgresql/*/bin/psql")
	if len(m) > 0 {
		return m[len(m)-1], nil
	}
	return "", errors.New("no psql binary")
}

// The test interceptor's own ASK recogniser (the relay uses asksplit.MightContainASK).

func isAskWord(b []byte, i int) bool {
	if len(b)-i < 3 || b[i]|0x20 != 'a' || b[i+1]|0x20 != 's' || b[i+2]|0x20 != 'k' {
		return false
	}
	if len(b)-i == 3 {
		return true
	}
	c := b[i+3]
	return !(c == '_' || c == '$' || c >= 0x80 || (c|0x20 >= 'a' && c|0x20 <= 'z') || (c >= '0' && c <= '9'))
}

// skipSpaceAndComments returns the index of the first byte at or after i that is neither white
// space nor inside a -- or (nested) /* */ comment.
func skipSpaceAndComments(b []byte, i int) int {
	for i < len(b) {
		switch c := b[i]; {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			i++
		case c == '-' && i+1 < len(b) && b[i+1] == '-':
			for i < len(b) && b[i] != '\n' {
				i++
			}
		case c == '/' && i+1 < len(b) && b[i+1] == '*':
			depth := 0
			for i < len(b) {
				if b[i] == '/' && i+1 < len(b) && b[i+1] == '*' {
					depth++
					i += 2
				} else if b[i] == '*' && i+1 < len(b) && b[i+1] == '/' {
					depth--
					i += 2
					if depth == 0 {
						break
					}
				} else {
					i++
				}
			}
		default:
			return i
		}
	}
	return i
}
