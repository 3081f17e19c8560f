package ask_test

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/pgask/pgask/askservice"
)

// TestValuesLookup: with ask.values-lookup on and pg_trgm in the database, the prompt shows the
// value a misspelt word of the question names (categories.name 'Kitchen' for "Kitchn", which
// no statistics hold: the table was never analyzed), outside and inside the client's
// transaction block, which stays usable; without the extension the ASK is answered without it.
func TestValuesLookup(t *testing.T) {
	const (
		right = "SELECT count(*) FROM products p JOIN categories c ON c.id = p.category_id WHERE c.name = 'Kitchen'"
		line  = "-- categories.name = 'Kitchen'"
	)
	ctx := context.Background()
	// A question per case: the second would otherwise come from the translation cache.
	answers := map[string][]string{}
	for _, q := range []string{"how many products are in the Kitchn category", "number of products in Kitchn", "count the Kitchn products"} {
		answers[q] = []string{right}
	}
	on := func(o *askservice.Options) { o.ValuesLookup = true }
	withTrgm := setup(t, answers, on)
	if err := withTrgm.cluster.Exec(ctx, withTrgm.db, "CREATE EXTENSION pg_trgm"); err != nil {
		t.Fatal(err)
	}
	without := setup(t, answers, on)
	for _, tt := range []struct {
		name     string
		question string
		e        *env
		block    bool
		wantLine bool
	}{
		{name: "pg_trgm", question: "how many products are in the Kitchn category", e: withTrgm, wantLine: true},
		{name: "pg_trgm, in a block", question: "number of products in Kitchn", e: withTrgm, block: true, wantLine: true},
		{name: "no pg_trgm", question: "count the Kitchn products", e: without},
	} {
		t.Run(tt.name, func(t *testing.T) {
			conn := connect(t, tt.e.url("postgres"))
			if tt.block {
				if _, err := conn.Exec(ctx, "BEGIN"); err != nil {
					t.Fatal(err)
				}
			}
			var n int64
			if err := conn.QueryRow(ctx, "ASK "+tt.question, pgx.QueryExecModeSimpleProtocol).Scan(&n); err != nil || n != 12 {
				t.Fatalf("ASK: %d, %v", n, err)
			}
			if tt.block {
				var mode string
				if err := conn.QueryRow(ctx, "SHOW transaction_read_only").Scan(&mode); err != nil || mode != "off" {
					t.Fatalf("the block after the ASK: transaction_read_only %q, %v", mode, err)
				}
				if _, err := conn.Exec(ctx, "COMMIT"); err != nil {
					t.Fatal(err)
				}
			}
			tt.e.engine.mu.Lock()
			prompt := tt.e.engine.prompts[len(tt.e.engine.prompts)-1]
			tt.e.engine.mu.Unlock()
			if !strings.Contains(prompt, "[QUESTION]"+tt.question) {
				t.Fatalf("the last prompt is not this question's:\n%s", prompt)
			}
			if got := strings.Contains(prompt, line); got != tt.wantLine {
				t.Fatalf("prompt holds %q: %v, want %v\n%s", line, got, tt.wantLine, prompt)
			}
		})
	}
}
