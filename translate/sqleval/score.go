package sqleval

import (
	"context"
	"errors"
	"fmt"
)

var errNoRows = errors.New("the statement returned no result set")

// Outcome is the verdict on one generated answer.
type Outcome struct {
	Correct bool  // the answer counts as correct (any Match)
	Match   Match // how it matched; NoMatch when wrong
	// Gold is the gold alternative the answer matched, or the first one when none did.
	Gold string
	// GenErr is the error the generated query failed with; such an answer counts as wrong.
	GenErr error
	// Rows is the number of rows the generated query returned.
	Rows int
}

// Exact reports sql-eval's exact_match: equal before or after normalisation.
func (o Outcome) Exact() bool { return o.Match == MatchExact || o.Match == MatchNormalized }

// Score runs generatedSQL and the gold queries of q (see GoldQueries) with runner, which must be
// connected to q's database, and compares the results (see Compare). As in sql-eval, an exact or
// normalised match with any alternative wins at once; a subset match counts as correct too.
// A generated query that fails is a wrong answer (Outcome.GenErr), not an error. Score returns
// an error when a gold query fails (the question cannot be scored) or ctx ends.
//
// Through pgask, generatedSQL may be the ASK itself ("ASK " + quoted question): the rows pgask
// returns are then the answer scored.
func Score(ctx context.Context, runner Runner, q Question, generatedSQL string) (Outcome, error) {
	got, err := runner.Query(ctx, generatedSQL)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return Outcome{}, fmt.Errorf("score question %d: %w", q.Line, ctxErr)
		}
		return Outcome{Gold: firstGold(q), GenErr: err}, nil
	}
	return ScoreResult(ctx, runner, q, got)
}

// ScoreResult is Score for an answer whose rows the caller already has.
func ScoreResult(ctx context.Context, runner Runner, q Question, got Result) (Outcome, error) {
	golds := GoldQueries(q.Query)
	if len(golds) == 0 {
		return Outcome{}, fmt.Errorf("score question %d: no gold query", q.Line)
	}
	ordered := Ordered(q)
	out := Outcome{Gold: golds[0], Rows: len(got.Rows)}
	for _, g := range golds {
		want, err := runner.Query(ctx, g)
		if err != nil {
			return Outcome{}, fmt.Errorf("score question %d: gold query %q: %w", q.Line, g, err)
		}
		switch m := Compare(want, got, ordered); m {
		case MatchExact, MatchNormalized:
			return Outcome{Correct: true, Match: m, Gold: g, Rows: len(got.Rows)}, nil
		case MatchSubset:
			if !out.Correct {
				out.Correct, out.Match, out.Gold = true, m, g
			}
		}
	}
	return out, nil
}

func firstGold(q Question) string {
	if g := GoldQueries(q.Query); len(g) > 0 {
		return g[0]
	}
	return ""
}
