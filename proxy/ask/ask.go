// Package ask answers ASK statements on a client's session: it finds them (asksplit), reads
// the live schema over the client's own upstream session (introspect), has it translated
// (translate), checks the SQL with EXPLAIN as the client's user, shows it as a NOTICE and runs
// it read-only, streaming ordinary rows back. A question that matches a verified pair of
// pgask.examples is answered with its SQL, similar pairs are shown to the model, a follow-up
// (ASK and …) refines the session's previous question, and TEACH stores a checked pair
// (examples.go). It implements proxy.Interceptor.
package ask

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgask/pgask/introspect"
	"github.com/pgask/pgask/proxy"
	"github.com/pgask/pgask/proxy/asksplit"
	"github.com/pgask/pgask/translate"
	"github.com/pgask/pgask/translate/examples"
)

// Translator turns a question and a schema into one checked SELECT; *translate.Translator fits.
type Translator interface {
	Translate(ctx context.Context, req translate.Request) (translate.Result, error)
}

// Schemas returns the live schema a session's user sees; *introspect.Cache fits.
type Schemas interface {
	Get(ctx context.Context, q introspect.Querier, key introspect.Key) (*introspect.Schema, introspect.Fingerprint, error)
}

// pruners is implemented by a schema source that caches the pruning analysis per schema
// (*introspect.Cache does).
type pruners interface {
	Pruner(s *introspect.Schema) *introspect.Pruner
}

// Event describes one answered (or failed) ASK, for metrics and the audit log.
type Event struct {
	Start                time.Time
	User, Database, Peer string
	Question             string
	SQL                  string
	DryRun, Extended     bool
	Attempts             int
	Cached               bool
	// Example is set when the SQL is the stored one of a pair in pgask.examples whose
	// question matched (no model ran); Teach for a TEACH statement.
	Example, Teach bool
	// Outcome is one of "ok", "taught" (TEACH stored its pair), "dry_run", "unanswerable",
	// "rejected", "invalid_sql", "engine_error", "timeout", "queue_full", "check_failed",
	// "canceled", "unavailable", "exec_error", "error", and for the limits (SQLSTATE 54000):
	// "too_long" (a question longer than Options.MaxQuestionLength, refused before any work)
	// and "too_many_rows" (generated SQL whose planner estimate exceeds
	// Options.MaxResultRows, not run).
	Outcome             string
	Err                 error
	Introspect, Execute time.Duration
	Translate           translate.Timings
	Total               time.Duration // from the start of the ASK to its answer (rows sent)
	PromptTokens        int
	ReusedTokens        int
	GeneratedTokens     int
	GrammarFallback     int // generation steps where the grammar overruled the model's choice
	// EmptyRepair: the first SQL returned no rows and the model was asked again
	// (Options.EmptyRepair); Attempts, tokens and timings count both translations.
	EmptyRepair bool
	// VoteCandidates is how many candidates passed their checks and ran in a vote
	// (Options.Vote), VoteVotes how many of them gave the winner's result; 0 without a vote.
	VoteCandidates, VoteVotes int
}

