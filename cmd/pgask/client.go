package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
	"github.com/spf13/pflag"

	"github.com/pgask/pgask/config"
	"github.com/pgask/pgask/proxy/ask"
)

// clientURL is a libpq-style connection URL given with --url: the client side of `pgask ask`
// and `pgask eval` (user, password, database, host, port, sslmode).
type clientURL struct {
	raw string
	cfg *pgconn.Config
	// upstream is the server part as `serve --upstream` takes it: postgres://host:port/?sslmode=…
	upstream string
}

// parseClientURL parses a connection URL (or key=value string) with pgconn.ParseConfig.
func parseClientURL(s string) (*clientURL, error) {
	cfg, err := pgconn.ParseConfig(s)
	if err != nil {
		return nil, fmt.Errorf("parse --url: %w", err)
	}
	q := url.Values{}
	if u, err := url.Parse(s); err == nil && strings.Contains(s, "://") {
		for _, k := range []string{"sslmode", "sslrootcert"} {
			if v := u.Query().Get(k); v != "" {
				q.Set(k, v)
			}
		}
	} else {
		for _, f := range strings.Fields(s) {
			k, v, _ := strings.Cut(f, "=")
			if k == "sslmode" || k == "sslrootcert" {
				q.Set(k, strings.Trim(v, "'"))
			}
		}
	}
	if q.Get("sslmode") == "" {
		if cfg.TLSConfig == nil {
			q.Set("sslmode", "disable")
		} else {
			q.Set("sslmode", "prefer")
		}
	}
	up := "postgres://" + net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port))) + "/?" + q.Encode()
	if strings.HasPrefix(cfg.Host, "/") {
		return nil, fmt.Errorf("parse --url: a Unix socket (%s) cannot be pgask's upstream; give a TCP host", cfg.Host)
	}
	return &clientURL{raw: s, cfg: cfg, upstream: up}, nil
}

// connectConfig returns a copy of the URL's configuration for database db (the URL's own
// when db is empty), aimed at addr (host:port) when addr is not empty — then without TLS, as
// addr is pgask listening on the loopback. Cancelling a call's context sends a CancelRequest
// first, so that a timed-out question leaves the connection usable.
func (c *clientURL) connectConfig(addr, db string, onNotice func(*pgconn.Notice)) (*pgconn.Config, error) {
	cfg := c.cfg.Copy()
	if db != "" {
		cfg.Database = db
	}
	if addr != "" {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		p, err := strconv.ParseUint(port, 10, 16)
		if err != nil {
			return nil, fmt.Errorf("port of %s: %w", addr, err)
		}
		cfg.Host, cfg.Port, cfg.TLSConfig, cfg.Fallbacks = host, uint16(p), nil, nil
	}
	cfg.OnNotice = func(_ *pgconn.PgConn, n *pgconn.Notice) {
		if onNotice != nil {
			onNotice(n)
		}
	}
	cfg.BuildContextWatcherHandler = func(pc *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.CancelRequestContextWatcherHandler{Conn: pc, CancelRequestDelay: 0, DeadlineDelay: 10 * time.Second}
	}
	return cfg, nil
}

// inProcessConfig loads the serve configuration from fs (flags and PGASK_* environment) for
// a pgask run in process in front of upstream, listening on the loopback.
func inProcessConfig(fs *pflag.FlagSet, configFile, upstream string) (*config.Config, error) {
	if !fs.Changed("upstream") {
		if err := fs.Set("upstream", upstream); err != nil {
			return nil, err
		}
	}
	if err := fs.Set("listen", "127.0.0.1:0"); err != nil {
		return nil, err
	}
	cfg, err := config.Load(configFile, fs, nil)
	if err != nil {
		return nil, err
	}
	cfg.Ask.Notice = true // the generated SQL reaches the client as a NOTICE
	return cfg, nil
}

// cliLogger is the logger of a one-shot command: warnings and errors only unless --log-level
// was given.
func cliLogger(w io.Writer, fs *pflag.FlagSet, cfg *config.Config) (*slog.Logger, error) {
	level := cfg.LogLevel
	if !fs.Changed("log-level") {
		level = "warn"
	}
	return newLogger(w, level, cfg.LogFormat)
}

// startInProcess runs the proxy that `pgask serve` runs, on a free loopback port, and returns
// its address and a function that stops it.
func startInProcess(ctx context.Context, cfg *config.Config, log *slog.Logger, observe ...func(ask.Event)) (string, func(), error) {
	srv, p, err := newServer(ctx, cfg, log, observe...)
	if err != nil {
		return "", nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		srv.Close()
		p.Close()
		return "", nil, fmt.Errorf("listen: %w", err)
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(sctx, l) }()
	stop := func() { cancel(); srv.Close(); <-done; p.Close() }
	return l.Addr().String(), stop, nil
}

