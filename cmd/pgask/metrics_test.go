package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/spf13/pflag"

	"github.com/pgask/pgask/config"
	"github.com/pgask/pgask/internal/testmodel"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestMetricsAndProbes: /healthz is up, /readyz says not ready (and why) while no model is
// loaded, and /metrics counts connections and ASK outcomes.
func TestMetricsAndProbes(t *testing.T) {
	c, db := shopCluster(t)
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	config.RegisterFlags(fs)
	if err := fs.Parse([]string{"--upstream", c.Addr(), "--model", "sqlcoder-7b-2", "--model-download=false",
		"--model-cache-dir", t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load("", fs, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv, p, err := newServer(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ctx, l) }()
	defer srv.Close()
	hs := httptest.NewServer(p.metrics.handler(c.Addr(), func() *pipeline { return p }))
	defer hs.Close()

	if code, body := get(t, hs.URL+"/healthz"); code != 200 || strings.TrimSpace(body) != "ok" {
		t.Errorf("/healthz = %d %q", code, body)
	}
	if code, body := get(t, hs.URL+"/readyz"); code != 503 || !strings.Contains(body, "sqlcoder-7b-2") {
		t.Errorf("/readyz without a model = %d %q, want 503 naming the model", code, body)
	}
	conn, err := pgx.Connect(ctx, "postgres://postgres@"+l.Addr().String()+"/"+db+"?sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "ASK how many customers", pgx.QueryExecModeSimpleProtocol); err == nil {
		t.Fatal("ASK without a model succeeded")
	}
	_, body := get(t, hs.URL+"/metrics")
	for _, want := range []string{`pgask_ask_total{outcome="unavailable"} 1`, "pgask_client_connections 1", `pgask_ask_stage_seconds_count{stage="total"} 1`} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	c.Stop(context.Background())
	if code, body := get(t, hs.URL+"/readyz"); code != 503 || !strings.Contains(body, "upstream unreachable") {
		t.Errorf("/readyz with the upstream down = %d %q", code, body)
	}
}

// TestMetricsWithModel: with the engine loaded, the cache, engine and relay metrics move.
func TestMetricsWithModel(t *testing.T) {
	c, db := shopCluster(t)
	model := filepath.Join(t.TempDir(), "tiny.gguf")
	if err := testmodel.Write(model, testmodel.Options{Type: testmodel.F16, Seed: 7}); err != nil {
		t.Fatal(err)
	}
	addr, p := startServePipeline(t, "--upstream", c.Addr(), "--model", model, "--template", "sqlcoder-7b-2",
		"--ask-grammar", "narrow", "--ask-max-tokens", "48", "--threads", "1", "--context-size", "2048", "--ask-max-repairs", "3")
	hs := httptest.NewServer(p.metrics.handler(c.Addr(), func() *pipeline { return p }))
	defer hs.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// Two sessions ask the same question: the second is served by the translation cache.
	for i := range 2 {
		conn, err := pgx.Connect(ctx, "postgres://postgres@"+addr+"/"+db+"?sslmode=disable")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Exec(ctx, "ASK how many customers", pgx.QueryExecModeSimpleProtocol); err != nil {
			t.Fatalf("ASK %d: %v", i, err)
		}
		conn.Close(ctx)
	}
	if code, body := get(t, hs.URL+"/readyz"); code != 200 {
		t.Errorf("/readyz with a model = %d %q", code, body)
	}
	_, body := get(t, hs.URL+"/metrics")
	for _, want := range []string{
		`pgask_translation_cache_total{result="miss"} 1`,
		`pgask_translation_cache_total{result="hit"} 1`,
		`pgask_schema_cache_total{result="miss"} 1`,
		`pgask_engine_queue_depth 0`,
		`pgask_engine_busy 0`,
		`pgask_engine_queue_full_total 0`,
		`pgask_client_connections_total 2`,
		`pgask_client_connections_rejected_total{reason="max_connections"} 0`,
		`pgask_session_errors_total{reason="upstream_lost"} 0`,
		`pgask_upstream_connect_errors_total 0`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	for _, name := range []string{
		`pgask_schema_cache_total{result="hit"}`,
		`pgask_relayed_messages_total{direction="client_to_server"}`,
		`pgask_relayed_bytes_total{direction="server_to_client"}`,
	} {
		if v := metricValue(body, name); v < 1 {
			t.Errorf("%s = %v, want > 0", name, v)
		}
	}
}

// metricValue returns the value of the sample named exactly name (with labels), or -1.
func metricValue(body, name string) float64 {
	for _, line := range strings.Split(body, "\n") {
		if rest, ok := strings.CutPrefix(line, name+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err == nil {
				return v
			}
		}
	}
	return -1
}

// TestLimitsFromConfig: the limit keys reach the proxy and the ASK handler.
func TestLimitsFromConfig(t *testing.T) {
	c, db := shopCluster(t)
	model := filepath.Join(t.TempDir(), "tiny.gguf")
	if err := testmodel.Write(model, testmodel.Options{Type: testmodel.F16, Seed: 7}); err != nil {
		t.Fatal(err)
	}
	addr := startServe(t, "--upstream", c.Addr(), "--model", model, "--template", "sqlcoder-7b-2", "--ask-grammar", "narrow",
		"--threads", "1", "--context-size", "2048", "--ask-max-question-length", "20", "--max-message-size", "2kB", "--idle-timeout", "3s")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	url := "postgres://postgres@" + addr + "/" + db + "?sslmode=disable"
	codeOf := func(err error) string {
		var pe *pgconn.PgError
		if errors.As(err, &pe) {
			return pe.Code
		}
		return fmt.Sprint(err)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "ASK how many customers live in each city", pgx.QueryExecModeSimpleProtocol)
	if codeOf(err) != "54000" {
		t.Errorf("long question: want 54000, got %v", err)
	}
	_, err = conn.Exec(ctx, "SELECT '"+strings.Repeat("x", 4096)+"'", pgx.QueryExecModeSimpleProtocol)
	if codeOf(err) != "54000" {
		t.Errorf("4 kB message with max-message-size 2kB: want 54000, got %v", err)
	}
	start := time.Now()
	idle, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close(ctx)
	// The proxy ends the silent session once idle-timeout has passed since its last message
	// (sent after start), with a FATAL; without the setting it never would, and the read
	// deadline fails the test.
	nc := idle.PgConn().Conn()
	_ = nc.SetReadDeadline(time.Now().Add(time.Minute))
	msg, err := pgproto3.NewFrontend(nc, nc).Receive()
	if e, ok := msg.(*pgproto3.ErrorResponse); !ok || e.Code != "57P05" {
		t.Fatalf("idle session: got %#v, %v; want FATAL 57P05 (idle-session timeout)", msg, err)
	}
	if d := time.Since(start); d < 3*time.Second {
		t.Errorf("idle session closed after %v, idle-timeout is 3s", d)
	}
	if _, err := idle.Exec(ctx, "SELECT 1"); err == nil {
		t.Error("a session idle for longer than idle-timeout still works")
	}
}
