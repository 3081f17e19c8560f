// Package config holds pgask's typed configuration, its defaults and its validation. It is the
// only package that imports viper: values come from a YAML file (--config), PGASK_* environment
// variables and command-line flags, with flags > env > file > defaults.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"time"

	"github.com/pgask/pgask/proxy"
)

// Config is the whole of pgask's configuration.
type Config struct {
	Listen          string        `mapstructure:"listen"`
	Upstream        string        `mapstructure:"upstream"`
	TLSCert         string        `mapstructure:"tls-cert"`
	TLSKey          string        `mapstructure:"tls-key"`
	MaxConnections  int           `mapstructure:"max-connections"`
	RelayThreads    int           `mapstructure:"relay-threads"`
	RelayIOURing    bool          `mapstructure:"relay-io-uring"`
	MaxMessageSize  ByteSize      `mapstructure:"max-message-size"`
	StartupTimeout  time.Duration `mapstructure:"startup-timeout"`
	IdleTimeout     time.Duration `mapstructure:"idle-timeout"`
	ConnectTimeout  time.Duration `mapstructure:"connect-timeout"`
	ShutdownTimeout time.Duration `mapstructure:"shutdown-timeout"`
	LogLevel        string        `mapstructure:"log-level"`
	LogFormat       string        `mapstructure:"log-format"`
	MetricsListen   string        `mapstructure:"metrics-listen"`

	Engine string       `mapstructure:"engine"`
	Model  ModelConfig  `mapstructure:"model"`
	OpenAI OpenAIConfig `mapstructure:"openai"`
	Ask    AskConfig    `mapstructure:"ask"`
	Audit  AuditConfig  `mapstructure:"audit"`
}

// AuditConfig configures the audit log of ASK statements (JSON lines).
type AuditConfig struct {
	File string `mapstructure:"file"` // "" = off, "stderr", or a file path (appended to)
}

// ModelConfig configures the in-process llama.cpp engine.
type ModelConfig struct {
	Path        string `mapstructure:"path"` // a file path, a known model name or a URL
	CacheDir    string `mapstructure:"cache-dir"`
	Template    string `mapstructure:"template"` // prompt template family; "" = from GGUF metadata
	GPULayers   int    `mapstructure:"gpu-layers"`
	Threads     int    `mapstructure:"threads"`
	ContextSize int    `mapstructure:"context-size"`
	Parallel    int    `mapstructure:"parallel"`
	QueueDepth  int    `mapstructure:"queue-depth"`
	LogLevel    string `mapstructure:"log-level"`
	Download    bool   `mapstructure:"download"`
}

// OpenAIConfig configures the OpenAI-compatible HTTP engine. The API key is read from
// PGASK_OPENAI_API_KEY only, never from a file or a flag.
type OpenAIConfig struct {
	URL     string        `mapstructure:"url"`
	Model   string        `mapstructure:"model"`
	Timeout time.Duration `mapstructure:"timeout"`
	Grammar bool          `mapstructure:"grammar"`
	APIKey  string        `mapstructure:"-"`
}

// AskConfig configures how ASK statements are translated and run.
type AskConfig struct {
	Notice            bool          `mapstructure:"notice"`
	Grammar           string        `mapstructure:"grammar"`
	MaxRepairs        int           `mapstructure:"max-repairs"`
	MaxTokens         int           `mapstructure:"max-tokens"`
	ReasoningBudget   int           `mapstructure:"reasoning-budget"`
	AllowFunctions    []string      `mapstructure:"allow-functions"`
	MaxQuestionLength int           `mapstructure:"max-question-length"`
	MaxResultRows     int           `mapstructure:"max-result-rows"`
	SchemaBudget      int           `mapstructure:"schema-budget"`
	ExampleBudget     int           `mapstructure:"example-budget"`
	Values            bool          `mapstructure:"values"`
	ValuesLookup      bool          `mapstructure:"values-lookup"`
	EmptyRepair       bool          `mapstructure:"empty-repair"`
	Vote              string        `mapstructure:"vote"`
	VoteCandidates    int           `mapstructure:"vote-candidates"`
	GenerationTimeout time.Duration `mapstructure:"generation-timeout"`
	StatementTimeout  time.Duration `mapstructure:"statement-timeout"`
}

