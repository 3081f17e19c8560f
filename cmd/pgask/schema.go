package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/spf13/cobra"

	"github.com/pgask/pgask/introspect"
)

// schemaFlags are the options of `pgask schema`.
type schemaFlags struct {
	upstream   string
	user       string
	database   string
	searchPath string
	question   string
	budget     int
	values     bool
	timeout    time.Duration
}

// newSchemaCmd returns `pgask schema`: it prints the DDL a prompt would get for the database
// and user given, pruned to the question when one is given.
func newSchemaCmd() *cobra.Command {
	var f schemaFlags
	cmd := &cobra.Command{
		Use:   "schema",
		Short: "Print the schema DDL the model sees for a database and user",
		Long: `Connects to the upstream PostgreSQL as the given user, introspects what that user may
SELECT on the search_path (tables, views, columns, keys, comments, enum labels, the most
common values of text columns that pg_stats shows the user, with --values) and prints it as the
CREATE TABLE statements that go into a prompt. With --question, the schema is pruned to the
tables and columns most relevant to the question within --budget tokens (and with --values the
values the question mentions are listed after it), as an ASK would see it. A summary (tables, estimated tokens, fingerprint) goes to standard error.`,
		Args:         cobra.NoArgs,
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), f.timeout)
			defer cancel()
			return runSchema(ctx, cmd.OutOrStdout(), cmd.ErrOrStderr(), f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.upstream, "upstream", "", "upstream PostgreSQL: a postgres:// URL (user and database may be in it) or host:port; empty: the PG* environment variables")
	fl.StringVar(&f.user, "user", "", "user to introspect as (overrides the URL's)")
	fl.StringVar(&f.database, "database", "", "database (overrides the URL's)")
	fl.StringVar(&f.searchPath, "search-path", "", "search_path to introspect under (default: the server's for that user)")
	fl.StringVar(&f.question, "question", "", "prune the schema to this question")
	fl.IntVar(&f.budget, "budget", 2000, "token budget of the pruned schema (with --question; 0: no pruning)")
	fl.BoolVar(&f.values, "values", false, "show the database's values (most common values from pg_stats, values matching --question), as ask.values=true does")
	fl.DurationVar(&f.timeout, "timeout", time.Minute, "time limit for connecting and introspecting")
	return cmd
}

// schemaConnConfig turns the flags into a pgx connection config.
func schemaConnConfig(f schemaFlags) (*pgx.ConnConfig, error) {
	conn := f.upstream
	var host string
	var port uint16
	if conn != "" && !strings.Contains(conn, "://") && !strings.Contains(conn, "=") {
		h, p, err := net.SplitHostPort(conn)
		if err != nil {
			return nil, fmt.Errorf("upstream %q: want a postgres:// URL or host:port: %w", conn, err)
		}
		n, err := strconv.ParseUint(p, 10, 16)
		if err != nil {
			return nil, fmt.Errorf("upstream %q: port: %w", conn, err)
		}
		host, port, conn = h, uint16(n), ""
	}
	cfg, err := pgx.ParseConfig(conn)
	if err != nil {
		return nil, fmt.Errorf("upstream: %w", err)
	}
	if host != "" {
		cfg.Host, cfg.Port = host, port
		cfg.Fallbacks = nil
	}
	if f.user != "" {
		cfg.User = f.user
	}
	if f.database != "" {
		cfg.Database = f.database
	}
	if f.searchPath != "" {
		cfg.RuntimeParams["search_path"] = f.searchPath
	}
	return cfg, nil
}

func runSchema(ctx context.Context, out, errOut io.Writer, f schemaFlags) error {
	cfg, err := schemaConnConfig(f)
	if err != nil {
		return err
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))

	start := time.Now()
	s, err := introspect.Load(ctx, introspect.NewPgxQuerier(conn), introspect.Options{Values: f.values})
	if err != nil {
		return err
	}
	loaded := time.Since(start)
	full := introspect.EstimateTokens(introspect.Render(s))
	if f.question != "" && f.budget > 0 {
		s = introspect.Prune(s, f.question, f.budget)
	}
	ddl := introspect.RenderQuestion(s, f.question)
	if _, err := io.WriteString(out, ddl); err != nil {
		return err
	}
	fmt.Fprintf(errOut, "-- %d tables, %d tokens (estimated; whole schema %d), introspected in %s, fingerprint %s\n",
		len(s.Tables), introspect.EstimateTokens(ddl), full, loaded.Round(time.Millisecond), s.Fingerprint())
	return nil
}
