package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgask/pgask/config"
)

// The 58P01 hint fits what model.path names: a known model can be pulled, a file must exist.
func TestUnavailableHint(t *testing.T) {
	tests := []struct {
		path, want, not string
	}{
		{"sqlcoder-7b-2", "pgask pull sqlcoder-7b-2", "exists"},
		{"https://example.com/m.gguf", "pgask pull https://example.com/m.gguf", "exists"},
		{"/models/missing.gguf", "Check that /models/missing.gguf exists", "pgask pull /models"},
	}
	for _, tt := range tests {
		cfg := &config.Config{Engine: "llama", Model: config.ModelConfig{Path: tt.path}}
		ue := unavailable(cfg, errors.New("open: no such file\nmore"))
		if !strings.Contains(ue.Hint, tt.want) || strings.Contains(ue.Hint, tt.not) {
			t.Errorf("%s: hint %q, want it to contain %q and not %q", tt.path, ue.Hint, tt.want, tt.not)
		}
		if !strings.Contains(ue.Reason, tt.path) || strings.Contains(ue.Reason, "more") {
			t.Errorf("%s: reason %q should name the model and keep only the first line of the error", tt.path, ue.Reason)
		}
	}
}

// Functions refused by default run once ask.allow-functions names them (engine: an
// OpenAI-compatible test server that always answers with a pg_sleep call).
func TestAllowFunctions(t *testing.T) {
	c, db := shopCluster(t)
	llm := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"choices":[{"text":"SELECT pg_sleep(0)::text AS slept, count(*) AS n FROM customers","finish_reason":"stop"}],"usage":{"prompt_tokens":10,"completion_tokens":5}}`)
	}))
	defer llm.Close()
	ctx := context.Background()
	for _, tt := range []struct {
		allow []string
		code  string
	}{
		{nil, "42501"},
		{[]string{"--ask-allow-functions", " PG_SLEEP , nextval"}, ""},
	} {
		addr := startServe(t, append([]string{"--upstream", c.Addr(), "--engine", "openai", "--openai-url", llm.URL,
			"--openai-model", "test"}, tt.allow...)...)
		conn, err := pgx.Connect(ctx, "postgres://postgres@"+addr+"/"+db+"?sslmode=disable")
		if err != nil {
			t.Fatal(err)
		}
		var slept string
		var n int
		err = conn.QueryRow(ctx, "ASK sleep a bit", pgx.QueryExecModeSimpleProtocol).Scan(&slept, &n)
		conn.Close(ctx)
		var pe *pgconn.PgError
		switch {
		case tt.code == "" && (err != nil || n != 200):
			t.Errorf("allowed %v: %d, %v", tt.allow, n, err)
		case tt.code != "" && (!errors.As(err, &pe) || pe.Code != tt.code || !strings.Contains(pe.Message, "pg_sleep")):
			t.Errorf("default: want %s naming pg_sleep, got %v", tt.code, err)
		}
	}
}