// Options shape a Handler.
type Options struct {
	// Upstream identifies the server in schema cache keys.
	Upstream string
	// Notice sends the generated SQL to the client as a NOTICE before the rows.
	Notice bool
	// SchemaBudget prunes schemas larger than this many tokens to the question; 0 = never.
	SchemaBudget int
	// ValuesLookup looks the question's words up in the text columns of the pruned schema
	// with pg_trgm, where the extension exists (see lookupValues), and shows the values found
	// with those of the statistics.
	ValuesLookup bool
	// EmptyRepair: when the SQL of an ASK that asks for rows (not a yes/no question) returns
	// none, the model is re-prompted once with that fact (see emptyRepair).
	EmptyRepair bool
	// Vote answers by voting by execution (see vote): off, always, or only when the greedy
	// answer fails its checks; VoteCandidates answers vote (at least 2 for a vote).
	Vote           VoteMode
	VoteCandidates int
	// StatementTimeout bounds the generated SQL's run (SET LOCAL statement_timeout); 0 = the
	// session's own.
	StatementTimeout time.Duration
	// MaxQuestionLength is the longest question, in characters (runes), an ASK may hold; a
	// longer one is refused with SQLSTATE 54000 before introspection or translation. 0 = no
	// limit.
	MaxQuestionLength int
	// MaxResultRows refuses, with SQLSTATE 54000 and without running it, generated SQL whose
	// planner estimate (the top plan node's "Plan Rows" of the EXPLAIN (FORMAT JSON) check)
	// exceeds this many rows. A dry run (EXPLAIN ASK) still returns the SQL, with a WARNING
	// that running it would be refused. 0 = no limit.
	MaxResultRows int64
	// ExampleBudget is the most tokens of stored question → SQL pairs (pgask.examples) shown
	// to the model as worked examples, the most similar first (at most 3); 0 shows none.
	// Questions that match a stored one are answered from it whatever the budget.
	ExampleBudget int
	// AllowFunctions are denied functions allowed anyway in stored SQL (as in
	// translate.Options.AllowFunctions).
	AllowFunctions []string
	// Unavailable, when set, answers every ASK with this error (e.g. "model not found") while
	// everything else passes through.
	Unavailable error
	// Observe, when set, is called once per ASK after it is answered.
	Observe func(Event)
	// Logger; nil discards.
	Logger *slog.Logger
}

// Handler answers ASK statements. It is safe for concurrent use by all sessions.
type Handler struct {
	schemas Schemas
	tr      Translator
	opts    Options
	log     *slog.Logger

	// memo keeps, per session, the SQL each ASK text was translated to, so that a driver
	// that parses the same text again (Describe first, Execute later, re-prepare) sees the
	// same statement and the same RowDescription. Entries go when the session ends.
	memoMu sync.Mutex
	memo   map[*proxy.Session]map[string]memoEntry
	// turns keeps each session's latest translated ASK, which a follow-up refines.
	turns map[*proxy.Session]*turn

	examples *examples.Cache
}

// memoEntry is what an extended-protocol Parse of an ASK text forwarded, and the ASK it
// answered (the session's previous ASK again when the text is parsed again).
type memoEntry struct {
	sql string
	t   *turn
}

