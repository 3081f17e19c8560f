package asktest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// OpenAIServer starts an OpenAI-compatible completions server (POST /v1/completions, as
// vLLM or llama.cpp's server) that plays a model answering as scripted: a prompt holding one
// of answers' questions (the longest found) gets that question's text as its completion,
// any other prompt "I do not know". It returns the server's URL and stops when the test
// ends. With answers that write, it is the hostile model of the read-only tests.
func OpenAIServer(t testing.TB, answers map[string]string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Prompt string `json:"prompt"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		text, found := "I do not know", ""
		for q, sql := range answers {
			if len(q) > len(found) && strings.Contains(req.Prompt, q) {
				text, found = sql, q
			}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"choices": []map[string]string{{"text": text, "finish_reason": "stop"}},
			"usage":   map[string]int{"prompt_tokens": len(req.Prompt) / 4, "completion_tokens": len(text) / 4},
		})
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}
