package sqleval

import (
	"fmt"
	"io"
	"math"
	"slices"
	"text/tabwriter"
	"time"
)

// Record is one question's line in the JSONL file `pgask eval --out` writes.
type Record struct {
	File         string  `json:"file,omitempty"` // the question file's base name
	Line         int     `json:"line"`           // record number in the question file
	DBName       string  `json:"db_name"`
	Category     string  `json:"query_category"`
	Question     string  `json:"question"`
	GoldQuery    string  `json:"gold_query"`              // the alternative matched, or the first
	GeneratedSQL string  `json:"generated_sql,omitempty"` // empty when generation failed
	Correct      bool    `json:"correct"`
	ExactMatch   bool    `json:"exact_match"`     // sql-eval's exact_match
	Match        Match   `json:"match,omitempty"` // exact, normalized or subset
	Rows         int     `json:"rows"`
	Error        string  `json:"error,omitempty"` // why the answer failed (generation or execution)
	LatencyMS    float64 `json:"latency_ms"`      // time to answer (generation and execution)
	// Ask is what pgask reported of the answer (tokens, time per phase) when the eval ran it
	// in process; nil otherwise.
	Ask *AskStats `json:"ask,omitempty"`
}

// AskStats break one answer down, from pgask's own account of the ASK.
type AskStats struct {
	Outcome         string  `json:"outcome"`                   // ask.Event's outcome ("ok", "invalid_sql", …)
	Example         bool    `json:"example,omitempty"`         // answered with a stored pair of pgask.examples (no model)
	Attempts        int     `json:"attempts"`                  // generations (1 + repairs)
	EmptyRepair     bool    `json:"empty_repair,omitempty"`    // the first SQL returned no rows and the model was asked again
	VoteCandidates  int     `json:"vote_candidates,omitempty"` // candidates that ran in a vote (ask.vote)
	VoteVotes       int     `json:"vote_votes,omitempty"`      // of them, those that gave the winner's result
	PromptTokens    int     `json:"prompt_tokens"`
	ReusedTokens    int     `json:"reused_tokens"`
	GeneratedTokens int     `json:"generated_tokens"`
	GrammarFallback int     `json:"grammar_fallback"`
	IntrospectMS    float64 `json:"introspect_ms"`
	PromptEvalMS    float64 `json:"prompt_eval_ms"`
	GenerationMS    float64 `json:"generation_ms"`
	CheckMS         float64 `json:"check_ms"`
	ExecuteMS       float64 `json:"execute_ms"`
}

// NewRecord builds the record of question q answered with generatedSQL in latency. A non-nil
// err is a failure before scoring (e.g. the model gave no SQL); it counts as wrong.
func NewRecord(q Question, generatedSQL string, o Outcome, latency time.Duration, err error) Record {
	r := Record{
		Line: q.Line, DBName: q.DBName, Category: q.Category, Question: q.Question,
		GoldQuery: o.Gold, GeneratedSQL: generatedSQL, Correct: o.Correct && err == nil,
		ExactMatch: o.Exact() && err == nil, Match: o.Match, Rows: o.Rows,
		LatencyMS: float64(latency) / float64(time.Millisecond),
	}
	if r.GoldQuery == "" {
		r.GoldQuery = firstGold(q)
	}
	switch {
	case err != nil:
		r.Error, r.Correct, r.ExactMatch, r.Match = err.Error(), false, false, NoMatch
	case o.GenErr != nil:
		r.Error = o.GenErr.Error()
	}
	return r
}

// Tally counts answers and correct answers.
type Tally struct {
	Category string
	Total    int
	Correct  int
}

// Accuracy is the share correct, 0 for an empty tally.
func (t Tally) Accuracy() float64 {
	if t.Total == 0 {
		return 0
	}
	return float64(t.Correct) / float64(t.Total)
}

// Summary aggregates records: accuracy overall and per query_category (sorted by name), and
// latency percentiles.
type Summary struct {
	Overall       Tally
	Exact         int // answers that are sql-eval exact matches
	Errors        int // answers that failed to generate or run
	ByCategory    []Tally
	P50, P90, P99 time.Duration
}

// Summarize aggregates records. Percentiles use the nearest-rank method over all records.
func Summarize(recs []Record) Summary {
	var s Summary
	byCat := map[string]*Tally{}
	lat := make([]float64, 0, len(recs))
	for _, r := range recs {
		t := byCat[r.Category]
		if t == nil {
			t = &Tally{Category: r.Category}
			byCat[r.Category] = t
		}
		t.Total++
		s.Overall.Total++
		if r.Correct {
			t.Correct++
			s.Overall.Correct++
		}
		if r.ExactMatch {
			s.Exact++
		}
		if r.Error != "" {
			s.Errors++
		}
		lat = append(lat, r.LatencyMS)
	}
	for _, t := range byCat {
		s.ByCategory = append(s.ByCategory, *t)
	}
	slices.SortFunc(s.ByCategory, func(a, b Tally) int {
		switch {
		case a.Category < b.Category:
			return -1
		case a.Category > b.Category:
			return 1
		}
		return 0
	})
	slices.Sort(lat)
	s.P50, s.P90, s.P99 = percentile(lat, 50), percentile(lat, 90), percentile(lat, 99)
	return s
}

// percentile returns the nearest-rank p-th percentile of sorted millisecond values.
func percentile(sorted []float64, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	rank = min(max(rank, 1), len(sorted))
	return time.Duration(sorted[rank-1] * float64(time.Millisecond))
}

// WriteText prints the summary as a table.
func (s Summary) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "category\tcorrect\ttotal\taccuracy\t\n")
	for _, t := range s.ByCategory {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.1f%%\t\n", t.Category, t.Correct, t.Total, 100*t.Accuracy())
	}
	fmt.Fprintf(tw, "overall\t%d\t%d\t%.1f%%\t\n", s.Overall.Correct, s.Overall.Total, 100*s.Overall.Accuracy())
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write summary: %w", err)
	}
	_, err := fmt.Fprintf(w, "exact matches %d, errors %d; latency p50 %s, p90 %s, p99 %s\n",
		s.Exact, s.Errors, s.P50.Round(time.Millisecond), s.P90.Round(time.Millisecond), s.P99.Round(time.Millisecond))
	if err != nil {
		return fmt.Errorf("write summary: %w", err)
	}
	return nil
}