// New returns a Handler. schemas and tr may be nil only when opts.Unavailable is set.
func New(schemas Schemas, tr Translator, opts Options) (*Handler, error) {
	if opts.Unavailable == nil && (schemas == nil || tr == nil) {
		return nil, errors.New("ask: a schema source and a translator are required")
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Handler{schemas: schemas, tr: tr, opts: opts, log: log, memo: map[*proxy.Session]map[string]memoEntry{},
		turns: map[*proxy.Session]*turn{}, examples: examples.NewCache()}, nil
}

var _ proxy.Interceptor = (*Handler)(nil)

// SessionClosed forgets a session's memo; the proxy calls it when a session ends.
func (h *Handler) SessionClosed(s *proxy.Session) {
	h.memoMu.Lock()
	delete(h.memo, s)
	delete(h.turns, s)
	h.memoMu.Unlock()
}

// Query answers a simple-protocol Query holding one or more ASKs. Other statements of the same
// Query run as they would have (consecutive ones together, as one Query); the first error
// stops the rest, as PostgreSQL does.
func (h *Handler) Query(ctx context.Context, s *proxy.Session, text string) error {
	stmts, err := asksplit.Split(text)
	if err := openASK(err); err != nil {
		return err
	}
	if !hasASK(stmts) {
		return proxy.ErrPassThrough // the prefilter's false positive (e.g. "ask" in a literal)
	}
	if err != nil {
		// An unterminated quote in an ASK: PostgreSQL's own message for the same mistake.
		return pgError("42601", "unterminated quoted string or comment in ASK statement", "", "Close the quote, or write the question without quotes.")
	}
	var plain []string
	flush := func() error {
		if len(plain) == 0 {
			return nil
		}
		q := strings.Join(plain, ";\n")
		plain = plain[:0]
		return s.RelayQuery(ctx, q)
	}
	for _, st := range stmts {
		if !st.IsASK && !st.IsTeach && len(st.Embedded) == 0 {
			plain = append(plain, st.Text)
			continue
		}
		if err := flush(); err != nil {
			return err
		}
		if st.IsTeach {
			if err := h.teach(ctx, s, st); err != nil {
				return err
			}
			continue
		}
		if err := h.statement(ctx, s, text, st); err != nil {
			return err
		}
	}
	return flush()
}

// openASK turns Split's error for a parenthesised ASK that the text never closes into the
// client's syntax error; any other error gives nil.
func openASK(err error) error {
	var se *asksplit.SyntaxError
	if !errors.As(err, &se) || se.What != "parenthesised ASK" {
		return nil
	}
	return pgError("42601", "unterminated parenthesised ASK: the question has no closing )", "", "Close the parenthesis after the question.")
}

func hasASK(stmts []asksplit.Statement) bool {
	for _, st := range stmts {
		if st.IsASK || st.IsTeach || len(st.Embedded) > 0 {
			return true
		}
	}
	return false
}

// statement answers one ASK (or a statement with parenthesised ASKs) of a simple Query.
func (h *Handler) statement(ctx context.Context, s *proxy.Session, text string, st asksplit.Statement) error {
	ev := h.newEvent(s, st.Question, st.DryRun, false)
	sql, err := h.sqlFor(ctx, s, text, st, &ev)
	if err != nil {
		return h.fail(ctx, s, &ev, err)
	}
	ev.SQL = sql
	if st.DryRun {
		ev.Outcome = "dry_run"
		h.observe(&ev)
		return s.Send(ctx, dryRunRows(sql)...)
	}
	if err := h.sendNotice(ctx, s, sql, ev.Example); err != nil {
		return err
	}
	t0 := time.Now()
	err = h.execute(ctx, s, sql)
	ev.Execute = time.Since(t0)
	if err != nil {
		ev.Outcome, ev.Err = "exec_error", err
		h.observe(&ev)
		return err
	}
	ev.Outcome = "ok"
	h.observe(&ev)
	return nil
}

// sqlFor returns the SQL that replaces st: the translation of an ASK, or st with each
// parenthesised ASK replaced by its translation. Each generated query is held to
// Options.MaxResultRows on its own (a dry run only warns).
func (h *Handler) sqlFor(ctx context.Context, s *proxy.Session, text string, st asksplit.Statement, ev *Event) (string, error) {
	ex := &explainer{s: s}
	if st.IsASK {
		question, fu, err := h.followUp(s, st)
		if err != nil {
			return "", err
		}
		ev.Question = question
		sql, req, err := h.translate(ctx, s, question, fu, ev, ex, nil)
		if !st.DryRun && !ev.Example {
			sql, err = h.vote(ctx, s, req, sql, err, ev)
		}
		if err != nil {
			return "", err
		}
		if err := h.rowLimit(ctx, s, ex, sql, st.DryRun, ev); err != nil {
			return "", err
		}
		if !st.DryRun && !ev.Example {
			if sql, err = h.emptyRepair(ctx, s, question, fu, sql, ev, ex); err != nil {
				return "", err
			}
		}
		t := &turn{text: text, question: question, sql: sql}
		if fu != nil {
			t.base = fu.SQL
		}
		h.setTurn(s, t)
		return sql, nil
	}
	var b strings.Builder
	pos := st.Start
	for _, e := range st.Embedded {
		ev.Question = e.Question
		sql, _, err := h.translate(ctx, s, e.Question, nil, ev, ex, nil)
		if err != nil {
			return "", err
		}
		if err := h.rowLimit(ctx, s, ex, sql, st.DryRun, ev); err != nil {
			return "", err
		}
		b.WriteString(text[pos:e.Start])
		b.WriteString("(" + sql + ")")
		pos = e.End
	}
	b.WriteString(text[pos:st.End])
	return b.String(), nil
}

// Parse translates an ASK arriving in an extended-protocol Parse; the generated SQL is
// forwarded in its place so that the server describes it. EXPLAIN ASK becomes a SELECT of
// the generated text.
func (h *Handler) Parse(ctx context.Context, s *proxy.Session, name, text string) (string, error) {
	stmts, err := asksplit.Split(text)
	if err := openASK(err); err != nil {
		return "", err
	}
	if !hasASK(stmts) {
		return "", proxy.ErrPassThrough
	}
	if err != nil || len(stmts) != 1 {
		return "", pgError("42601", "an extended-protocol Parse may hold only one ASK statement", "", "")
	}
	st := stmts[0]
	if st.IsTeach {
		return "", pgError("0A000", "pgask: TEACH is answered over the simple query protocol only", "",
			"Send it as a simple Query (psql, or a driver's simple protocol mode), or INSERT INTO pgask.examples (question, sql) directly.")
	}
	key := h.memoKey(s, text, st)
	if sql, ok := h.remembered(s, key); ok {
		return sql, nil
	}
	ev := h.newEvent(s, st.Question, st.DryRun, true)
	if err := rewritten(st, s.ParseParamTypes()); err != nil {
		return "", h.fail(ctx, s, &ev, err)
	}
	sql, err := h.sqlFor(ctx, s, text, st, &ev)
	if err != nil {
		return "", h.fail(ctx, s, &ev, err)
	}
	ev.SQL = sql
	ev.Outcome = "ok"
	if st.DryRun {
		ev.Outcome = "dry_run"
		sql = "SELECT " + introspect.QuoteLiteral(sql) + "::text AS sql"
	} else if err := h.sendNotice(ctx, s, sql, ev.Example); err != nil {
		return "", err
	}
	h.remember(s, key, sql)
	h.observe(&ev)
	return sql, nil
}

// rewritten refuses an extended-protocol ASK for which the driver declared parameter types
// (an ASK takes no parameters: psycopg 3 declares them for the %s it turned into $1, inside
// quotes too), or whose unquoted question holds a parameter placeholder ($1 …): a driver that lexes SQL (pgjdbc, psqlODBC with server-side prepare,
// psycopg 3, node-postgres) sends one in place of a `?` or `%s` of the question it took for a
// parameter, so the question is not the one the user wrote. The model is not called; the hint
// names the quoted forms, which drivers pass through untouched. SQLSTATE 42P02
// (undefined_parameter) is what PostgreSQL answers for a $n that no parameter fills; it is a
// statement error, so the session stays usable (an 08 class code would make connection pools
// drop the connection).
func rewritten(st asksplit.Statement, paramTypes int) error {
	if paramTypes > 0 {
		return pgError("42P02", fmt.Sprintf("an ASK takes no parameters, and the client declared %d for it", paramTypes),
			"The statement pgask received: "+st.Text,
			"Write the values into the question and send it without parameters, quoted: ASK $$…$$, or ASK '…' with each ' doubled.")
	}
	check := func(q string, quoted bool) error {
		p := asksplit.Placeholder(q)
		if quoted || p == "" {
			return nil
		}
		return pgError("42P02", fmt.Sprintf("the ASK question holds %s, a parameter placeholder: the client's driver probably took a ? of the question for a parameter marker", p),
			"The question pgask received: "+q,
			"Write the question as a dollar-quoted or string literal, which drivers pass through untouched: ASK $$…$$, or ASK '…' with each ' doubled.")
	}
	if st.IsASK {
		return check(st.Question, st.Quoted)
	}
	for _, e := range st.Embedded {
		if err := check(e.Question, e.Quoted); err != nil {
			return err
		}
	}
	return nil
}

// memoKey is the memo key of a Parse of text: the text, and for a follow-up the SQL of the
// question it refines, so that the same words after another question are a new question.
// Parsing a follow-up's text again right after it was answered (a driver re-preparing it)
// finds the entry made then, since the question it refined is remembered with it.
func (h *Handler) memoKey(s *proxy.Session, text string, st asksplit.Statement) string {
	if !st.FollowUp {
		return text
	}
	prev := h.lastTurn(s)
	switch {
	case prev == nil:
		return text
	case prev.text == text:
		return text + "\x00" + prev.base
	}
	return text + "\x00" + prev.sql
}

// remembered returns what an earlier Parse with the same memo key forwarded, and makes the
// ASK it answered the session's previous one again.
func (h *Handler) remembered(s *proxy.Session, key string) (string, bool) {
	h.memoMu.Lock()
	defer h.memoMu.Unlock()
	e, ok := h.memo[s][key]
	if ok && e.t != nil {
		h.turns[s] = e.t
	}
	return e.sql, ok
}

// remember keeps what a Parse forwarded under its memo key, with the session's latest turn
// (the ASK it answered).
func (h *Handler) remember(s *proxy.Session, key, sql string) {
	h.memoMu.Lock()
	defer h.memoMu.Unlock()
	m := h.memo[s]
	if m == nil {
		m = map[string]memoEntry{}
		h.memo[s] = m
	}
	if len(m) >= 1024 { // a session asking thousands of distinct questions: start over
		clear(m)
	}
	m[key] = memoEntry{sql: sql, t: h.turns[s]}
}

// translate reads the schema and translates one question; fu is the question a follow-up
// refines, nil for a standalone one; feedback, when set, is an earlier answer to show the
// model (translate.Request.Feedback). A question that matches a stored pair (pgask.examples)
// gets its SQL without the model; otherwise the most similar pairs are shown to the model.
// The request the model was given comes back too (nil when none was built), for a vote to
// sample more answers to it.
func (h *Handler) translate(ctx context.Context, s *proxy.Session, question string, fu *translate.Example, ev *Event, ex *explainer, feedback *translate.Feedback) (string, *translate.Request, error) {
	if err := h.askable(s, question); err != nil {
		return "", nil, err
	}
	t0 := time.Now()
	set := h.examplesFor(ctx, s)
	if fu == nil && feedback == nil {
		sql, ok, err := h.fromExample(ctx, set, question, ev, ex)
		if ok {
			ev.Introspect += time.Since(t0) - ev.Translate.Check
			return sql, nil, err
		}
	}
	ev.Introspect += time.Since(t0)
	req, err := h.request(ctx, s, question, fu, set, ev, ex)
	if err != nil {
		return "", nil, err
	}
	req.Feedback = feedback
	res, err := h.tr.Translate(ctx, req)
	ev.Attempts, ev.Cached = res.Attempts, res.Cached
	ev.Translate = res.Timings
	ev.PromptTokens, ev.ReusedTokens, ev.GeneratedTokens = res.PromptTokens, res.ReusedTokens, res.GeneratedTokens
	ev.GrammarFallback = res.GrammarFallback
	if err != nil {
		var te *translate.Error
		if errors.As(err, &te) {
			ev.SQL = te.SQL
			ev.Attempts = te.Attempts
		}
		return "", &req, err
	}
	return res.SQL, &req, nil
}

// askable refuses what no question gets past: an aborted transaction, no model, an empty
// or over-long question.
func (h *Handler) askable(s *proxy.Session, question string) error {
	if s.TxStatus() == 'E' { // as PostgreSQL: an aborted transaction ignores every command
		return pgError("25P02", "current transaction is aborted, commands ignored until end of transaction block", "", "")
	}
	if h.opts.Unavailable != nil {
		return h.opts.Unavailable
	}
	if strings.TrimSpace(question) == "" {
		return pgError("42601", "ASK needs a question", "", "Write the question after ASK, e.g. ASK how many orders were placed last week")
	}
	return h.checkQuestion(question)
}

// request reads the schema (introspect.Cache), prunes it to the question and returns the
// translation request for question, with the stored pairs of set most like it and, for a
// follow-up, the question fu it refines.
func (h *Handler) request(ctx context.Context, s *proxy.Session, question string, fu *translate.Example, set *examples.Set, ev *Event, ex *explainer) (translate.Request, error) {
	t0 := time.Now()
	schema, fp, err := h.schemas.Get(ctx, s, introspect.Key{
		Upstream: h.opts.Upstream, Database: s.Database(), User: s.User(), SearchPath: s.StartupParam("search_path"),
	})
	ev.Introspect += time.Since(t0)
	if err != nil {
		return translate.Request{}, fmt.Errorf("read schema: %w", err)
	}
	pruned := schema
	if h.opts.SchemaBudget > 0 {
		if pc, ok := h.schemas.(pruners); ok {
			pruned = pc.Pruner(schema).Prune(question, h.opts.SchemaBudget) // per-schema analysis cached
		} else {
			pruned = introspect.Prune(schema, question, h.opts.SchemaBudget)
		}
	}
	return translate.Request{
		Question:  question,
		Schema:    pruned,
		SchemaDDL: h.schemaDDL(ctx, s, pruned, question),
		// The cache computed the full schema's fingerprint once; pruning is a function of it,
		// the question and the budget, so the translation cache need not hash the schema again.
		SchemaKey: fmt.Sprintf("%x/%d", fp[:], h.opts.SchemaBudget),
		Checker:   ex,
		Examples:  set.Similar(question, maxPromptExamples, h.opts.ExampleBudget),
		FollowUp:  fu,
	}, nil
}

// execute runs generated SQL with a statement timeout in a read-only state that PostgreSQL
// itself enforces, relays its rows, and then undoes everything the SQL did. Outside a
// transaction block it runs in pgask's own BEGIN READ ONLY … ROLLBACK. Inside the client's
// block it runs under a savepoint that makes the block read-only only until ROLLBACK TO
// SAVEPOINT, which also restores the client's timeout and settings; when the SQL fails, the
// block is left failed ('E') as after any failed statement, and the client's ROLLBACK (or
// ROLLBACK TO one of its savepoints) takes pgask's savepoint with it.
func (h *Handler) execute(ctx context.Context, s *proxy.Session, sql string) error {
	switch s.TxStatus() {
	case 'I':
		return h.executeIdle(ctx, s, sql)
	case 'T':
		return h.executeInBlock(ctx, s, sql)
	default:
		return pgError("25P02", "current transaction is aborted, commands ignored until end of transaction block", "", "")
	}
}

// timeoutSQL is the SET LOCAL of Options.StatementTimeout, after a "; ", or "".
func (h *Handler) timeoutSQL() string {
	if h.opts.StatementTimeout <= 0 {
		return ""
	}
	return fmt.Sprintf("; SET LOCAL statement_timeout = %d", h.opts.StatementTimeout.Milliseconds())
}

func (h *Handler) executeIdle(ctx context.Context, s *proxy.Session, sql string) error {
	if _, err := s.QueryText(ctx, "BEGIN READ ONLY"+h.timeoutSQL()); err != nil {
		return fmt.Errorf("begin read-only transaction: %w", err)
	}
	err := s.RelayQuery(ctx, sql)
	if _, rerr := s.QueryText(context.WithoutCancel(ctx), "ROLLBACK"); rerr != nil {
		return errors.Join(err, fmt.Errorf("end read-only transaction: %w", rerr))
	}
	return err
}

// roSavepoint bounds the read-only state of generated SQL inside a client's transaction block.
const roSavepoint = "pgask_ro"

func (h *Handler) executeInBlock(ctx context.Context, s *proxy.Session, sql string) error {
	if _, err := s.QueryText(ctx, "SAVEPOINT "+roSavepoint+"; SET TRANSACTION READ ONLY"+h.timeoutSQL()); err != nil {
		return fmt.Errorf("enter read-only savepoint: %w", err)
	}
	if err := s.RelayQuery(ctx, sql); err != nil {
		return err // the block is failed, as after any failed statement
	}
	if _, err := s.QueryText(context.WithoutCancel(ctx), "ROLLBACK TO SAVEPOINT "+roSavepoint+"; RELEASE SAVEPOINT "+roSavepoint); err != nil {
		return fmt.Errorf("leave read-only savepoint: %w", err)
	}
	return nil
}

// fail turns a failed ASK into the error the client sees. Inside a transaction block the
// upstream transaction is put into the failed state, so the client sees 'E' as PostgreSQL
// would show it after a failed statement.
func (h *Handler) fail(ctx context.Context, s *proxy.Session, ev *Event, err error) error {
	perr := toPgError(err)
	ev.Err = err
	ev.Outcome = outcome(err)
	h.observe(ev)
	if s.TxStatus() == 'T' {
		// Any failing statement does; this one names the error in the server's log, and
		// needs no procedural language (a DO block would load PL/pgSQL into the session).
		abort := fmt.Sprintf("SELECT %s::pg_catalog.int4", introspect.QuoteLiteral("pgask: "+perr.Code+" "+perr.Message))
		if _, aerr := s.QueryText(context.WithoutCancel(ctx), abort); aerr == nil {
			h.log.Warn("ASK: could not mark the transaction failed", "peer", s.Peer())
		}
	}
	return perr
}

func (h *Handler) newEvent(s *proxy.Session, question string, dry, extended bool) Event {
	return Event{Start: time.Now(), User: s.User(), Database: s.Database(), Peer: s.Peer(), Question: question, DryRun: dry, Extended: extended}
}

func (h *Handler) observe(ev *Event) {
	ev.Total = time.Since(ev.Start)
	if ev.Err != nil {
		h.log.Info("ASK failed", "peer", ev.Peer, "user", ev.User, "database", ev.Database, "outcome", ev.Outcome, "err", ev.Err)
	} else {
		h.log.Debug("ASK answered", "peer", ev.Peer, "user", ev.User, "database", ev.Database, "sql", ev.SQL, "attempts", ev.Attempts)
	}
	if h.opts.Observe != nil {
		h.opts.Observe(*ev)
	}
}

// dryRunRows is the one-row result of EXPLAIN ASK: a text column "sql".
func dryRunRows(sql string) []pgproto3.BackendMessage {
	return []pgproto3.BackendMessage{
		&pgproto3.RowDescription{Fields: []pgproto3.FieldDescription{{Name: []byte("sql"), DataTypeOID: 25, DataTypeSize: -1, TypeModifier: -1}}},
		&pgproto3.DataRow{Values: [][]byte{[]byte(sql)}},
		&pgproto3.CommandComplete{CommandTag: []byte("SELECT 1")},
	}
}

func pgError(code, msg, detail, hint string) *pgconn.PgError {
	return &pgconn.PgError{Severity: "ERROR", Code: code, Message: msg, Detail: detail, Hint: hint}
}

// SQLSTATEs of failed ASKs.
const (
	codeUnanswerable = "42000" // syntax_error_or_access_rule_violation: the schema cannot answer it
	codeRejected     = "42501" // insufficient_privilege: not a single read-only SELECT
	codeEngine       = "58000" // system_error: the model failed
	codeTimeout      = "57014" // query_canceled: as a statement_timeout
	codeQueueFull    = "53400" // configuration_limit_exceeded: the engine's queue is full
	codeUnavailable  = "58P01" // undefined_file: no model loaded
)

// toPgError maps an ASK failure to the ErrorResponse the client sees.
func toPgError(err error) *pgconn.PgError {
	var pe *pgconn.PgError
	var te *translate.Error
	switch {
	case errors.As(err, &te):
		detail := ""
		if te.SQL != "" {
			detail = "generated SQL: " + te.SQL
		}
		code := codeEngine
		switch te.Kind {
		case translate.ErrUnanswerable:
			code = codeUnanswerable
		case translate.ErrRejected:
			code = codeRejected
		case translate.ErrTimeout:
			code = codeTimeout
		case translate.ErrQueueFull:
			code = codeQueueFull
		case translate.ErrInvalidSQL:
			code = "42601" // syntax_error: the parser refused it, or no SQL came out
			if errors.As(err, &pe) {
				code = pe.Code
			}
		case translate.ErrCheck:
			if errors.As(err, &pe) {
				return pe // the session's own error (aborted transaction, connection, timeout)
			}
		}
		return pgError(code, "pgask: "+te.Error(), detail, te.Hint())
	case errors.As(err, &pe):
		return pe
	case errors.Is(err, context.DeadlineExceeded):
		return pgError(codeTimeout, "pgask: translation timed out", "", "Try a shorter question, or raise ask.generation-timeout.")
	case errors.Is(err, context.Canceled):
		return pgError("57014", "canceling statement due to user request", "", "")
	}
	var ue *UnavailableError
	if errors.As(err, &ue) {
		return pgError(codeUnavailable, "pgask: "+ue.Error(), "", ue.Hint)
	}
	return pgError(codeEngine, "pgask: "+err.Error(), "", "")
}

func outcome(err error) string {
	var te *translate.Error
	var ue *UnavailableError
	var le *limitError
	var ce *checkError
	switch {
	case errors.As(err, &le):
		return le.outcome
	case errors.As(err, &ce):
		return "check_failed"
	case errors.As(err, &ue):
		return "unavailable"
	case errors.As(err, &te):
		switch te.Kind {
		case translate.ErrUnanswerable:
			return "unanswerable"
		case translate.ErrRejected:
			return "rejected"
		case translate.ErrInvalidSQL:
			return "invalid_sql"
		case translate.ErrTimeout:
			return "timeout"
		case translate.ErrQueueFull:
			return "queue_full"
		case translate.ErrCheck:
			return "check_failed"
		}
		return "engine_error"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	}
	return "error"
}

// UnavailableError says why ASK cannot be answered at all (no model), with a hint on how to
// fix it. Use it as Options.Unavailable.
type UnavailableError struct {
	Reason string
	Hint   string
}

func (e *UnavailableError) Error() string { return "ASK is unavailable: " + e.Reason }

// StatementTimeout is Options.StatementTimeout: the proxy applies it to each Bind and Execute
// of a statement an extended-protocol ASK was translated to (proxy.StatementTimeouter).
func (h *Handler) StatementTimeout() time.Duration { return h.opts.StatementTimeout }

// schemaDDL is the schema part of the prompt: the DDL and the values the question mentions,
// those of a look-up included when Options.ValuesLookup is set.
func (h *Handler) schemaDDL(ctx context.Context, s *proxy.Session, sc *introspect.Schema, question string) string {
	if h.opts.ValuesLookup {
		if extra := h.lookupValues(ctx, s, sc, question); len(extra) > 0 {
			return introspect.RenderQuestionWith(sc, question, extra)
		}
	}
	return introspect.RenderQuestion(sc, question)
}

// lookupTimeout bounds a value look-up (lookupValues), within the statement timeout.
const lookupTimeout = "500ms"

// lookupValues looks the question's words up in sc's text columns with pg_trgm's word
// similarity (introspect.NewLookup), as the user, read-only (readOnlyQuery) and within
// lookupTimeout. Without the extension, or when the look-up fails (a column the user may not
// read, the timeout), it finds nothing: the ASK goes on without it.
func (h *Handler) lookupValues(ctx context.Context, s *proxy.Session, sc *introspect.Schema, question string) []introspect.ValueMatch {
	rows, err := s.QueryText(ctx, introspect.TrgmSchemaSQL)
	if err != nil || len(rows) == 0 || len(rows[0]) == 0 || rows[0][0] == nil {
		return nil
	}
	l := introspect.NewLookup(sc, question, string(rows[0][0]))
	if l.SQL == "" {
		return nil
	}
	rows, err = h.readOnlyQuery(ctx, s, "SET LOCAL statement_timeout = '"+lookupTimeout+"';\n"+l.SQL)
	if err != nil {
		s.Logger().Debug("value look-up failed", "err", err)
		return nil
	}
	return l.Matches(rows)
}
