// Package askservice builds the ASK service that pgask's commands run: it starts an engine
// (the in-process llama.cpp model, resolved and downloaded when needed; an OpenAI-compatible
// server; or any translate.Engine the caller has), selects the prompt template, and puts the
// translator, the schema cache, the audit log and the caller's observer behind the ask.Handler
// that the proxy takes as its interceptor.
//
// When the engine cannot be started (a model not downloaded and no network, a bad file), New
// still returns a Service: every ASK answers with an error that says why and how to fix it,
// and everything else passes through.
//
// The package changes no process-wide state (default logger, GOMAXPROCS) and reads no
// configuration: callers map theirs onto Options. Where an option corresponds to a key of
// pgask's configuration, its doc names the key, and so do New's errors about it.
package askservice

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/pgask/pgask/introspect"
	"github.com/pgask/pgask/proxy/ask"
	"github.com/pgask/pgask/translate"
)

// Options shape a Service. Only Engine is required.
type Options struct {
	// Engine generates the SQL: Llama, OpenAI or EngineOf, or any other Engine.
	Engine Engine
	// Upstream identifies the PostgreSQL server in schema cache keys (upstream).
	Upstream string

	// Template names the prompt template family (model.template); "" selects it from the
	// engine's model metadata. A name translate does not know is an error.
	Template string
	// Grammar constrains generation (ask.grammar); the zero value is translate.GrammarFull.
	// translate.ParseGrammarMode turns a name into one.
	Grammar translate.GrammarMode
	// MaxTokens bounds the tokens generated per attempt (ask.max-tokens); 0 = 400.
	MaxTokens int
	// ReasoningBudget bounds what a reasoning template may think first
	// (ask.reasoning-budget); 0 = 1024.
	ReasoningBudget int
	// MaxRepairs is how many times a failed check is fed back to the model (ask.max-repairs).
	MaxRepairs int
	// GenerationTimeout bounds one translation, all attempts (ask.generation-timeout); 0 = none.
	GenerationTimeout time.Duration
	// AllowFunctions names functions refused by default that generated SQL may call anyway
	// (ask.allow-functions); case and surrounding spaces do not matter.
	AllowFunctions []string

	// Notice sends the generated SQL to the client as a NOTICE (ask.notice).
	Notice bool
	// SchemaBudget prunes schemas larger than this many tokens (ask.schema-budget); 0 = never.
	SchemaBudget int
	// ExampleBudget is the most tokens of stored pairs (pgask.examples) shown to the model as
	// worked examples (ask.example-budget); 0 = none.
	ExampleBudget int
	// Values shows the database's own values in prompts (ask.values): see introspect.Options.Values
	// and introspect.MatchValues.
	Values bool
	// ValuesLookup looks the question's words up with pg_trgm where it exists
	// (ask.values-lookup): see ask.Options.ValuesLookup.
	ValuesLookup bool
	// EmptyRepair re-prompts once when the SQL returns no rows (ask.empty-repair): see
	// ask.Options.EmptyRepair.
	EmptyRepair bool
	// Vote and VoteCandidates answer by voting by execution (ask.vote, ask.vote-candidates):
	// see ask.Options.Vote.
	Vote           ask.VoteMode
	VoteCandidates int
	// StatementTimeout bounds the generated SQL's run (ask.statement-timeout); 0 = the session's.
	StatementTimeout time.Duration
	// MaxQuestionLength refuses longer questions, in characters (ask.max-question-length);
	// 0 = no limit.
	MaxQuestionLength int
	// MaxResultRows refuses SQL the planner expects to return more rows (ask.max-result-rows);
	// 0 = no limit.
	MaxResultRows int64

	// AuditFile is where a JSON line per ASK is appended (audit.file): "" = nowhere, "stderr",
	// or a file path, created with mode 0600. The Service closes it.
	AuditFile string
	// Observe, when set, is called once per ASK after it is answered (and audited): the hook
	// for metrics.
	Observe func(ask.Event)
	// Logger; nil discards.
	Logger *slog.Logger
}

// Service is the ASK machinery behind the proxy. Its Handler is safe for concurrent use.
type Service struct {
	handler     *ask.Handler
	schemas     *introspect.Cache
	unavailable *ask.UnavailableError
	template    string
	model       string
	stats       func() EngineStats
	closers     []func() error
}

