package llama_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"

	"github.com/pgask/pgask/internal/testmodel"
	"github.com/pgask/pgask/translate/llama"
)

// A model, a grammar that only admits "SELECT <column> FROM <table> ;", and the prefix cache at
// work on the second question.
func Example() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "tiny.gguf")
	if err := testmodel.Write(path, testmodel.Options{Type: testmodel.Q8_0, Seed: 42}); err != nil {
		panic(err)
	}
	m, err := llama.Load(context.Background(), path, llama.Options{Threads: 1, ContextSize: 512}, slog.New(slog.DiscardHandler))
	if err != nil {
		panic(err)
	}
	defer m.Close()

	grammar := `root ::= " SELECT " ("id" | "name") " FROM " ("users" | "orders") " ;"`
	schema := "CREATE TABLE users (id int, name text);\nCREATE TABLE orders (id int);\n"
	for _, q := range []string{"how many users?", "list the orders"} {
		res, err := m.Generate(context.Background(), llama.Request{Prompt: schema + q, Grammar: grammar, MaxTokens: 32})
		if err != nil {
			panic(err)
		}
		// res.Text is e.g. " SELECT name FROM users ;" (which one depends on the random weights)
		fmt.Printf("grammatical=%v stop=%s prompt_reused=%v\n", sentence.MatchString(res.Text), res.StopReason, res.ReusedTokens > 0)
	}
	// Output:
	// grammatical=true stop=eos prompt_reused=false
	// grammatical=true stop=eos prompt_reused=true
}

var sentence = regexp.MustCompile(`^ SELECT (id|name) FROM (users|orders) ;$`)
