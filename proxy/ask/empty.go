package ask

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/pgask/pgask/proxy"
	"github.com/pgask/pgask/translate"
)

// emptyProblem is what the model is told about SQL that returned no rows.
const emptyProblem = "the query ran but returned no rows, and the question asks for some: check the tables, the joins and the values in the conditions"

// emptyRepair, with Options.EmptyRepair, runs sql read-only with LIMIT 1 (probeEmpty) before
// it is run for the client, and when it returns no rows for a question that asks for rows,
// asks the model once more with that fact (translate.Feedback). The new SQL replaces sql when
// it passes its checks (EXPLAIN, the row limit); otherwise, or when the probe itself fails
// (the client's run will show why), sql stays: an empty result may be the right answer. No
// row of the probe reaches the client: it runs over the session's own connection before the
// client's statement, and only its row count is looked at.
func (h *Handler) emptyRepair(ctx context.Context, s *proxy.Session, question string, fu *translate.Example, sql string, ev *Event, ex *explainer) (string, error) {
	if !h.opts.EmptyRepair || !asksForRows(question) {
		return sql, nil
	}
	empty, err := h.probeEmpty(ctx, s, sql)
	if err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		h.log.Debug("ASK: the empty-result probe failed; running the SQL as it is", "sql", sql, "err", err)
		return sql, nil
	}
	if !empty {
		return sql, nil
	}
	first := *ev
	fixed, _, err := h.translate(ctx, s, question, fu, ev, ex, &translate.Feedback{SQL: sql, Problem: emptyProblem})
	// The event counts both translations.
	ev.EmptyRepair = true
	ev.Cached = ev.Cached && first.Cached
	ev.addCost(first.Attempts, first.PromptTokens, first.ReusedTokens, first.GeneratedTokens, first.GrammarFallback, first.Translate)
	if err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		h.log.Info("ASK: the repair of an empty result failed; running the first SQL", "sql", sql, "err", err)
		return sql, nil
	}
	if err := h.rowLimit(ctx, s, ex, fixed, false, ev); err != nil {
		h.log.Info("ASK: the repair of an empty result is over the row limit; running the first SQL", "sql", fixed)
		return sql, nil
	}
	h.log.Debug("ASK: repaired an empty result", "first", sql, "sql", fixed)
	return fixed, nil
}

// addCost adds another translation's generations, tokens and timings to ev's (an empty-result
// repair, a vote's candidates).
func (ev *Event) addCost(attempts, prompt, reused, generated, fallbacks int, t translate.Timings) {
	ev.Attempts += attempts
	ev.PromptTokens += prompt
	ev.ReusedTokens += reused
	ev.GeneratedTokens += generated
	ev.GrammarFallback += fallbacks
	a := &ev.Translate
	a.Grammar += t.Grammar
	a.Render += t.Render
	a.Generate += t.Generate
	a.QueueWait += t.QueueWait
	a.PromptEval += t.PromptEval
	a.Generation += t.Generation
	a.Check += t.Check
	a.Total += t.Total
}

// probeEmpty reports whether sql returns no rows, running `SELECT 1 FROM (sql) LIMIT 1` with
// readOnlyQuery.
func (h *Handler) probeEmpty(ctx context.Context, s *proxy.Session, sql string) (bool, error) {
	rows, err := h.readOnlyQuery(ctx, s, "SELECT 1 FROM ("+sql+"\n) AS pgask_probe LIMIT 1")
	if err != nil {
		return false, fmt.Errorf("probe: %w", err)
	}
	return len(rows) == 0, nil
}

// readOnlyQuery runs query for pgask's own use (its rows go nowhere but to the caller) in the
// same read-only scope as the client's run (execute): pgask's own BEGIN READ ONLY … ROLLBACK
// outside a transaction block, a read-only savepoint rolled back afterwards inside one (the
// client's block is left as it was, even when the query fails), under the statement timeout.
func (h *Handler) readOnlyQuery(ctx context.Context, s *proxy.Session, query string) ([][][]byte, error) {
	var begin, end string
	switch s.TxStatus() {
	case 'I':
		begin, end = "BEGIN READ ONLY"+h.timeoutSQL(), "ROLLBACK"
	case 'T':
		begin = "SAVEPOINT " + roSavepoint + "; SET TRANSACTION READ ONLY" + h.timeoutSQL()
		end = "ROLLBACK TO SAVEPOINT " + roSavepoint + "; RELEASE SAVEPOINT " + roSavepoint
	default:
		return nil, errors.New("transaction is aborted")
	}
	if _, err := s.QueryText(ctx, begin); err != nil {
		return nil, fmt.Errorf("enter read-only scope: %w", err)
	}
	rows, err := s.QueryText(ctx, query)
	if _, rerr := s.QueryText(context.WithoutCancel(ctx), end); rerr != nil {
		return nil, errors.Join(err, fmt.Errorf("leave read-only scope: %w", rerr))
	}
	return rows, err
}

// yesNoStarts are the first words of questions whose answer may rightly be "none": "are there
// orders from Mars?" asks whether, not for rows.
var yesNoStarts = map[string]bool{
	"is": true, "are": true, "was": true, "were": true, "do": true, "does": true, "did": true,
	"has": true, "have": true, "had": true, "can": true, "could": true, "will": true, "would": true,
	"should": true, "any": true,
}

// asksForRows reports whether an empty result would not answer question: false for a yes/no
// question and for one allowing none ("if any").
func asksForRows(question string) bool {
	q := strings.ToLower(question)
	words := strings.FieldsFunc(q, func(r rune) bool { return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r > 127) })
	if len(words) == 0 || yesNoStarts[words[0]] {
		return false
	}
	return !strings.Contains(" "+strings.Join(words, " ")+" ", " if any ")
}