// pgErrorText renders a server error as psql does (ERROR, DETAIL, HINT lines).
func pgErrorText(err error) string {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return err.Error()
	}
	var b strings.Builder
	sev := pe.Severity
	if sev == "" {
		sev = "ERROR"
	}
	fmt.Fprintf(&b, "%s:  %s", sev, pe.Message)
	if pe.Code != "" && !strings.Contains(pe.Message, "SQLSTATE "+pe.Code) {
		fmt.Fprintf(&b, " (SQLSTATE %s)", pe.Code)
	}
	if pe.Detail != "" {
		fmt.Fprintf(&b, "\nDETAIL:  %s", pe.Detail)
	}
	if pe.Hint != "" {
		fmt.Fprintf(&b, "\nHINT:  %s", pe.Hint)
	}
	return b.String()
}

// table is a result set as text, for printing.
type table struct {
	columns []string
	right   []bool // right-aligned (numeric) columns, as psql aligns them
	rows    [][]*string
}

// rightAligned reports whether psql right-aligns values of the type: int2/4/8, oid, xid,
// cid, float4/8, money, numeric, xid8.
func rightAligned(oid uint32) bool {
	switch oid {
	case 20, 21, 23, 26, 28, 29, 700, 701, 790, 1700, 5069:
		return true
	}
	return false
}

func newTable(fds []pgconn.FieldDescription) *table {
	t := &table{}
	for _, fd := range fds {
		t.columns = append(t.columns, fd.Name)
		t.right = append(t.right, rightAligned(fd.DataTypeOID))
	}
	return t
}

func (t *table) add(values [][]byte) {
	row := make([]*string, len(values))
	for i, v := range values {
		if v != nil {
			s := string(v)
			row[i] = &s
		}
	}
	t.rows = append(t.rows, row)
}

// write prints the table in psql's aligned format: a centred header, a rule, the rows and
// an "(N rows)" footer. NULL prints as nothing.
func (t *table) write(w io.Writer) error {
	width := make([]int, len(t.columns))
	for i, c := range t.columns {
		width[i] = utf8.RuneCountInString(c)
	}
	for _, r := range t.rows {
		for i, v := range r {
			if i < len(width) && v != nil {
				width[i] = max(width[i], utf8.RuneCountInString(*v))
			}
		}
	}
	var b strings.Builder
	cells := make([]string, len(t.columns))
	for i, c := range t.columns {
		pad := width[i] - utf8.RuneCountInString(c)
		cells[i] = strings.Repeat(" ", pad/2) + c + strings.Repeat(" ", pad-pad/2)
	}
	writeLine(&b, cells)
	for i := range cells {
		cells[i] = strings.Repeat("-", width[i])
	}
	b.WriteString(strings.Join(surround(cells, "-"), "+"))
	b.WriteString("\n")
	for _, r := range t.rows {
		for i := range t.columns {
			v := ""
			if i < len(r) && r[i] != nil {
				v = *r[i]
			}
			pad := strings.Repeat(" ", width[i]-utf8.RuneCountInString(v))
			if t.right[i] {
				cells[i] = pad + v
			} else {
				cells[i] = v + pad
			}
		}
		writeLine(&b, cells)
	}
	if len(t.rows) == 1 {
		b.WriteString("(1 row)\n")
	} else {
		fmt.Fprintf(&b, "(%d rows)\n", len(t.rows))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func writeLine(b *strings.Builder, cells []string) {
	line := strings.Join(surround(cells, " "), "|")
	b.WriteString(strings.TrimRight(line, " "))
	b.WriteString("\n")
}

// surround pads each cell with one fill character either side, as psql's separators do.
func surround(cells []string, fill string) []string {
	out := make([]string, len(cells))
	for i, c := range cells {
		out[i] = fill + c + fill
	}
	return out
}

// resultSet is one result of a simple-protocol Query.
type resultSet struct {
	fields []pgconn.FieldDescription
	rows   [][][]byte
}

// readResults reads every result of mrr, keeping the field descriptions of results without
// rows too (pgconn's ReadAll drops them), and returns the first error.
func readResults(mrr *pgconn.MultiResultReader) ([]resultSet, error) {
	var out []resultSet
	for mrr.NextResult() {
		rr := mrr.ResultReader()
		rs := resultSet{fields: slices.Clone(rr.FieldDescriptions())}
		for rr.NextRow() {
			vals := rr.Values()
			row := make([][]byte, len(vals))
			for i, v := range vals {
				if v != nil {
					row[i] = slices.Clone(v)
					if row[i] == nil {
						row[i] = []byte{}
					}
				}
			}
			rs.rows = append(rs.rows, row)
		}
		if _, err := rr.Close(); err != nil {
			_ = mrr.Close()
			return out, err
		}
		out = append(out, rs)
	}
	return out, mrr.Close()
}
