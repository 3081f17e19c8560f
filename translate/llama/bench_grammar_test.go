package llama

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/pgask/pgask/internal/testmodel"
)

// BenchmarkGrammar measures the per-token cost of sampling with and without a grammar on a tiny
// model with a 32,000-token vocabulary (decode is cheap, so sampling dominates):
//
//	none:     greedy, no grammar
//	lazy-hit: a grammar the greedy choice always satisfies (`[^\x00]*`-like): the lazy check only
//	fallback: a grammar the greedy choice almost never satisfies: every step filters all candidates
func BenchmarkGrammar(b *testing.B) {
	path := filepath.Join(b.TempDir(), "v32k.gguf")
	if err := testmodel.Write(path, testmodel.Options{VocabSize: 32000, Seed: 3}); err != nil {
		b.Fatal(err)
	}
	m, err := Load(context.Background(), path, Options{Threads: 1, ContextSize: 512}, testLogger(b))
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	for _, bc := range []struct{ name, grammar string }{
		{"none", ""},
		{"lazy-hit", `root ::= [^\x00]+`},
		{"fallback", `root ::= "x"+`},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var toks, fallbacks int
			var gen time.Duration
			for b.Loop() {
				res, err := m.Generate(context.Background(), Request{Prompt: "SELECT", Grammar: bc.grammar, MaxTokens: 64})
				if err != nil {
					b.Fatal(err)
				}
				toks += res.GeneratedTokens
				fallbacks += res.GrammarFallback
				gen += res.Generation
			}
			b.ReportMetric(float64(gen.Microseconds())/float64(toks), "µs/token")
			b.ReportMetric(float64(fallbacks)/float64(toks), "fallback/token")
		})
	}
}
