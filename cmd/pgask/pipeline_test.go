package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgask/pgask/askservice"
	"github.com/pgask/pgask/config"
	"github.com/pgask/pgask/translate"
)

// The configuration maps onto the service's options; a grammar mode or an engine it does not
// know is an error naming the key, never a default.
func TestServiceOptions(t *testing.T) {
	base := config.Config{Engine: "llama", Upstream: "127.0.0.1:5432", Model: config.ModelConfig{Path: "m.gguf", LogLevel: "info"},
		Ask: config.AskConfig{Grammar: "narrow"}}
	opts, err := serviceOptions(&base, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if l, ok := opts.Engine.(askservice.Llama); !ok || l.Model != "m.gguf" || l.Options.LogLevel != slog.LevelInfo || opts.Grammar != translate.GrammarNarrow {
		t.Errorf("options = %+v", opts)
	}
	for _, tt := range []struct {
		mod func(*config.Config)
		key string
	}{
		{func(c *config.Config) { c.Ask.Grammar = "full" }, "ask.grammar"},
		{func(c *config.Config) { c.Ask.Grammar = "" }, "ask.grammar"},
		{func(c *config.Config) { c.Engine = "vllm" }, "engine"},
		{func(c *config.Config) { c.Model.LogLevel = "loud" }, "model.log-level"},
	} {
		cfg := base
		tt.mod(&cfg)
		if _, err := serviceOptions(&cfg, nil, nil, nil); err == nil || !strings.HasPrefix(err.Error(), tt.key+":") {
			t.Errorf("%s: err = %v, want one naming the key", tt.key, err)
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
