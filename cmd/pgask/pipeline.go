package main

import (
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/pgask/pgask/askservice"
	"github.com/pgask/pgask/config"
	"github.com/pgask/pgask/proxy/ask"
	"github.com/pgask/pgask/translate"
	"github.com/pgask/pgask/translate/llama"
	"github.com/pgask/pgask/translate/openai"
)

// pipeline is the ASK service built from the configuration, with the metrics that record it.
type pipeline struct {
	*askservice.Service
	metrics *metrics
}

// serviceOptions maps the configuration onto the ASK service's options; progress receives a
// model download's progress bar, observe each answered ASK.
func serviceOptions(cfg *config.Config, log *slog.Logger, progress io.Writer, observe func(ask.Event)) (askservice.Options, error) {
	grammar, err := translate.ParseGrammarMode(cfg.Ask.Grammar)
	if err != nil {
		return askservice.Options{}, fmt.Errorf("ask.grammar: %w", err)
	}
	vote, err := ask.ParseVoteMode(cfg.Ask.Vote)
	if err != nil {
		return askservice.Options{}, fmt.Errorf("ask.vote: %w", err)
	}
	engine, err := engineFor(cfg, progress)
	if err != nil {
		return askservice.Options{}, err
	}
	return askservice.Options{
		Engine:            engine,
		Upstream:          cfg.Upstream,
		Template:          cfg.Model.Template,
		Grammar:           grammar,
		MaxTokens:         cfg.Ask.MaxTokens,
		ReasoningBudget:   cfg.Ask.ReasoningBudget,
		MaxRepairs:        cfg.Ask.MaxRepairs,
		GenerationTimeout: cfg.Ask.GenerationTimeout,
		AllowFunctions:    cfg.Ask.AllowFunctions,
		Notice:            cfg.Ask.Notice,
		SchemaBudget:      cfg.Ask.SchemaBudget,
		ExampleBudget:     cfg.Ask.ExampleBudget,
		Values:            cfg.Ask.Values,
		ValuesLookup:      cfg.Ask.ValuesLookup,
		EmptyRepair:       cfg.Ask.EmptyRepair,
		Vote:              vote,
		VoteCandidates:    cfg.Ask.VoteCandidates,
		StatementTimeout:  cfg.Ask.StatementTimeout,
		MaxQuestionLength: cfg.Ask.MaxQuestionLength,
		MaxResultRows:     int64(cfg.Ask.MaxResultRows),
		AuditFile:         cfg.Audit.File,
		Observe:           observe,
		Logger:            log,
	}, nil
}

// engineFor maps engine and its model.* or openai.* keys onto the engine they configure.
func engineFor(cfg *config.Config, progress io.Writer) (askservice.Engine, error) {
	switch cfg.Engine {
	case "llama":
		level := slog.LevelWarn // model.log-level's default
		if cfg.Model.LogLevel != "" {
			if err := level.UnmarshalText([]byte(cfg.Model.LogLevel)); err != nil {
				return nil, fmt.Errorf("model.log-level: %w", err)
			}
		}
		return askservice.Llama{
			Model:    cfg.Model.Path,
			CacheDir: cfg.Model.CacheDir,
			Download: cfg.Model.Download,
			Progress: progress,
			Options: llama.Options{
				GPULayers:   cfg.Model.GPULayers,
				ContextSize: cfg.Model.ContextSize,
				Threads:     cfg.Model.Threads,
				Parallel:    cfg.Model.Parallel,
				QueueDepth:  cfg.Model.QueueDepth,
				LogLevel:    level,
			},
		}, nil
	case "openai":
		return askservice.OpenAI{Config: openai.Config{
			URL:         cfg.OpenAI.URL,
			Model:       cfg.OpenAI.Model,
			APIKey:      cfg.OpenAI.APIKey,
			Timeout:     cfg.OpenAI.Timeout,
			MaxTokens:   cfg.Ask.MaxTokens,
			SendGrammar: cfg.OpenAI.Grammar,
		}}, nil
	}
	return nil, fmt.Errorf("engine: want llama or openai, got %q", cfg.Engine)
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
