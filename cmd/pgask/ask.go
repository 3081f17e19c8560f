package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/spf13/cobra"

	"github.com/pgask/pgask/config"
)

func newAskCmd() *cobra.Command {
	var (
		configFile string
		rawURL     string
		dryRun     bool
	)
	cmd := &cobra.Command{
		Use:   "ask QUESTION",
		Short: "Ask one question of a database: prints the generated SQL, then the rows",
		Long: `Ask one question in plain language of the database that --url names. pgask starts the
proxy in process in front of that server (with the model and settings that serve takes),
connects through it with the URL's user, password and database, sends ASK QUESTION, and
prints the SQL it generated followed by the rows, aligned as psql prints them. With
--dry-run it prints only the SQL, without running it (EXPLAIN ASK).

The server errors (no model, an unanswerable question, SQL that fails) are printed with
their hint, and the command exits with status 1.`,
		Example: `  pgask ask --url postgres://alice:secret@localhost:5432/shop "how many customers ordered twice?"
  pgask ask --url postgres://alice@db/shop?sslmode=require --dry-run --model ./sqlcoder.gguf "top 5 products by revenue"`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if rawURL == "" {
				rawURL = os.Getenv("PGASK_URL")
			}
			if rawURL == "" {
				return errors.New("--url is required (a postgres:// URL with user, database and sslmode)")
			}
			u, err := parseClientURL(rawURL)
			if err != nil {
				return err
			}
			cfg, err := inProcessConfig(cmd.Flags(), configFile, u.upstream)
			if err != nil {
				return err
			}
			log, err := cliLogger(cmd.ErrOrStderr(), cmd.Flags(), cfg)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			addr, stop, err := startInProcess(ctx, cfg, log)
			if err != nil {
				return err
			}
			defer stop()
			return runAsk(ctx, cmd.OutOrStdout(), u, addr, strings.Join(args, " "), dryRun)
		},
	}
	cmd.Flags().StringVar(&rawURL, "url", "", "connection URL of the database to ask, e.g. postgres://user:password@host:5432/db?sslmode=prefer ($PGASK_URL)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "print the generated SQL without running it")
	cmd.Flags().StringVar(&configFile, "config", "", "YAML configuration file (serve's keys)")
	config.RegisterFlags(cmd.Flags())
	return cmd
}

// runAsk connects to pgask at addr with the credentials of u, asks question (EXPLAIN ASK when
// dryRun) over the simple protocol and prints the generated SQL, then the rows.
func runAsk(ctx context.Context, w io.Writer, u *clientURL, addr, question string, dryRun bool) error {
	var sql string
	ccfg, err := u.connectConfig(addr, "", func(n *pgconn.Notice) {
		if s, ok := strings.CutPrefix(n.Message, "pgask: "); ok && sql == "" {
			sql = s
		}
	})
	if err != nil {
		return err
	}
	conn, err := pgconn.ConnectConfig(ctx, ccfg)
	if err != nil {
		return fmt.Errorf("connect through pgask: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))

	text := "ASK " + question
	if dryRun {
		text = "EXPLAIN ASK " + question
	}
	results, err := readResults(conn.Exec(ctx, text))
	if err != nil {
		return errors.New(pgErrorText(err))
	}
	if dryRun {
		if len(results) != 1 || len(results[0].rows) != 1 || len(results[0].rows[0]) != 1 {
			return errors.New("dry run: pgask did not return the one-row result with the SQL")
		}
		_, err := fmt.Fprintln(w, strings.TrimSpace(string(results[0].rows[0][0]))+";")
		return err
	}
	if sql != "" {
		if _, err := fmt.Fprintf(w, "%s;\n\n", strings.TrimSpace(sql)); err != nil {
			return err
		}
	}
	for _, r := range results {
		if len(r.fields) == 0 {
			continue
		}
		t := newTable(r.fields)
		for _, row := range r.rows {
			t.add(row)
		}
		if err := t.write(w); err != nil {
			return err
		}
	}
	return nil
}