// Validate checks the configuration; each error names the offending key.
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		bad("listen", "want host:port, got %q: %v", c.Listen, err)
	}
	if c.MetricsListen != "" {
		if _, _, err := net.SplitHostPort(c.MetricsListen); err != nil {
			bad("metrics-listen", "want host:port, got %q: %v", c.MetricsListen, err)
		}
	}
	if c.Upstream == "" {
		bad("upstream", "required (a postgres:// URL or host:port)")
	} else if _, err := proxy.ParseUpstream(c.Upstream); err != nil {
		// The proxy's own parser: what it refuses, serve refuses, and nothing else.
		bad("upstream", "%v", err)
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		bad("tls-cert", "tls-cert and tls-key must be given together")
	}
	for key, p := range map[string]string{"tls-cert": c.TLSCert, "tls-key": c.TLSKey} {
		if p != "" {
			if _, err := os.Stat(p); err != nil {
				bad(key, "%v", err)
			}
		}
	}
	if c.RelayThreads < 0 || c.RelayThreads > 64 {
		bad("relay-threads", "must be between 0 and 64, got %d", c.RelayThreads)
	}
	if c.MaxConnections < 1 {
		bad("max-connections", "must be at least 1, got %d", c.MaxConnections)
	}
	for key, d := range map[string]time.Duration{
		"startup-timeout": c.StartupTimeout, "connect-timeout": c.ConnectTimeout,
		"shutdown-timeout": c.ShutdownTimeout, "openai.timeout": c.OpenAI.Timeout, "idle-timeout": c.IdleTimeout,
		"ask.generation-timeout": c.Ask.GenerationTimeout, "ask.statement-timeout": c.Ask.StatementTimeout,
	} {
		if d < 0 {
			bad(key, "must not be negative, got %s", d)
		}
	}
	if !oneOf(c.LogLevel, "debug", "info", "warn", "error") {
		bad("log-level", "want debug, info, warn or error, got %q", c.LogLevel)
	}
	if !oneOf(c.Model.LogLevel, "debug", "info", "warn", "error") {
		bad("model.log-level", "want debug, info, warn or error, got %q", c.Model.LogLevel)
	}
	if !oneOf(c.LogFormat, "text", "json") {
		bad("log-format", "want text or json, got %q", c.LogFormat)
	}
	switch c.Engine {
	case "llama":
		if c.Model.Threads < 0 {
			bad("model.threads", "must not be negative (0 = cores-1), got %d", c.Model.Threads)
		}
		if c.Model.Parallel < 1 {
			bad("model.parallel", "must be at least 1, got %d", c.Model.Parallel)
		}
		if c.Model.QueueDepth < 1 {
			bad("model.queue-depth", "must be at least 1, got %d", c.Model.QueueDepth)
		}
		if c.Model.ContextSize < 0 {
			bad("model.context-size", "must not be negative (0 = from the model), got %d", c.Model.ContextSize)
		}
	case "openai":
		if c.OpenAI.URL == "" {
			bad("openai.url", "required when engine is openai")
		} else if u, err := url.Parse(c.OpenAI.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("openai.url", "want an http(s) URL, got %q", c.OpenAI.URL)
		}
	default:
		bad("engine", "want llama or openai, got %q", c.Engine)
	}
	if !oneOf(c.Ask.Grammar, "schema", "narrow", "off") {
		bad("ask.grammar", "want schema, narrow or off, got %q", c.Ask.Grammar)
	}
	if c.Ask.MaxRepairs < 0 {
		bad("ask.max-repairs", "must not be negative, got %d", c.Ask.MaxRepairs)
	}
	if c.Ask.MaxTokens < 1 {
		bad("ask.max-tokens", "must be at least 1, got %d", c.Ask.MaxTokens)
	}
	if c.Ask.ReasoningBudget < 1 {
		bad("ask.reasoning-budget", "must be at least 1, got %d", c.Ask.ReasoningBudget)
	}
	if c.MaxMessageSize < 1<<10 || c.MaxMessageSize > 1<<30 {
		bad("max-message-size", "want 1kB to 1GB (PostgreSQL's own limit), got %s", c.MaxMessageSize)
	}
	if c.Ask.MaxQuestionLength < 1 {
		bad("ask.max-question-length", "must be at least 1, got %d", c.Ask.MaxQuestionLength)
	}
	if c.Ask.MaxResultRows < 0 {
		bad("ask.max-result-rows", "must not be negative (0 = no limit), got %d", c.Ask.MaxResultRows)
	}
	if c.Ask.ExampleBudget < 0 {
		bad("ask.example-budget", "must not be negative (0 = no worked examples), got %d", c.Ask.ExampleBudget)
	}
	switch c.Ask.Vote {
	case "off", "always", "fallback":
	default:
		bad("ask.vote", "want off, always or fallback, got %q", c.Ask.Vote)
	}
	if c.Ask.VoteCandidates < 0 {
		bad("ask.vote-candidates", "must not be negative, got %d", c.Ask.VoteCandidates)
	}
	if c.Ask.SchemaBudget < 0 {
		bad("ask.schema-budget", "must not be negative (0 = no pruning), got %d", c.Ask.SchemaBudget)
	}
	return errors.Join(errs...)
}

func oneOf(s string, options ...string) bool {
	for _, o := range options {
		if s == o {
			return true
		}
	}
	return false
}
