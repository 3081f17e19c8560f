package translate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/pgask/pgask/introspect"
)

// Checker checks generated SQL against the live database, typically by running EXPLAIN on the
// client's own session. An error that carries a SQLSTATE (has a `SQLState() string` method, as
// *pgconn.PgError does) of a class the model can fix — anything but connection (08),
// transaction state (25), authorization (28), resources (53), operator intervention (57),
// system (58) and internal (XX) errors — is fed back to the model for a repair. Any other error
// ends the translation with ErrCheck wrapping it.
type Checker interface {
	Explain(ctx context.Context, sql string) error
}

// repairable reports whether a Checker error is about the SQL itself.
func repairable(err error) bool {
	var st interface{ SQLState() string }
	if !errors.As(err, &st) {
		return false
	}
	code := st.SQLState()
	if len(code) != 5 {
		return false
	}
	switch code[:2] {
	case "08", "25", "28", "53", "57", "58", "XX":
		return false
	}
	return true
}

// GrammarMode selects the constraint put on generation.
type GrammarMode int

const (
	GrammarFull   GrammarMode = iota // SchemaGrammar: a SELECT subset over the schema's names (default)
	GrammarOff                       // unconstrained
	GrammarNarrow                    // NarrowGrammar: SELECT <cols> FROM <table> [WHERE …] [LIMIT n];
)

// grammarModeNames are the names ParseGrammarMode takes and String gives, in the order listed
// in errors.
var grammarModeNames = []struct {
	name string
	mode GrammarMode
}{{"schema", GrammarFull}, {"narrow", GrammarNarrow}, {"off", GrammarOff}}

// ParseGrammarMode returns the mode a name gives: "schema" (GrammarFull), "narrow" or "off".
// Any other name is an error; there is no default.
func ParseGrammarMode(name string) (GrammarMode, error) {
	for _, n := range grammarModeNames {
		if n.name == name {
			return n.mode, nil
		}
	}
	return 0, fmt.Errorf("unknown grammar mode %q: want schema, narrow or off", name)
}

// Valid reports whether m is one of the modes above.
func (m GrammarMode) Valid() bool { return m == GrammarFull || m == GrammarOff || m == GrammarNarrow }

// String is the name ParseGrammarMode takes for m ("schema", "narrow", "off").
func (m GrammarMode) String() string {
	for _, n := range grammarModeNames {
		if n.mode == m {
			return n.name
		}
	}
	return fmt.Sprintf("GrammarMode(%d)", int(m))
}

// Options configure a Translator. The zero value of every field but Template is usable.
type Options struct {
	Template       *Template     // prompt family; required
	Model          string        // model identity, part of the cache key (e.g. file name + size)
	Grammar        GrammarMode   // default GrammarFull
	MaxTokens      int           // new tokens per generation; default 400
	MaxRepairs     int           // re-prompts after a failed check; 0 = none
	Timeout        time.Duration // per translation (all attempts); 0 = only the caller's ctx
	CacheSize      int           // translations kept; 0 = 256, negative = no cache
	AllowFunctions []string      // denied functions to allow anyway (e.g. "pg_sleep")
	Instructions   []string      // extra prompt instructions
	// ReasoningBudget caps the tokens a reasoning template (Template.Reasoning) may think
	// before it must answer; default 1024. The answer then gets MaxTokens more.
	ReasoningBudget int
	// Chat formats the prompts of chat templates; nil: the engine when it is a ChatFormatter,
	// else FormatChatML.
	Chat ChatFormatter
}

// Request is one question.
type Request struct {
	Question  string
	Schema    *introspect.Schema // for the grammar and the cache key; nil or empty: no grammar
	SchemaDDL string             // the (pruned) schema rendered as DDL for the prompt
	// SchemaKey, when set, stands for Schema and SchemaDDL in the cache key: the caller vouches
	// that equal keys (with equal questions) mean equal Schema and SchemaDDL, e.g. the
	// introspect.Cache's fingerprint of the full schema and the pruning budget. Empty: the key
	// hashes Schema and SchemaDDL (SchemaFingerprint).
	SchemaKey string
	Checker   Checker // nil skips the EXPLAIN check
	// Examples and FollowUp go into the prompt (PromptData) and into the cache key, so that a
	// change of the pairs shown, or of the question followed up, gives a new translation.
	Examples []Example
	FollowUp *Example
	// Feedback, when set, is an earlier answer to the question and what was wrong with it,
	// shown to the model as a repair prompt shows a failed check (PromptData.PreviousSQL and
	// Error); an answer repeating that SQL is resampled as a repeated failed one is.
	Feedback *Feedback
}

