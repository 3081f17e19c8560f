package ask_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/pgask/pgask/askservice"
	"github.com/pgask/pgask/proxy/ask"
)

// TestVoteByExecution: the scripted model's greedy answer and sampled candidates disagree; each
// candidate runs read-only and the result most of them give wins, a tie going to the earliest
// candidate (the greedy answer first). All candidates are generated from the same prompt.
func TestVoteByExecution(t *testing.T) {
	const (
		customers = "SELECT count(*) FROM customers"    // 200
		orders    = "SELECT count(*) FROM orders"       // 1000
		orders2   = "SELECT count(id) AS n FROM orders" // the same result, other SQL
		invalid   = "SELECT nope FROM customers"
	)
	tests := []struct {
		name       string
		mode       ask.VoteMode
		candidates int
		question   string
		answers    []string
		want       int64
		wantVotes  int // of VoteCandidates
		wantCands  int
		wantCalls  int // for both ASKs: the second's greedy answer is cached when it passed
	}{
		{name: "majority", mode: ask.VoteAlways, candidates: 5, question: "how many things",
			answers: []string{customers, orders, orders2, invalid, orders}, want: 1000, wantVotes: 3, wantCands: 4, wantCalls: 5 + 4},
		{name: "tie goes to the greedy answer", mode: ask.VoteAlways, candidates: 2, question: "how many rows",
			answers: []string{customers, orders}, want: 200, wantVotes: 1, wantCands: 2, wantCalls: 2 + 1},
		{name: "fallback votes when the greedy answer fails", mode: ask.VoteFallback, candidates: 4, question: "how many entries",
			answers: []string{invalid, invalid + " WHERE 1 = 1", invalid + " WHERE 2 = 2", orders, customers, customers, orders2},
			want:    1000, wantVotes: 2, wantCands: 4, wantCalls: 7 + 1},
		{name: "fallback does not vote on a good answer", mode: ask.VoteFallback, candidates: 4, question: "how many customers",
			answers: []string{customers, orders}, want: 200, wantCalls: 1},
		{name: "off", mode: ask.VoteOff, candidates: 5, question: "how many orders",
			answers: []string{customers, orders}, want: 200, wantCalls: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := setup(t, map[string][]string{tt.question: tt.answers}, func(o *askservice.Options) {
				o.Vote, o.VoteCandidates = tt.mode, tt.candidates
			})
			ctx := context.Background()
			conn := connect(t, e.url("postgres"))
			for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeCacheDescribe} {
				var n int64
				if err := conn.QueryRow(ctx, "ASK "+tt.question, mode).Scan(&n); err != nil {
					t.Fatalf("%v: %v", mode, err)
				}
				if n != tt.want {
					t.Errorf("%v: result %d, want %d", mode, n, tt.want)
				}
			}
			ev := <-e.events
			if ev.VoteCandidates != tt.wantCands || ev.VoteVotes != tt.wantVotes || ev.Outcome != "ok" {
				t.Errorf("event: %d candidates, %d votes, outcome %s; want %d, %d, ok", ev.VoteCandidates, ev.VoteVotes, ev.Outcome, tt.wantCands, tt.wantVotes)
			}
			e.engine.mu.Lock()
			defer e.engine.mu.Unlock()
			if got := e.engine.calls[tt.question]; got != tt.wantCalls {
				t.Errorf("generations = %d, want %d", got, tt.wantCalls)
			}
			if tt.wantCands > 0 {
				first := e.engine.prompts[len(e.engine.prompts)-1]
				for i := len(e.engine.prompts) - tt.candidates; i < len(e.engine.prompts); i++ {
					if e.engine.prompts[i] != first {
						t.Errorf("candidate %d had another prompt", i)
					}
				}
			}
		})
	}
}
