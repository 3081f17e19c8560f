package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/spf13/pflag"

	"github.com/pgask/pgask/config"
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
	hs := httptest.NewServer(p.metrics.handler(c.Addr(), p))
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