// Feedback is an earlier answer and its problem, in words for the model.
type Feedback struct {
	SQL, Problem string
}

// Result is a translation.
type Result struct {
	SQL             string // one SELECT, without a trailing ';'
	Attempts        int    // generations made (1 + repairs); 0 when cached
	Cached          bool
	PromptTokens    int // summed over attempts
	ReusedTokens    int // prompt tokens served from the engine's KV cache, summed
	GeneratedTokens int
	GrammarFallback int // engine steps where the grammar overruled the sampled token, summed
	Timings         Timings
}

// Timings break a translation down, summed over attempts.
type Timings struct {
	Grammar  time.Duration // building the grammar (0 when cached)
	Render   time.Duration // rendering prompts
	Generate time.Duration // engine calls, as measured here (includes the three below)
	// As the engine reports them (0 when it does not):
	QueueWait  time.Duration
	PromptEval time.Duration
	Generation time.Duration
	Check      time.Duration // static checks and Checker.Explain
	Total      time.Duration
}

// Translator turns questions into SQL. It is safe for concurrent use.
type Translator struct {
	engine   Engine
	opts     Options
	log      *slog.Logger
	cache    *lru[string]
	grammars *lru[string]

	mu       sync.Mutex
	inflight map[string]*flight // translations running, by cache key
}

// flight is a running translation that identical concurrent requests wait for.
type flight struct {
	done chan struct{}
	res  Result
	err  error
}

