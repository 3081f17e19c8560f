package ask

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"

	"github.com/pgask/pgask/proxy"
	"github.com/pgask/pgask/translate"
)

// VoteMode says when an ASK is answered by voting by execution (Options.Vote).
type VoteMode int

const (
	VoteOff      VoteMode = iota // the greedy answer only (default)
	VoteAlways                   // the greedy answer and sampled candidates vote
	VoteFallback                 // candidates vote only when the greedy answer fails its checks
)

// ParseVoteMode returns the mode a name gives: "off", "always" or "fallback".
func ParseVoteMode(name string) (VoteMode, error) {
	switch name {
	case "off", "":
		return VoteOff, nil
	case "always":
		return VoteAlways, nil
	case "fallback":
		return VoteFallback, nil
	}
	return VoteOff, fmt.Errorf("unknown vote mode %q: want off, always or fallback", name)
}

// voteRowCap bounds the rows of each candidate's result that are read and compared.
const voteRowCap = 1000

// voter is a Translator that can sample candidates; *translate.Translator is one.
type voter interface {
	Candidates(ctx context.Context, req translate.Request, n int) ([]string, translate.Result, error)
}

// vote, with Options.Vote, answers by voting by execution: Options.VoteCandidates answers (the
// greedy one, when it passed its checks, and sampled ones, see translate.Candidates) are each
// run read-only (readOnlyQuery) with at most voteRowCap+1 rows read; the SQL whose result the
// most candidates give wins, a tie going to the earliest candidate (the greedy answer first).
// Candidates that fail to run have no vote. With VoteFallback it votes only when the greedy
// translation failed its checks (translate.ErrInvalidSQL); when no candidate runs, the greedy
// outcome stands. req is the request the greedy answer came from (translate's), nil when
// the model was not asked; the candidates answer the same request, so the schema, values and
// stored pairs are not read again.
func (h *Handler) vote(ctx context.Context, s *proxy.Session, req *translate.Request, greedy string, gerr error, ev *Event) (string, error) {
	v, ok := h.tr.(voter)
	if !ok || req == nil || h.opts.Vote == VoteOff || h.opts.VoteCandidates < 2 || (h.opts.Vote == VoteFallback && gerr == nil) {
		return greedy, gerr
	}
	if gerr != nil && !errors.Is(gerr, translate.ErrInvalidSQL) {
		return greedy, gerr
	}
	var all []string
	n := h.opts.VoteCandidates
	if gerr == nil {
		all, n = append(all, greedy), n-1
	}
	cands, res, err := v.Candidates(ctx, *req, n)
	ev.addCost(res.Attempts, res.PromptTokens, res.ReusedTokens, res.GeneratedTokens, res.GrammarFallback, res.Timings)
	if err != nil {
		if ctx.Err() != nil {
			return "", err
		}
		h.log.Info("ASK: sampling vote candidates failed", "err", err)
	}
	all = append(all, cands...)
	winner, votes := h.elect(ctx, s, all)
	ev.VoteCandidates, ev.VoteVotes = len(all), votes
	if winner == "" {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		return greedy, gerr
	}
	return winner, nil
}

// elect runs each distinct candidate and returns the one whose result most candidates share
// (ties: the earliest), with that number; "" when none ran.
func (h *Handler) elect(ctx context.Context, s *proxy.Session, cands []string) (string, int) {
	type group struct {
		first, votes int
	}
	results := map[string]string{} // SQL → result signature ("" when it failed)
	groups := map[string]*group{}
	for i, sql := range cands {
		sig, ok := results[sql]
		if !ok {
			rows, err := h.readOnlyQuery(ctx, s, fmt.Sprintf("SELECT * FROM (%s\n) AS pgask_vote LIMIT %d", sql, voteRowCap+1))
			if err != nil {
				h.log.Debug("ASK: a vote candidate failed to run", "sql", sql, "err", err)
			} else {
				sig = resultSignature(rows)
			}
			results[sql] = sig
		}
		if sig == "" {
			continue
		}
		g := groups[sig]
		if g == nil {
			g = &group{first: i}
			groups[sig] = g
		}
		g.votes++
	}
	best := (*group)(nil)
	for _, g := range groups {
		if best == nil || g.votes > best.votes || g.votes == best.votes && g.first < best.first {
			best = g
		}
	}
	if best == nil {
		return "", 0
	}
	return cands[best.first], best.votes
}

// resultSignature identifies a result as a multiset of rows (row order and column names do not
// matter; column order does), never "".
func resultSignature(rows [][][]byte) string {
	enc := make([]string, len(rows))
	for i, r := range rows {
		var b []byte
		b = binary.AppendUvarint(b, uint64(len(r)))
		for _, f := range r {
			if f == nil {
				b = append(b, 0)
				continue
			}
			b = append(b, 1)
			b = binary.AppendUvarint(b, uint64(len(f)))
			b = append(b, f...)
		}
		enc[i] = string(b)
	}
	sort.Strings(enc)
	h := sha256.New()
	for _, e := range enc {
		h.Write(binary.AppendUvarint(nil, uint64(len(e))))
		h.Write([]byte(e))
	}
	return fmt.Sprintf("%d:%x", len(rows), h.Sum(nil))
}
