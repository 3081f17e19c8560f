package ask

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgask/pgask/proxy"
	"github.com/pgask/pgask/proxy/asksplit"
	"github.com/pgask/pgask/translate"
	"github.com/pgask/pgask/translate/examples"
)

// maxPromptExamples is the most stored pairs shown to the model as worked examples.
const maxPromptExamples = 3

// turn is a session's previous ASK, which a follow-up refines.
type turn struct {
	text     string // the statement text (the memo key of an extended-protocol Parse)
	question string // the whole question: a follow-up's is the previous question with it appended
	sql      string // the generated SQL (not a dry run's SELECT of it)
	base     string // a follow-up's: the SQL of the question it refined
}

// lastTurn is the session's latest translated ASK, nil when none.
func (h *Handler) lastTurn(s *proxy.Session) *turn {
	h.memoMu.Lock()
	defer h.memoMu.Unlock()
	return h.turns[s]
}

func (h *Handler) setTurn(s *proxy.Session, t *turn) {
	h.memoMu.Lock()
	defer h.memoMu.Unlock()
	h.turns[s] = t
}

// followUp returns the question to translate for an ASK statement and, for a follow-up, the
// previous question and SQL it refines. A standalone ASK gets its own question and no history.
func (h *Handler) followUp(s *proxy.Session, st asksplit.Statement) (string, *translate.Example, error) {
	if !st.FollowUp {
		return st.Question, nil, nil
	}
	prev := h.lastTurn(s)
	if prev == nil {
		return "", nil, pgError("42601", "pgask: a follow-up question (ASK and …, ASK but …) needs an earlier ASK in this session",
			"", "Ask the whole question, or ask the first question of the series before refining it.")
	}
	return prev.question + ", " + st.Question, &translate.Example{Question: prev.question, SQL: prev.sql}, nil
}

// examplesFor reads the stored pairs the session's user may see (nil when the feature is off
// or the pairs cannot be read: ASK then works as without them).
func (h *Handler) examplesFor(ctx context.Context, s *proxy.Session) *examples.Set {
	key := h.opts.Upstream + "\x00" + s.Database() + "\x00" + s.User()
	set, _, err := h.examples.Load(ctx, s, key, s.TxStatus() == 'T')
	if err != nil {
		if ctx.Err() == nil {
			h.log.Warn("ASK: could not read pgask.examples; answering without them", "peer", s.Peer(), "err", err)
		}
		return nil
	}
	return set
}

// fromExample answers a question that matches a stored one with the stored SQL, without the
// model. The SQL gets the checks generated SQL gets (one read-only SELECT, EXPLAIN as the
// user), since any user with INSERT on the table may have stored it.
func (h *Handler) fromExample(ctx context.Context, set *examples.Set, question string, ev *Event, ex *explainer) (string, bool, error) {
	p, ok := set.Exact(question)
	if !ok {
		return "", false, nil
	}
	ev.Example = true
	t0 := time.Now()
	defer func() { ev.Translate.Check += time.Since(t0) }()
	if err := translate.CheckStatic(p.SQL, h.opts.AllowFunctions); err != nil {
		return "", true, pgError(codeRejected, "pgask: the stored SQL of pgask.examples for this question is refused: "+err.Error(),
			"stored SQL: "+p.SQL, "Correct or delete the pair in pgask.examples.")
	}
	if err := ex.Explain(ctx, p.SQL); err != nil {
		return "", true, &checkError{fmt.Errorf("check the stored SQL of pgask.examples: %w", withoutPosition(err))}
	}
	return p.SQL, true, nil
}

// exampleDetail is the DETAIL of the NOTICE of an ASK answered from a stored pair (the
// message stays "pgask: <SQL>", which clients such as pgask eval read).
const exampleDetail = "answered from pgask.examples (a stored question matched; no model ran)"

// teach stores a verified pair: TEACH 'question' AS SELECT …. The SQL must be one read-only
// SELECT (the static check of generated SQL) that passes EXPLAIN as the user, read-only; then
// the INSERT runs on the user's session, as any statement of theirs would (inside their
// transaction block it joins the block), so the server's privileges decide and its errors
// (42501 without INSERT, 42P01 without the table) reach the client unchanged. Nothing is
// inserted when a check fails.
func (h *Handler) teach(ctx context.Context, s *proxy.Session, st asksplit.Statement) error {
	ev := h.newEvent(s, st.Question, false, false)
	ev.Teach = true
	if s.TxStatus() == 'E' {
		return h.fail(ctx, s, &ev, pgError("25P02", "current transaction is aborted, commands ignored until end of transaction block", "", ""))
	}
	if st.Question == "" && st.TeachSQL == "" {
		return h.fail(ctx, s, &ev, pgError("42601", "pgask: syntax error in TEACH", "",
			"Write TEACH $$question$$ AS SELECT …: the question quoted, then AS and one SELECT."))
	}
	question, sql, err := examples.Check(ctx, &explainer{s: s}, st.Question, st.TeachSQL)
	ev.SQL = sql
	if err != nil {
		var re *examples.RefusedError
		if errors.As(err, &re) {
			code := codeRejected
			if re.Syntax {
				code = "42601"
			}
			err = pgError(code, "pgask: TEACH refused: "+re.Reason, "", "TEACH stores one read-only SELECT that answers the question.")
		}
		err = withoutPosition(err)
		return h.fail(ctx, s, &ev, err)
	}
	ev.Question, ev.SQL = question, sql
	if err := s.RelayQuery(ctx, examples.InsertSQL(question, sql)); err != nil {
		ev.Outcome, ev.Err = "exec_error", err
		h.observe(&ev)
		return err // already sent, and the block (if any) failed, as after any statement
	}
	ev.Outcome = "taught"
	h.observe(&ev)
	return nil
}

// sendNotice sends the SQL an ASK runs as a NOTICE when Options.Notice is set.
func (h *Handler) sendNotice(ctx context.Context, s *proxy.Session, sql string, example bool) error {
	if !h.opts.Notice {
		return nil
	}
	n := &pgproto3.NoticeResponse{Severity: "NOTICE", SeverityUnlocalized: "NOTICE", Code: "00000", Message: "pgask: " + sql}
	if example {
		n.Detail = exampleDetail
	}
	return s.Send(ctx, n)
}

// withoutPosition drops the cursor position of the server's error for pgask's EXPLAIN: it
// counts in pgask's statement text, not in the client's, where a client would point at the
// wrong place.
func withoutPosition(err error) error {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Position == 0 {
		return err
	}
	cp := *pe
	cp.Position = 0
	return &cp
}