// New returns a Translator over engine.
func New(engine Engine, opts Options, logger *slog.Logger) (*Translator, error) {
	if engine == nil {
		return nil, errors.New("translate: nil engine")
	}
	if opts.Template == nil {
		return nil, errors.New("translate: Options.Template is required")
	}
	if opts.MaxTokens <= 0 {
		opts.MaxTokens = 400
	}
	if opts.MaxRepairs < 0 {
		opts.MaxRepairs = 0
	}
	if opts.CacheSize == 0 {
		opts.CacheSize = 256
	}
	if opts.ReasoningBudget <= 0 {
		opts.ReasoningBudget = 1024
	}
	if opts.Chat == nil {
		if cf, ok := engine.(ChatFormatter); ok {
			opts.Chat = cf
		} else {
			opts.Chat = chatMLFormatter{}
		}
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Translator{
		engine:   engine,
		opts:     opts,
		log:      logger,
		cache:    newLRU[string](opts.CacheSize),
		grammars: newLRU[string](16),
		inflight: map[string]*flight{},
	}, nil
}

// Translate turns req.Question into one checked SQL statement. Errors other than the
// caller's context errors are *Error values wrapping one of the sentinel kinds.
func (t *Translator) Translate(ctx context.Context, req Request) (Result, error) {
	start := time.Now()
	question := strings.TrimSpace(neutraliseSpecialTokens(req.Question))
	if question == "" {
		return Result{}, newError(ErrUnanswerable, 0, "", nil, "the question is empty")
	}
	fp := req.SchemaKey
	if fp == "" {
		fp = SchemaFingerprint(req.Schema, req.SchemaDDL)
	}
	key := strings.Join([]string{t.opts.Model, t.opts.Template.Name, fmt.Sprint(int(t.opts.Grammar)), fp, question, contextKey(req)}, "\x00")
	if fb := req.Feedback; fb != nil {
		key += "\x00feedback\x00" + fb.SQL + "\x00" + fb.Problem
	}
	for {
		if sql, ok := t.cache.get(key); ok {
			return Result{SQL: sql, Cached: true, Timings: Timings{Total: time.Since(start)}}, nil
		}
		t.mu.Lock()
		f := t.inflight[key]
		if f == nil {
			// Lead: translate, then hand the outcome to those who waited.
			f = &flight{done: make(chan struct{})}
			t.inflight[key] = f
			t.mu.Unlock()
			f.res, f.err = t.translate(ctx, start, key, fp, question, req)
			t.mu.Lock()
			delete(t.inflight, key)
			t.mu.Unlock()
			close(f.done)
			return f.res, f.err
		}
		t.mu.Unlock()
		// The same question on the same schema is being translated: wait for it, so that
		// both get the same SQL and the engine works once.
		select {
		case <-f.done:
			var te *Error
			if f.err == nil {
				return Result{SQL: f.res.SQL, Cached: true, Timings: Timings{Total: time.Since(start)}}, nil
			}
			if errors.As(f.err, &te) && te.Kind != ErrTimeout {
				return Result{}, f.err
			}
			// The leader was cancelled or timed out on its own deadline: try again.
		case <-ctx.Done():
			return Result{}, t.engineError(ctx, 0, ctx.Err())
		}
	}
}

// translate runs the prompt → generate → extract → check → repair loop.
func (t *Translator) translate(ctx context.Context, start time.Time, key, fp, question string, req Request) (Result, error) {
	if t.opts.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t.opts.Timeout)
		defer cancel()
	}

	var res Result
	grammar := t.grammar(fp, req.Schema, &res.Timings)
	data := PromptData{Question: question, Schema: req.SchemaDDL, Instructions: t.opts.Instructions,
		Examples: neutraliseExamples(req.Examples), FollowUp: neutraliseFollowUp(req.FollowUp)}
	if t.opts.Template.SchemaFormat == SchemaMSchema && req.Schema != nil {
		data.Schema = introspect.RenderMSchema(req.Schema)
	}
	failed := map[string]bool{} // SQL that failed its checks in an earlier attempt
	if fb := req.Feedback; fb != nil {
		data.PreviousSQL, data.Error = fb.SQL, fb.Problem
		failed[fb.SQL] = true
	}
	for attempt := 0; attempt <= t.opts.MaxRepairs; attempt++ {
		res.Attempts = attempt + 1
		t0 := time.Now()
		prompt, err := t.prompt(data)
		res.Timings.Render += time.Since(t0)
		if err != nil {
			return res, newError(ErrEngine, res.Attempts, "", err, "render prompt")
		}

		gen, err := t.generate(ctx, prompt, grammar, 0, &res)
		if err != nil {
			return res, t.engineError(ctx, res.Attempts, err)
		}
		t.log.DebugContext(ctx, "translate: generated", "attempt", res.Attempts, "tokens", gen.GeneratedTokens,
			"stop", gen.StopReason, "text", gen.Text)

		sql, err := t.extract(gen.Text)
		if err == nil && failed[sql] {
			// The repair prompt gave back SQL that already failed (greedy decoding of a small
			// model often ignores the error): that answer is certainly wrong, so sample another
			// one, seeded by the attempt so that the same question gets the same SQL.
			gen, err = t.generate(ctx, prompt, grammar, uint32(max(attempt, 1)), &res) // seed 0 is greedy
			if err != nil {
				return res, t.engineError(ctx, res.Attempts, err)
			}
			t.log.DebugContext(ctx, "translate: resampled a repeated answer", "attempt", res.Attempts, "text", gen.Text)
			sql, err = t.extract(gen.Text)
		}
		if errors.Is(err, ErrUnanswerable) {
			return res, newError(ErrUnanswerable, res.Attempts, "", nil, "the model answered %q", strings.TrimSpace(firstLine(gen.Text)))
		}
		var problem error
		t0 = time.Now()
		switch {
		case err != nil:
			problem = err
		default:
			problem = CheckStatic(sql, t.opts.AllowFunctions)
			if isUnsafe(problem) {
				res.Timings.Check += time.Since(t0)
				return res, newError(ErrRejected, res.Attempts, sql, problem, "%s", sql)
			}
			if problem == nil && req.Checker != nil {
				problem = req.Checker.Explain(ctx, sql)
				if ctx.Err() != nil {
					res.Timings.Check += time.Since(t0)
					return res, t.engineError(ctx, res.Attempts, ctx.Err())
				}
				if problem != nil && !repairable(problem) {
					res.Timings.Check += time.Since(t0)
					return res, newError(ErrCheck, res.Attempts, sql, problem, "")
				}
			}
		}
		res.Timings.Check += time.Since(t0)
		if problem == nil {
			res.SQL = sql
			res.Timings.Total = time.Since(start)
			t.cache.put(key, sql)
			return res, nil
		}
		t.log.InfoContext(ctx, "translate: generated SQL failed its check", "attempt", res.Attempts, "sql", sql, "err", problem)
		failed[sql] = true
		if attempt == t.opts.MaxRepairs {
			return res, newError(ErrInvalidSQL, res.Attempts, sql, problem, "after %d attempt(s)", res.Attempts)
		}
		data.PreviousSQL = sql
		if sql == "" {
			data.PreviousSQL = strings.TrimSpace(gen.Text)
		}
		data.Error = problem.Error()
	}
	panic("unreachable")
}

