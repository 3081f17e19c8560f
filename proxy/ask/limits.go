package ask

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgask/pgask/proxy"
)

// codeLimit is program_limit_exceeded: an ASK refused by ask.max-question-length or
// ask.max-result-rows.
const codeLimit = "54000"

// limitError is an ASK refused by one of Options' limits. It unwraps to the ErrorResponse
// the client sees; outcome is the Event.Outcome it is counted under.
type limitError struct {
	outcome string
	*pgconn.PgError
}

func (e *limitError) Unwrap() error { return e.PgError }

// checkQuestion refuses a question longer than Options.MaxQuestionLength characters.
func (h *Handler) checkQuestion(question string) error {
	if h.opts.MaxQuestionLength <= 0 {
		return nil
	}
	n := utf8.RuneCountInString(question)
	if n <= h.opts.MaxQuestionLength {
		return nil
	}
	return &limitError{"too_long", pgError(codeLimit,
		fmt.Sprintf("pgask: ASK question is %d characters long; the limit is %d (ask.max-question-length)", n, h.opts.MaxQuestionLength),
		"", "Shorten the question.")}
}

// checkRows refuses generated SQL whose planner estimate exceeds Options.MaxResultRows. The
// estimate is the one ex recorded while translate checked sql; when translate did not check
// it (a cached translation, or one another session's identical ASK produced), sql is
// EXPLAINed once more.
func (h *Handler) checkRows(ctx context.Context, ex *explainer, sql string) error {
	if h.opts.MaxResultRows <= 0 {
		return nil
	}
	rows, err := ex.rows(ctx, sql)
	if err != nil {
		return err
	}
	if rows <= float64(h.opts.MaxResultRows) {
		return nil
	}
	return &limitError{"too_many_rows", pgError(codeLimit,
		fmt.Sprintf("pgask: the generated query would return about %.0f rows (planner estimate); the limit is %d (ask.max-result-rows)", rows, h.opts.MaxResultRows),
		sql, "Ask a narrower question, or raise ask.max-result-rows.")}
}

// rowLimit applies checkRows to one generated query. A refusal records sql in ev; a dry run
// is not refused but warned (dryRunRowsNotice).
func (h *Handler) rowLimit(ctx context.Context, s *proxy.Session, ex *explainer, sql string, dry bool, ev *Event) error {
	if dry {
		return h.dryRunRowsNotice(ctx, s, ex, sql)
	}
	if err := h.checkRows(ctx, ex, sql); err != nil {
		ev.SQL = sql
		return err
	}
	return nil
}

// dryRunRowsNotice tells an EXPLAIN ASK that running the SQL it shows would be refused by
// Options.MaxResultRows. The dry run itself still answers with the SQL; a failure to get the
// estimate only skips the notice.
func (h *Handler) dryRunRowsNotice(ctx context.Context, s *proxy.Session, ex *explainer, sql string) error {
	err := h.checkRows(ctx, ex, sql)
	var le *limitError
	if !errors.As(err, &le) {
		if err != nil {
			h.log.Debug("ASK dry run: no row estimate", "peer", s.Peer(), "err", err)
		}
		return nil
	}
	return s.Send(ctx, &pgproto3.NoticeResponse{Severity: "WARNING", SeverityUnlocalized: "WARNING", Code: codeLimit,
		Message: le.Message + "; running it would be refused", Hint: le.Hint})
}

// explainer checks SQL with EXPLAIN (FORMAT JSON) on the client's session and records the
// planner's row estimate of the top plan node for the SQL it last checked successfully.
// Planning can run functions (the planner folds IMMUTABLE calls and evaluates STABLE ones for
// its estimates), so the EXPLAIN runs read-only and is rolled back: in a BEGIN READ ONLY …
// ROLLBACK of its own outside a transaction block, under a read-only savepoint inside one (so
// that a failure does not abort the client's transaction either). One explainer serves one
// ASK statement.
type explainer struct {
	s *proxy.Session

	sql   string  // the text of the last successful check
	est   float64 // its top plan node's "Plan Rows"
	known bool    // est is valid for sql
}

func (e *explainer) Explain(ctx context.Context, sql string) error {
	e.known = false
	rows, err := e.explain(ctx, sql)
	if err != nil {
		return err
	}
	e.sql = sql
	e.est, e.known = planRows(rows)
	return nil
}

// explain runs EXPLAIN of one statement that passed translate's parsed check (a single
// SELECT); the line breaks keep a trailing comment of sql from swallowing what follows.
func (e *explainer) explain(ctx context.Context, sql string) ([][][]byte, error) {
	q := "EXPLAIN (FORMAT JSON) " + sql + "\n"
	bg := context.WithoutCancel(ctx)
	if e.s.TxStatus() != 'T' {
		rows, err := e.s.QueryText(ctx, "BEGIN READ ONLY;\n"+q+";\nROLLBACK")
		if err != nil && e.s.TxStatus() != 'I' {
			if _, rerr := e.s.QueryText(bg, "ROLLBACK"); rerr != nil {
				return nil, errors.Join(err, rerr)
			}
		}
		return rows, err
	}
	if _, err := e.s.QueryText(ctx, "SAVEPOINT pgask_check; SET TRANSACTION READ ONLY"); err != nil {
		return nil, err
	}
	rows, err := e.s.QueryText(ctx, q)
	if _, rerr := e.s.QueryText(bg, "ROLLBACK TO SAVEPOINT pgask_check; RELEASE SAVEPOINT pgask_check"); rerr != nil {
		return nil, errors.Join(err, rerr)
	}
	return rows, err
}

// rows returns the planner's row estimate for sql, running EXPLAIN unless the last check
// was of the same text.
func (e *explainer) rows(ctx context.Context, sql string) (float64, error) {
	if !e.known || e.sql != sql {
		if err := e.Explain(ctx, sql); err != nil {
			return 0, &checkError{fmt.Errorf("estimate result rows: %w", err)}
		}
		if !e.known {
			return 0, &checkError{errors.New("estimate result rows: EXPLAIN (FORMAT JSON) gave no \"Plan Rows\"")}
		}
	}
	return e.est, nil
}

// planRows reads the top plan node's "Plan Rows" from the one-row, one-column result of
// EXPLAIN (FORMAT JSON).
func planRows(rows [][][]byte) (float64, bool) {
	if len(rows) != 1 || len(rows[0]) != 1 {
		return 0, false
	}
	var plans []struct {
		Plan struct {
			Rows *float64 `json:"Plan Rows"`
		} `json:"Plan"`
	}
	if err := json.Unmarshal(rows[0][0], &plans); err != nil || len(plans) != 1 || plans[0].Plan.Rows == nil {
		return 0, false
	}
	return *plans[0].Plan.Rows, true
}

// checkError is a failed EXPLAIN outside translate's check (re-checking a cached
// translation for its row estimate); its Event.Outcome is "check_failed".
type checkError struct{ err error }

func (e *checkError) Error() string { return e.err.Error() }
func (e *checkError) Unwrap() error { return e.err }
