// Package openai is a translate.Engine over an OpenAI-compatible completions endpoint
// (POST /v1/completions), as served by vLLM, llama.cpp's server and Ollama, for deployments
// whose load outgrows one machine. Decoding is greedy (temperature 0 unless configured).
package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/pgask/pgask/translate"
)

// Config configures an Engine.
type Config struct {
	// URL is the server's base URL ("http://host:8000" or "http://host:8000/v1").
	URL string
	// Model is sent as "model" (vLLM and Ollama need it; llama.cpp's server ignores it).
	Model string
	// APIKey, when set, is sent as a bearer token. The caller reads it from the environment
	// (PGASK_OPENAI_API_KEY); it is never logged.
	APIKey string
	// Timeout bounds one request; 0 means 2 minutes.
	Timeout time.Duration
	// Temperature is 0 (greedy) unless set.
	Temperature float64
	// MaxTokens is used when a request has none; 0 means 400.
	MaxTokens int
	// SendGrammar sends a request's GBNF grammar as "grammar", which llama.cpp's server
	// understands. Leave it off for servers that reject unknown fields or ignore it; the
	// grammar is then dropped (the static and EXPLAIN checks still run).
	SendGrammar bool
	// HTTPClient defaults to a new http.Client.
	HTTPClient *http.Client
}

// Engine generates completions over HTTP. It is safe for concurrent use.
type Engine struct {
	cfg      Config
	endpoint string
	client   *http.Client
	log      *slog.Logger
}

var _ translate.Engine = (*Engine)(nil)

// New returns an Engine for cfg.
func New(cfg Config, logger *slog.Logger) (*Engine, error) {
	base := strings.TrimRight(strings.TrimSpace(cfg.URL), "/")
	if base == "" {
		return nil, errors.New("openai engine: no URL configured")
	}
	if !strings.HasPrefix(base, "http://") && !strings.HasPrefix(base, "https://") {
		return nil, fmt.Errorf("openai engine: URL %q must start with http:// or https://", cfg.URL)
	}
	endpoint := base + "/v1/completions"
	if strings.HasSuffix(base, "/v1") {
		endpoint = base + "/completions"
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 2 * time.Minute
	}
	if cfg.MaxTokens <= 0 {
		cfg.MaxTokens = 400
	}
	client := cfg.HTTPClient
	if client == nil {
		client = &http.Client{}
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Engine{cfg: cfg, endpoint: endpoint, client: client, log: logger}, nil
}

type completionRequest struct {
	Model       string   `json:"model,omitempty"`
	Prompt      string   `json:"prompt"`
	MaxTokens   int      `json:"max_tokens"`
	Temperature float64  `json:"temperature"`
	Stop        []string `json:"stop,omitempty"`
	Seed        uint32   `json:"seed,omitempty"`
	Grammar     string   `json:"grammar,omitempty"`
	Stream      bool     `json:"stream"`
}

type completionResponse struct {
	Choices []struct {
		Text         string `json:"text"`
		FinishReason string `json:"finish_reason"`
	} `json:"choices"`
	Usage struct {
		PromptTokens     int `json:"prompt_tokens"`
		CompletionTokens int `json:"completion_tokens"`
	} `json:"usage"`
}

type errorResponse struct {
	Error json.RawMessage `json:"error"`
}

// Generate sends one completion request. A 429 or 503 answer is marked translate.QueueFull; a
// request that runs past Config.Timeout or ctx's deadline wraps context.DeadlineExceeded.
func (e *Engine) Generate(ctx context.Context, req translate.GenerateRequest) (translate.GenerateResult, error) {
	body := completionRequest{
		Model:       e.cfg.Model,
		Prompt:      req.Prompt,
		MaxTokens:   req.MaxTokens,
		Temperature: e.cfg.Temperature,
		Seed:        req.Seed,
		Stop:        req.Stop,
	}
	if req.Temperature > 0 {
		body.Temperature = float64(req.Temperature)
	}
	if body.MaxTokens <= 0 {
		body.MaxTokens = e.cfg.MaxTokens
	}
	if len(body.Stop) > 4 { // the OpenAI API accepts at most four
		body.Stop = body.Stop[:4]
	}
	if e.cfg.SendGrammar {
		body.Grammar = req.Grammar
	}
	payload, err := json.Marshal(body)
	if err != nil {
		return translate.GenerateResult{}, fmt.Errorf("openai completion: encode request: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
	defer cancel()
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, e.endpoint, bytes.NewReader(payload))
	if err != nil {
		return translate.GenerateResult{}, fmt.Errorf("openai completion: %w", err)
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Accept", "application/json")
	if e.cfg.APIKey != "" {
		hreq.Header.Set("Authorization", "Bearer "+e.cfg.APIKey)
	}
	start := time.Now()
	resp, err := e.client.Do(hreq)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return translate.GenerateResult{}, fmt.Errorf("openai completion at %s: %w", e.endpoint, ctxErr)
		}
		return translate.GenerateResult{}, fmt.Errorf("openai completion: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return translate.GenerateResult{}, fmt.Errorf("openai completion: read answer: %w", ctxErr)
		}
		return translate.GenerateResult{}, fmt.Errorf("openai completion: read answer: %w", err)
	}
	elapsed := time.Since(start)
	if resp.StatusCode != http.StatusOK {
		msg := errorMessage(data)
		e.log.WarnContext(ctx, "openai completion failed", "status", resp.StatusCode, "message", msg)
		if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
			return translate.GenerateResult{}, translate.QueueFull(fmt.Errorf("openai completion: HTTP %d: %s", resp.StatusCode, msg))
		}
		return translate.GenerateResult{}, fmt.Errorf("openai completion: HTTP %d: %s", resp.StatusCode, msg)
	}
	var cr completionResponse
	if err := json.Unmarshal(data, &cr); err != nil {
		return translate.GenerateResult{}, fmt.Errorf("openai completion: decode answer: %w", err)
	}
	if len(cr.Choices) == 0 {
		return translate.GenerateResult{}, errors.New("openai completion: answer has no choices")
	}
	return translate.GenerateResult{
		Text:            cr.Choices[0].Text,
		PromptTokens:    cr.Usage.PromptTokens,
		GeneratedTokens: cr.Usage.CompletionTokens,
		StopReason:      cr.Choices[0].FinishReason,
		Generation:      elapsed,
	}, nil
}

// errorMessage extracts a server's error message: {"error": {"message": …}} (OpenAI, vLLM,
// llama.cpp), {"error": "…"} (Ollama) or the start of the body.
func errorMessage(data []byte) string {
	var er errorResponse
	if json.Unmarshal(data, &er) == nil && len(er.Error) > 0 {
		var s string
		if json.Unmarshal(er.Error, &s) == nil {
			return s
		}
		var obj struct {
			Message string `json:"message"`
		}
		if json.Unmarshal(er.Error, &obj) == nil && obj.Message != "" {
			return obj.Message
		}
	}
	s := strings.TrimSpace(string(data))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	if s == "" {
		s = "empty answer"
	}
	return s
}