// repairTemperature is the sampling temperature of a repair whose greedy answer repeated SQL
// that had already failed.
const repairTemperature = 0.8

// prompt renders the prompt text of one attempt.
func (t *Translator) prompt(data PromptData) (string, error) {
	tm := t.opts.Template
	if !tm.IsChat() {
		return tm.Render(data)
	}
	chat, err := tm.RenderChat(data)
	if err != nil {
		return "", err
	}
	text, err := t.opts.Chat.FormatChat(chat.Messages)
	if err != nil {
		return "", fmt.Errorf("render prompt %s: %w", tm.Name, err)
	}
	return text + chat.Prefill, nil
}

// generate runs the engine on prompt and adds what it cost to res. seed > 0 samples
// (temperature repairTemperature) instead of decoding greedily.
//
// A template with a grammar trigger (models that reason before they answer) generates in two
// phases: free text, within Options.ReasoningBudget, until the answer's block opens (the trigger
// is the stop string); then the SQL under the grammar, after the prompt and that text. The second
// phase reuses the first's KV cache, so it costs only its own tokens. When the budget ends first,
// the reasoning is closed and the answer forced open. (llama.cpp's own lazy grammar does the same
// in one pass, but it matches a regular expression over the whole output at every token, and
// text after the trigger that the grammar refuses makes it throw a C++ exception through its C
// API, which ends the process.)
func (t *Translator) generate(ctx context.Context, prompt, grammar string, seed uint32, res *Result) (GenerateResult, error) {
	tm := t.opts.Template
	req := GenerateRequest{Prompt: prompt, Grammar: grammar, MaxTokens: t.opts.MaxTokens, Stop: tm.Stop}
	if seed > 0 {
		req.Temperature, req.Seed = repairTemperature, seed
	}
	if tm.GrammarTrigger == "" {
		return t.generateOnce(ctx, req, res)
	}
	free := req
	free.Grammar, free.Stop, free.MaxTokens = "", []string{tm.GrammarTrigger}, t.opts.ReasoningBudget
	gen, err := t.generateOnce(ctx, free, res)
	if err != nil {
		return gen, err
	}
	var prefill string
	switch gen.StopReason {
	case "stop": // the answer's block opened
		prefill = gen.Text + tm.GrammarTrigger
	case "eos": // the model ended its turn without an answer block ("I do not know")
		return gen, nil
	default: // out of budget
		opening := "\n"
		if tm.Reasoning {
			opening = "\n</think>\n<answer>\n"
		}
		prefill = strings.TrimRight(gen.Text, " \n") + opening + tm.GrammarTrigger
	}
	ans := req
	ans.Prompt, ans.Stop = prompt+prefill, append([]string{"```"}, tm.Stop...)
	gen, err = t.generateOnce(ctx, ans, res)
	gen.Text = prefill + gen.Text + "\n```"
	return gen, err
}

