package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/spf13/pflag"

	"github.com/pgask/pgask/config"
	"github.com/pgask/pgask/internal/demodb"
	"github.com/pgask/pgask/internal/pgcluster"
	"github.com/pgask/pgask/internal/pgtest"
	"github.com/pgask/pgask/internal/testmodel"
	"github.com/pgask/pgask/proxy/ask"
)

// startServe runs what `pgask serve` runs, in process, with the given flags, on a free port.
func startServe(t testing.TB, args ...string) string {
	t.Helper()
	addr, _ := startServePipeline(t, args...)
	return addr
}

// startServePipeline is startServe that also returns the pipeline (for its metrics).
func startServePipeline(t testing.TB, args ...string) (string, *pipeline) {
	t.Helper()
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	config.RegisterFlags(fs)
	if err := fs.Parse(append([]string{"--listen", "127.0.0.1:0"}, args...)); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load("", fs, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	ctx, cancel := context.WithCancel(context.Background())
	srv, p, err := newServer(ctx, cfg, log)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ctx, l) }()
	t.Cleanup(func() { cancel(); srv.Close(); <-done; p.Close() })
	return l.Addr().String(), p
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func shopCluster(t testing.TB) (*pgcluster.Cluster, string) {
	t.Helper()
	c := pgtest.Start(t, pgcluster.Options{})
	db := pgtest.NewDatabase(t, c)
	if err := c.Exec(context.Background(), db, demodb.ShopSQL); err != nil {
		t.Fatal(err)
	}
	return c, db
}

// TestAskWithTinyModel runs ASK end to end with a real (random-weight) GGUF on the real
// llama.cpp engine under the narrow schema grammar: whatever the model picks, it must be a
// statement over the shop's tables that runs and comes back as rows with a NOTICE.
func TestAskWithTinyModel(t *testing.T) {
	c, db := shopCluster(t)
	model := filepath.Join(t.TempDir(), "tiny.gguf")
	if err := testmodel.Write(model, testmodel.Options{Type: testmodel.F16, Seed: 7}); err != nil {
		t.Fatal(err)
	}
	audit := filepath.Join(t.TempDir(), "audit.jsonl")
	addr := startServe(t, "--upstream", c.Addr(), "--model", model, "--template", "sqlcoder-7b-2",
		"--ask-grammar", "narrow", "--ask-max-tokens", "48", "--threads", "1", "--context-size", "2048",
		"--ask-max-repairs", "3", "--audit-file", audit)
	host, port, _ := net.SplitHostPort(addr)

	out, err := exec.Command(filepath.Join(c.BinDir, "psql"), "-X", "-h", host, "-p", port, "-U", "postgres", "-d", db,
		"-c", "ASK how many customers").CombinedOutput()
	if err != nil {
		t.Fatalf("psql: %v\n%s", err, out)
	}
	text := string(out)
	if !strings.Contains(text, "NOTICE:  pgask: SELECT ") {
		t.Errorf("no NOTICE with generated SQL:\n%s", text)
	}
	if !strings.Contains(text, " row") { // "(N rows)" / "(1 row)" footer of a result set
		t.Errorf("no result set:\n%s", text)
	}

	// Extended protocol: Describe first, then Execute, then the same text again; the
	// RowDescription must not change.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, "postgres://postgres@"+addr+"/"+db+"?sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	const q = "ASK which products are in stock"
	sd, err := conn.Prepare(ctx, "stock", q)
	if err != nil {
		t.Fatalf("prepare: %v", err)
	}
	var first []string
	for _, f := range sd.Fields {
		first = append(first, f.Name)
	}
	for i := 0; i < 3; i++ {
		rows, err := conn.Query(ctx, q)
		if err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
		var got []string
		for _, f := range rows.FieldDescriptions() {
			got = append(got, f.Name)
		}
		rows.Close()
		if rows.Err() != nil {
			t.Fatalf("run %d: %v", i, rows.Err())
		}
		if strings.Join(got, ",") != strings.Join(first, ",") || len(got) == 0 {
			t.Fatalf("run %d: fields %v, described %v", i, got, first)
		}
	}

	// Inside a transaction block the ASK runs and the block stays open.
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "ASK how many customers", pgx.QueryExecModeSimpleProtocol); err != nil {
		t.Fatalf("ASK in transaction: %v", err)
	}
	if st := conn.PgConn().TxStatus(); st != 'T' {
		t.Errorf("tx status %c, want T", st)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}

	// The audit log has one line per translation, with the stages' timings.
	b, err := os.ReadFile(audit)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) < 3 {
		t.Fatalf("audit log has %d lines, want at least 3:\n%s", len(lines), b)
	}
	var rec ask.AuditRecord
	if err := json.Unmarshal([]byte(lines[0]), &rec); err != nil {
		t.Fatal(err)
	}
	if rec.Question != "how many customers" || rec.Outcome != "ok" || !strings.HasPrefix(rec.SQL, "SELECT ") ||
		rec.GeneratedTokens == 0 || rec.PromptTokens == 0 || rec.GenerateMS <= 0 || rec.ExecuteMS <= 0 {
		t.Errorf("audit record: %+v", rec)
	}
	t.Logf("latency breakdown (ms): introspect %.1f, prompt %.1f, generate %.1f, check %.1f, execute %.1f, total %.1f (%d prompt tokens, %d generated)",
		rec.IntrospectMS, rec.PromptMS, rec.GenerateMS, rec.CheckMS, rec.ExecuteMS, rec.TotalMS, rec.PromptTokens, rec.GeneratedTokens)
}

// TestMissingModelKeepsPassThrough: with no model to be had, pgask still relays everything
// and answers ASK with an error naming the model and how to get it.
func TestMissingModelKeepsPassThrough(t *testing.T) {
	c, db := shopCluster(t)
	addr := startServe(t, "--upstream", c.Addr(), "--model", "sqlcoder-7b-2", "--model-download=false",
		"--model-cache-dir", t.TempDir())
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, "postgres://postgres@"+addr+"/"+db+"?sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "ASK how many customers", pgx.QueryExecModeSimpleProtocol)
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "58P01" || !strings.Contains(pe.Message, "sqlcoder-7b-2") || !strings.Contains(pe.Hint, "pgask pull") {
		t.Fatalf("err = %v (hint %q)", err, pe.Hint)
	}
	var n int
	if err := conn.QueryRow(ctx, "select count(*) from orders").Scan(&n); err != nil || n != 1000 {
		t.Fatalf("pass-through after unavailable ASK: %d %v", n, err)
	}
}
