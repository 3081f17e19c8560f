package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/pgask/pgask/config"
	"github.com/pgask/pgask/introspect"
	"github.com/pgask/pgask/proxy/ask"
	"github.com/pgask/pgask/translate"
	"github.com/pgask/pgask/translate/llama"
	"github.com/pgask/pgask/translate/models"
)

// pipeline is the ASK machinery built from the configuration: the engine, the translator and
// the schema cache, behind the proxy's interceptor.
type pipeline struct {
	handler *ask.Handler
	model   *llama.Model      // nil unless the in-process engine is loaded
	schemas *introspect.Cache // nil when ASK is unavailable
	// unavailable says why ASK cannot be answered (no model); nil when it can.
	unavailable *ask.UnavailableError
	template    string // the prompt template in use; "" when ASK is unavailable
	metrics     *metrics
	closers     []io.Closer
}

func (p *pipeline) Close() error {
	var errs []error
	for i := len(p.closers) - 1; i >= 0; i-- {
		errs = append(errs, p.closers[i].Close())
	}
	return errors.Join(errs...)
}

// buildPipeline loads the engine the configuration names. When the model cannot be had (not
// downloaded and no network, a bad file), the pipeline still comes up: every ASK answers with
// an error naming the model and how to supply one, and everything else passes through.
func buildPipeline(ctx context.Context, cfg *config.Config, log *slog.Logger, progress io.Writer, observe func(ask.Event)) (*pipeline, error) {
	p := &pipeline{}
	opts := ask.Options{
		Upstream:          cfg.Upstream,
		Notice:            cfg.Ask.Notice,
		SchemaBudget:      cfg.Ask.SchemaBudget,
		StatementTimeout:  cfg.Ask.StatementTimeout,
		MaxQuestionLength: cfg.Ask.MaxQuestionLength,
		MaxResultRows:     int64(cfg.Ask.MaxResultRows),
		Observe:           observe,
		Logger:            log,
	}
	engine, modelID, meta, err := p.engine(ctx, cfg, log, progress)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		log.Error("ASK is unavailable: the model could not be loaded; statements other than ASK pass through", "model", cfg.Model.Path, "err", err)
		p.unavailable = unavailable(cfg, err)
		opts.Unavailable = p.unavailable
		h, herr := ask.New(nil, nil, opts)
		if herr != nil {
			return nil, herr
		}
		p.handler = h
		return p, nil
	}
	tmpl, err := translate.SelectTemplate(cfg.Model.Template, meta)
	if err != nil {
		p.Close()
		return nil, fmt.Errorf("model.template: %w", err)
	}
	grammar := map[string]translate.GrammarMode{"schema": translate.GrammarFull, "narrow": translate.GrammarNarrow, "off": translate.GrammarOff}[cfg.Ask.Grammar]
	tr, err := translate.New(engine, translate.Options{
		Template:        tmpl,
		Model:           modelID,
		Grammar:         grammar,
		MaxTokens:       cfg.Ask.MaxTokens,
		ReasoningBudget: cfg.Ask.ReasoningBudget,
		MaxRepairs:      cfg.Ask.MaxRepairs,
		Timeout:         cfg.Ask.GenerationTimeout,
		AllowFunctions:  allowFunctions(cfg.Ask.AllowFunctions),
	}, log)
	if err != nil {
		p.Close()
		return nil, fmt.Errorf("start translator: %w", err)
	}
	p.template = tmpl.Name
	log.Info("ASK ready", "engine", cfg.Engine, "model", modelID, "template", tmpl.Name, "grammar", cfg.Ask.Grammar)
	p.schemas = introspect.NewCache(introspect.CacheOptions{Logger: log})
	h, err := ask.New(p.schemas, tr, opts)
	if err != nil {
		p.Close()
		return nil, err
	}
	p.handler = h
	return p, nil
}