func (t *Translator) generateOnce(ctx context.Context, req GenerateRequest, res *Result) (GenerateResult, error) {
	t0 := time.Now()
	gen, err := t.engine.Generate(ctx, req)
	res.Timings.Generate += time.Since(t0)
	res.PromptTokens += gen.PromptTokens
	res.ReusedTokens += gen.ReusedTokens
	res.GeneratedTokens += gen.GeneratedTokens
	res.GrammarFallback += gen.GrammarFallback
	res.Timings.QueueWait += gen.QueueWait
	res.Timings.PromptEval += gen.PromptEval
	res.Timings.Generation += gen.Generation
	return gen, err
}

// extract takes the SQL out of a completion as the template's answer mode says.
func (t *Translator) extract(text string) (string, error) {
	if t.opts.Template.Answer == AnswerLastFence {
		return ExtractLastFence(text)
	}
	return Extract(text)
}

// chatMLFormatter is the ChatFormatter of engines that do not format chats themselves.
type chatMLFormatter struct{}

func (chatMLFormatter) FormatChat(msgs []ChatMessage) (string, error) { return FormatChatML(msgs) }

// engineError classifies a failed generation or check.
func (t *Translator) engineError(ctx context.Context, attempts int, err error) error {
	switch {
	case errors.Is(err, ErrQueueFull):
		return newError(ErrQueueFull, attempts, "", err, "")
	case errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded):
		return newError(ErrTimeout, attempts, "", err, "")
	case errors.Is(err, context.Canceled) && ctx.Err() != nil:
		return fmt.Errorf("translate: %w", ctx.Err())
	}
	return newError(ErrEngine, attempts, "", err, "")
}

// grammar returns the grammar for s in the configured mode, "" for none.
func (t *Translator) grammar(fp string, s *introspect.Schema, tm *Timings) string {
	if t.opts.Grammar == GrammarOff {
		return ""
	}
	if s == nil || len(s.Tables) == 0 {
		// Nothing to constrain names to (an empty database): generate freely; the model
		// will most likely answer "I do not know".
		t.log.Debug("translate: no tables in the schema, generating without a grammar")
		return ""
	}
	key := fmt.Sprint(int(t.opts.Grammar)) + fp
	if g, ok := t.grammars.get(key); ok {
		return g
	}
	t0 := time.Now()
	var g string
	if t.opts.Grammar == GrammarNarrow {
		g = NarrowGrammar(s)
	} else {
		g = SchemaGrammar(s)
	}
	tm.Grammar = time.Since(t0)
	t.grammars.put(key, g)
	return g
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// specialToken matches text that a model's tokenizer turns into a control token (<s>, </s>,
// <|eot_id|>, [INST] …): a question must not be able to end the user turn and write the
// assistant's part of the prompt itself.
var specialToken = regexp.MustCompile(`(?i)</?s>|<\|[a-z0-9_]*\|>|\[/?(inst|sql|question)\]|<<sys>>|<</sys>>`)

// contextKey is the part of a cache key that stands for the examples and the question
// followed up: their texts, separated by bytes no question or SQL the key is built from holds
// in that position (lengths prefix each text).
func contextKey(req Request) string {
	var b strings.Builder
	add := func(s string) { fmt.Fprintf(&b, "%d:%s", len(s), s) }
	for _, e := range req.Examples {
		b.WriteByte('e')
		add(e.Question)
		add(e.SQL)
	}
	if f := req.FollowUp; f != nil {
		b.WriteByte('f')
		add(f.Question)
		add(f.SQL)
	}
	return b.String()
}

// neutraliseExamples drops control-token text from the examples' questions and SQL: pairs
// are written by users, and must not be able to end a prompt's turn any more than a question.
func neutraliseExamples(ex []Example) []Example {
	if len(ex) == 0 {
		return nil
	}
	out := make([]Example, len(ex))
	for i, e := range ex {
		out[i] = Example{Question: strings.TrimSpace(neutraliseSpecialTokens(e.Question)), SQL: strings.TrimSpace(neutraliseSpecialTokens(e.SQL))}
	}
	return out
}

func neutraliseFollowUp(f *Example) *Example {
	if f == nil {
		return nil
	}
	return &neutraliseExamples([]Example{*f})[0]
}

// neutraliseSpecialTokens drops control-token text from a question.
func neutraliseSpecialTokens(q string) string {
	return specialToken.ReplaceAllString(q, " ")
}