// New starts opts.Engine and builds the Service around it. An invalid option is an error
// naming its key; an engine that fails to start gives a Service whose ASKs answer with the
// failure (see Unavailable). New returns ctx's error when ctx ends while the engine starts.
func New(ctx context.Context, opts Options) (*Service, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.Engine == nil {
		return nil, errors.New("engine: no engine given")
	}
	if !opts.Grammar.Valid() {
		return nil, fmt.Errorf("ask.grammar: unknown grammar mode %s: want schema, narrow or off", opts.Grammar)
	}
	var tmpl *translate.Template
	if opts.Template != "" {
		t, err := translate.SelectTemplate(opts.Template, nil)
		if err != nil {
			return nil, fmt.Errorf("model.template: %w", err)
		}
		tmpl = t
	}
	s := &Service{}
	audit, err := s.openAudit(opts.AuditFile)
	if err != nil {
		return nil, err
	}
	hopts := ask.Options{
		Upstream:          opts.Upstream,
		Notice:            opts.Notice,
		SchemaBudget:      opts.SchemaBudget,
		ExampleBudget:     opts.ExampleBudget,
		AllowFunctions:    normaliseFunctions(opts.AllowFunctions),
		EmptyRepair:       opts.EmptyRepair,
		ValuesLookup:      opts.ValuesLookup,
		Vote:              opts.Vote,
		VoteCandidates:    opts.VoteCandidates,
		StatementTimeout:  opts.StatementTimeout,
		MaxQuestionLength: opts.MaxQuestionLength,
		MaxResultRows:     opts.MaxResultRows,
		Observe:           observers(audit, opts.Observe),
		Logger:            log,
	}

	st, err := opts.Engine.Start(ctx, log)
	if err != nil {
		if ctx.Err() != nil {
			s.Close()
			return nil, ctx.Err()
		}
		log.Error("ASK is unavailable: the model could not be loaded; statements other than ASK pass through", "err", err)
		s.unavailable = unavailable(err)
		hopts.Unavailable = s.unavailable
		if s.handler, err = ask.New(nil, nil, hopts); err != nil {
			s.Close()
			return nil, err
		}
		return s, nil
	}
	if st.Close != nil {
		s.closers = append(s.closers, st.Close)
	}
	if tmpl == nil {
		if tmpl, err = translate.SelectTemplate("", st.Metadata); err != nil {
			s.Close()
			return nil, fmt.Errorf("model.template: %w", err)
		}
	}
	tr, err := translate.New(st.Engine, translate.Options{
		Template:        tmpl,
		Model:           st.Model,
		Grammar:         opts.Grammar,
		MaxTokens:       opts.MaxTokens,
		ReasoningBudget: opts.ReasoningBudget,
		MaxRepairs:      opts.MaxRepairs,
		Timeout:         opts.GenerationTimeout,
		AllowFunctions:  normaliseFunctions(opts.AllowFunctions),
	}, log)
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("start translator: %w", err)
	}
	s.template, s.model, s.stats = tmpl.Name, st.Model, st.Stats
	s.schemas = introspect.NewCache(introspect.CacheOptions{Load: introspect.Options{Values: opts.Values}, Logger: log})
	if s.handler, err = ask.New(s.schemas, tr, hopts); err != nil {
		s.Close()
		return nil, err
	}
	log.Info("ASK ready", "model", st.Model, "template", tmpl.Name, "grammar", opts.Grammar.String())
	return s, nil
}

// Handler answers ASK statements; use it as proxy.Options.Interceptor.
func (s *Service) Handler() *ask.Handler { return s.handler }

// Unavailable says why ASK cannot be answered (the engine did not start); nil when it can.
func (s *Service) Unavailable() *ask.UnavailableError { return s.unavailable }

// Template is the name of the prompt template in use; "" when ASK is unavailable.
func (s *Service) Template() string { return s.template }

// Model is the model's identity in translation cache keys; "" when ASK is unavailable.
func (s *Service) Model() string { return s.model }

// Schemas is the schema cache, for its statistics; nil when ASK is unavailable.
func (s *Service) Schemas() *introspect.Cache { return s.schemas }

// EngineStats reads the engine's queue counters; ok is false when the engine reports none
// (it is not the in-process one, or ASK is unavailable).
func (s *Service) EngineStats() (st EngineStats, ok bool) {
	if s.stats == nil {
		return EngineStats{}, false
	}
	return s.stats(), true
}

// Close releases the engine and closes the audit file.
func (s *Service) Close() error {
	var errs []error
	for i := len(s.closers) - 1; i >= 0; i-- {
		errs = append(errs, s.closers[i]())
	}
	s.closers = nil
	return errors.Join(errs...)
}

// openAudit opens the audit log that file names (see Options.AuditFile); it returns nil when
// there is none.
func (s *Service) openAudit(file string) (func(ask.Event), error) {
	switch file {
	case "":
		return nil, nil
	case "stderr":
		return ask.NewAudit(os.Stderr).Observe, nil
	}
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit.file: %w", err)
	}
	s.closers = append(s.closers, f.Close)
	return ask.NewAudit(f).Observe, nil
}

// observers calls each of fs that is not nil; it is nil when all are.
func observers(fs ...func(ask.Event)) func(ask.Event) {
	var set []func(ask.Event)
	for _, f := range fs {
		if f != nil {
			set = append(set, f)
		}
	}
	if len(set) == 0 {
		return nil
	}
	return func(ev ask.Event) {
		for _, f := range set {
			f(ev)
		}
	}
}

// normaliseFunctions trims and lower-cases function names and drops empty ones.
func normaliseFunctions(names []string) []string {
	var out []string
	for _, n := range names {
		if n = strings.ToLower(strings.TrimSpace(n)); n != "" {
			out = append(out, n)
		}
	}
	return out
}

var _ io.Closer = (*Service)(nil)
