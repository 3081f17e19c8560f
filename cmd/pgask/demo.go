package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/pgask/pgask/config"
	"github.com/pgask/pgask/internal/demodb"
	"github.com/pgask/pgask/internal/pgcluster"
)

// newDemoCmd is `pgask demo`: a throwaway PostgreSQL with the sample shop database, and pgask
// in front of it with the configured (default) model.
func newDemoCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Start a sample shop database with pgask in front of it, and show how to ask it questions",
		Long: `demo starts a throwaway PostgreSQL from the system's binaries (initdb into a temporary
directory), loads a small web-shop database into it (customers, products, orders, with
comments and foreign keys), and runs pgask in front of it with the configured model — the
default one is downloaded with a progress bar when missing. It prints the psql command to
connect and a few questions to try. Ctrl-C stops everything it started and removes the
database.

When the model cannot be had (no network, no disk space), the proxy runs all the same:
ordinary SQL works and ASK answers with an error that names the missing model and how to
supply one. Every serve flag applies (e.g. --model /path/to/sqlcoder.gguf).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runDemo(cmd) },
	}
	config.RegisterFlags(cmd.Flags())
	return cmd
}

func runDemo(cmd *cobra.Command) error {
	ctx := cmd.Context()
	out := cmd.OutOrStdout()
	fmt.Fprintln(out, "Starting a throwaway PostgreSQL with the sample shop database...")
	startCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	c, err := pgcluster.Start(startCtx, pgcluster.Options{})
	cancel()
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	defer c.Close()
	if err := c.CreateDatabase(ctx, "shop"); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	if err := c.Exec(ctx, "shop", demodb.ShopSQL); err != nil {
		return fmt.Errorf("demo: load sample data: %w", err)
	}

	fs := cmd.Flags()
	if !fs.Changed("upstream") {
		if err := fs.Set("upstream", "postgres://"+c.Addr()+"/?sslmode=disable"); err != nil {
			return err
		}
	}
	cfg, err := config.Load("", fs, nil)
	if err != nil {
		return err
	}
	log, err := newLogger(os.Stderr, cfg.LogLevel, cfg.LogFormat)
	if err != nil {
		return err
	}
	srv, p, err := newServer(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer p.Close()
	defer srv.Close()
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe(ctx) }()
	addrCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	addr, err := srv.Addr(addrCtx)
	cancel()
	if err != nil {
		return fmt.Errorf("demo: proxy did not start: %w (%v)", err, drain(errc))
	}
	host, port, _ := net.SplitHostPort(addr.String())
	fmt.Fprintf(out, "\npgask is listening on %s, in front of PostgreSQL %d (%s).\n\nConnect with:\n\n  psql -h %s -p %s -U postgres shop\n\nand try:\n\n",
		addr, c.Version, c.Addr(), host, port)
	// ASK $$…$$ first: the form every client passes through untouched (interactive psql, which
	// waits for a closing quote, JDBC and ODBC drivers, which take ? for a parameter marker and
	// an apostrophe for a string); see the README's table of clients.
	for _, q := range demodb.Questions {
		fmt.Fprintf(out, "  ASK $$%s$$;\n", q)
	}
	fmt.Fprintf(out, "  EXPLAIN ASK $$%s$$;   -- shows the SQL without running it\n", demodb.Questions[0])
	fmt.Fprintln(out, "\nASK $$…$$ (or ASK '…' with each ' doubled) reaches pgask intact from psql and from every driver or")
	fmt.Fprintln(out, "BI tool (JDBC, ODBC, psycopg, node-postgres); unquoted (ASK how many orders) only where the text")
	fmt.Fprintln(out, "is sent as typed (psql -c) and the question holds no ', ? or ;.")
	if ue := p.Unavailable(); ue != nil {
		fmt.Fprintf(out, "\nNote: ASK is not available: %s\n%s\nOrdinary SQL works meanwhile.\n", ue.Reason, ue.Hint)
	}
	fmt.Fprintln(out, "Press Ctrl-C to stop.")
	return <-errc
}

func drain(errc chan error) error {
	select {
	case err := <-errc:
		return err
	default:
		return nil
	}
}
