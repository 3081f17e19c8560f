package main

import (
	"log/slog"

	"github.com/pgask/pgask/config"
	"github.com/pgask/pgask/translate"
	"github.com/pgask/pgask/translate/openai"
)

// newOpenAIEngine builds the OpenAI-compatible HTTP engine (vLLM, llama.cpp's server, Ollama).
// The template comes from model.template, or from openai.model's name when that is unset.
func newOpenAIEngine(cfg *config.Config, log *slog.Logger) (translate.Engine, string, map[string]string, error) {
	e, err := openai.New(openai.Config{
		URL:         cfg.OpenAI.URL,
		Model:       cfg.OpenAI.Model,
		APIKey:      cfg.OpenAI.APIKey,
		Timeout:     cfg.OpenAI.Timeout,
		MaxTokens:   cfg.Ask.MaxTokens,
		SendGrammar: cfg.OpenAI.Grammar,
	}, log)
	if err != nil {
		return nil, "", nil, err
	}
	return e, "openai:" + cfg.OpenAI.URL + ":" + cfg.OpenAI.Model, map[string]string{"general.name": cfg.OpenAI.Model}, nil
}
