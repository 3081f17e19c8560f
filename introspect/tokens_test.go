package introspect_test

import (
	"bufio"
	"encoding/json"
	"os"
	"testing"

	"github.com/pgask/pgask/introspect"
)

// TestEstimateTokensCalibration compares EstimateTokens with the token counts that the LLaMA 2
// SentencePiece vocabulary gives (testdata/tokens.jsonl: rendered defog DDL blocks and
// sql-eval questions, counted with llama-tokenizer-js 1.2.2).
func TestEstimateTokensCalibration(t *testing.T) {
	f, err := os.Open("testdata/tokens.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var est, real int
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	n := 0
	for sc.Scan() {
		var s struct {
			Text   string `json:"text"`
			Tokens int    `json:"tokens"`
		}
		if err := json.Unmarshal(sc.Bytes(), &s); err != nil {
			t.Fatal(err)
		}
		e := introspect.EstimateTokens(s.Text)
		if r := float64(e) / float64(s.Tokens); r < 0.8 || r > 1.7 {
			t.Errorf("estimate %d for %d real tokens (ratio %.2f) in %q", e, s.Tokens, r, s.Text)
		}
		est += e
		real += s.Tokens
		n++
	}
	if n < 40 {
		t.Fatalf("only %d samples", n)
	}
	t.Logf("%d samples: estimate %d, real %d tokens (ratio %.3f)", n, est, real, float64(est)/float64(real))
	if r := float64(est) / float64(real); r < 1.0 || r > 1.2 {
		t.Errorf("total estimate %d for %d real tokens: ratio %.3f, want 1.0–1.2 (never under in total)", est, real, r)
	}
}

func TestEstimateTokensCases(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int
	}{
		{"", 0},
		{"name", 1},
		{"sbtxsettlementdatestr", 6},
		{"varchar(20),", 6}, // real: ▁varchar ( 2 0 ),
		{"\n", 1},
		{"  a", 2},
		{"SQLServer", 2},
		{"é", 2},
	} {
		if got := introspect.EstimateTokens(c.in); got != c.want {
			t.Errorf("EstimateTokens(%q) = %d, want %d", c.in, got, c.want)
		}
	}
}
