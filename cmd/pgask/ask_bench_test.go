package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/pgask/pgask/internal/testmodel"
	"github.com/pgask/pgask/proxy/ask"
)

// BenchmarkAskLatency measures one ASK through pgask end to end (psql-like simple protocol, a
// new question each time so the translation cache never answers) and reports the mean of each
// stage from the audit log: introspection (freshness check, reload on the first), prompt
// evaluation (only the new suffix after the first: the schema prefix stays in the KV cache),
// generation, the EXPLAIN check and execution. Models: the tiny test model and a ~100 MB
// synthetic llama (n_embd 1024, 8 layers, 16 heads, n_ff 2816, Q8_0).
//
//	make build && go test -run '^$' -bench AskLatency -benchtime 20x ./cmd/pgask/   (with the Makefile's flags)
func BenchmarkAskLatency(b *testing.B) {
	for _, m := range []struct {
		name string
		opts testmodel.Options
	}{
		{"tiny", testmodel.Options{Type: testmodel.F16, Seed: 7}},
		{"synthetic-100MB-q8_0", testmodel.Options{Type: testmodel.Q8_0, Embd: 1024, Layers: 8, Heads: 16, FF: 2816, Seed: 7, Scale: 0.5}},
	} {
		b.Run(m.name, func(b *testing.B) {
			path := filepath.Join(b.TempDir(), m.name+".gguf")
			if err := testmodel.Write(path, m.opts); err != nil {
				b.Fatal(err)
			}
			c, db := shopCluster(b)
			audit := filepath.Join(b.TempDir(), "audit.jsonl")
			addr := startServe(b, "--upstream", c.Addr(), "--model", path, "--template", "sqlcoder-7b-2",
				"--ask-grammar", "narrow", "--ask-max-tokens", "96", "--ask-max-repairs", "3", "--context-size", "2048",
				"--audit-file", audit)
			ctx := context.Background()
			conn, err := pgx.Connect(ctx, "postgres://postgres@"+addr+"/"+db+"?sslmode=disable")
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Close(ctx)
			// Warm up: load the schema and fill the KV cache with the prompt's schema prefix.
			_, _ = conn.Exec(ctx, "ASK warm up question", pgx.QueryExecModeSimpleProtocol)
			b.ResetTimer()
			failed := 0
			for i := 0; i < b.N; i++ {
				if _, err := conn.Exec(ctx, fmt.Sprintf("ASK how many customers are there in group %d", i), pgx.QueryExecModeSimpleProtocol); err != nil {
					failed++
				}
			}
			b.StopTimer()
			recs := readAudit(b, audit)[1:] // skip the warm-up
			var sum ask.AuditRecord
			for _, r := range recs {
				sum.IntrospectMS += r.IntrospectMS
				sum.PromptMS += r.PromptMS
				sum.GenerateMS += r.GenerateMS
				sum.CheckMS += r.CheckMS
				sum.ExecuteMS += r.ExecuteMS
				sum.TotalMS += r.TotalMS
				sum.PromptTokens += r.PromptTokens
				sum.ReusedTokens += r.ReusedTokens
				sum.GeneratedTokens += r.GeneratedTokens
				sum.Repairs += r.Repairs
				if r.Outcome != "ok" {
					b.Logf("ASK %q: %s %s", r.Question, r.Outcome, r.Error)
				}
			}
			n := float64(len(recs))
			if n == 0 {
				b.Fatal("no audit records")
			}
			b.ReportMetric(sum.IntrospectMS/n, "introspect-ms")
			b.ReportMetric(sum.PromptMS/n, "prompt-ms")
			b.ReportMetric(sum.GenerateMS/n, "generate-ms")
			b.ReportMetric(sum.CheckMS/n, "check-ms")
			b.ReportMetric(sum.ExecuteMS/n, "execute-ms")
			b.ReportMetric(sum.TotalMS/n, "total-ms")
			b.ReportMetric(float64(sum.PromptTokens-sum.ReusedTokens)/n, "prompt-tokens-evaluated")
			b.ReportMetric(float64(sum.ReusedTokens)/n, "prompt-tokens-reused")
			b.ReportMetric(float64(sum.GeneratedTokens)/n, "generated-tokens")
			b.ReportMetric(float64(sum.Repairs)/n, "repairs/op")
			b.ReportMetric(float64(failed)/float64(b.N), "failed/op")
		})
	}
}

func readAudit(tb testing.TB, path string) []ask.AuditRecord {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var out []ask.AuditRecord
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var r ask.AuditRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			tb.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}