// engine starts the configured engine and returns it with a model identity (for cache keys)
// and the metadata that selects the prompt template.
func (p *pipeline) engine(ctx context.Context, cfg *config.Config, log *slog.Logger, progress io.Writer) (translate.Engine, string, map[string]string, error) {
	if cfg.Engine == "openai" {
		return newOpenAIEngine(cfg, log)
	}
	path, err := resolveModel(ctx, cfg, log, progress)
	if err != nil {
		return nil, "", nil, err
	}
	level := slog.LevelWarn
	_ = level.UnmarshalText([]byte(cfg.Model.LogLevel))
	m, err := llama.Load(ctx, path, llama.Options{
		GPULayers:   cfg.Model.GPULayers,
		ContextSize: cfg.Model.ContextSize,
		Threads:     cfg.Model.Threads,
		Parallel:    cfg.Model.Parallel,
		QueueDepth:  cfg.Model.QueueDepth,
		LogLevel:    level,
	}, log)
	if err != nil {
		return nil, "", nil, fmt.Errorf("load model %s: %w", path, err)
	}
	p.model = m
	p.closers = append(p.closers, m)
	md := m.Metadata()
	fi, _ := os.Stat(path)
	id := filepath.Base(path)
	if fi != nil {
		id = fmt.Sprintf("%s:%d", id, fi.Size())
	}
	meta := map[string]string{
		"general.architecture":    md.Architecture,
		"general.name":            md.Name,
		"tokenizer.chat_template": md.ChatTemplate,
		"file":                    filepath.Base(path),
	}
	log.Info("model loaded", "path", path, "name", md.Name, "description", md.Description, "context", md.ContextSize)
	return llama.NewEngine(m), id, meta, nil
}

// resolveModel turns model.path into a local file, downloading a known model when allowed.
func resolveModel(ctx context.Context, cfg *config.Config, log *slog.Logger, progress io.Writer) (string, error) {
	ref := cfg.Model.Path
	if fi, err := os.Stat(ref); err == nil && fi.Mode().IsRegular() {
		return ref, nil
	}
	dir := cfg.Model.CacheDir
	if dir == "" {
		d, err := models.DefaultDir()
		if err != nil {
			return "", err
		}
		dir = d
	}
	st := &models.Store{Dir: dir, Logger: log, Progress: progress}
	if !cfg.Model.Download {
		if k, ok := st.Lookup(ref); ok {
			if p := filepath.Join(dir, k.File); fileExists(p) {
				return p, nil
			}
			return "", fmt.Errorf("model %s is not in %s and model.download is off", ref, dir)
		}
	}
	return st.Resolve(ctx, ref)
}

func fileExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

func unavailable(cfg *config.Config, err error) *ask.UnavailableError {
	if cfg.Engine == "openai" {
		return &ask.UnavailableError{Reason: fmt.Sprintf("the OpenAI-compatible engine at %s could not be set up: %v", cfg.OpenAI.URL, err),
			Hint: "Check openai.url and openai.model."}
	}
	ref := cfg.Model.Path
	hint := fmt.Sprintf("Download it with `pgask pull %s` (same model.cache-dir), then start pgask again.", ref)
	if _, known := (&models.Store{}).Lookup(ref); !known && !strings.Contains(ref, "://") {
		hint = fmt.Sprintf("Check that %s exists and is a readable GGUF file, or set model.path (--model) to a known model name (pgask pull --list), then start pgask again.", ref)
	}
	return &ask.UnavailableError{
		Reason: fmt.Sprintf("model %q could not be loaded: %v", ref, firstLine(err.Error())),
		Hint:   hint,
	}
}

// allowFunctions normalises ask.allow-functions: trimmed, lower case, empty entries dropped.
func allowFunctions(names []string) []string {
	var out []string
	for _, n := range names {
		if n = strings.ToLower(strings.TrimSpace(n)); n != "" {
			out = append(out, n)
		}
	}
	return out
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
