package config

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/pgask/pgask/proxy"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"
)

// Key describes one configuration key: its name in the file, its flag, its default and its help.
type Key struct {
	Name    string // file key, dotted for nested sections ("openai.url")
	Flag    string // command-line flag without dashes; "" when the key has none
	Default any
	Help    string
}

// Env is the environment variable that sets the key.
func (k Key) Env() string {
	return "PGASK_" + strings.NewReplacer(".", "_", "-", "_").Replace(strings.ToUpper(k.Name))
}

// Keys lists every configuration key. The docs, the flags and the defaults all come from here.
var keys = []Key{
	{"listen", "listen", "127.0.0.1:6432", "address clients connect to (host:port)"},
	{"upstream", "upstream", "", "PostgreSQL server: postgres://host:port/?sslmode=…&sslrootcert=… or host:port; user and database come from each client"},
	{"tls-cert", "tls-cert", "", "PEM certificate for client-side TLS (clients' SSLRequest answered 'S')"},
	{"tls-key", "tls-key", "", "PEM private key for tls-cert"},
	{"max-connections", "max-connections", 100, "client connections served at once; more get SQLSTATE 53300"},
	{"max-message-size", "max-message-size", ByteSize(256 << 20), "largest protocol message a client may send (kB, MB, GB); a larger one ends that session with SQLSTATE 54000"},
	{"relay-threads", "relay-threads", proxy.DefaultRelayThreads, "OS threads relaying plain-TCP sessions with epoll, as PgBouncer does (Linux); TLS and ASK sessions use goroutines; 0 = goroutines for every session"},
	{"relay-io-uring", "relay-io-uring", true, "relay threads batch their reads and writes through io_uring where the kernel offers it (Linux 6.1+, not disabled by sysctl or seccomp); false = one read(2)/write(2) per socket"},
	{"startup-timeout", "startup-timeout", proxy.DefaultStartupTimeout, "time a client has to finish its startup and authentication"},
	{"idle-timeout", "idle-timeout", time.Duration(0), "close client sessions that send nothing for this long while no query runs (SQLSTATE 57P05); 0 = never, as PostgreSQL's idle_session_timeout"},
	{"connect-timeout", "connect-timeout", proxy.DefaultConnectTimeout, "time to connect to the upstream server"},
	{"shutdown-timeout", "shutdown-timeout", proxy.DefaultShutdownTimeout, "on SIGTERM, how long open sessions may finish before they are closed"},
	{"log-level", "log-level", "info", "debug, info, warn or error"},
	{"log-format", "log-format", "text", "text or json (logs go to stderr)"},
	{"metrics-listen", "metrics-listen", "", "address of the HTTP listener for /metrics (Prometheus), /healthz and /readyz; empty = off"},
	{"engine", "engine", "llama", "llama (in-process llama.cpp) or openai (an OpenAI-compatible /v1/completions server)"},
	{"model.path", "model", "sqlcoder-7b-2", "GGUF file path, known model name (pgask pull --list) or URL"},
	{"model.cache-dir", "model-cache-dir", "", "where downloaded models live (default $XDG_CACHE_HOME/pgask/models)"},
	{"model.download", "model-download", true, "download a known model at start when it is missing"},
	{"model.template", "template", "", "prompt template family (sqlcoder-7b-2, sqlcoder-34b, llama-3-sqlcoder-8b, arctic-text2sql-r1, omnisql, xiyan, instruct); empty = from the GGUF metadata (a known family by name, else instruct for a model with a chat template, else sqlcoder-7b-2)"},
	{"model.gpu-layers", "gpu-layers", 999, "layers offloaded to a GPU when one is present (0 = CPU only)"},
	{"model.threads", "threads", 0, "CPU threads for generation (0 = cores-1, at least 1)"},
	{"model.context-size", "context-size", 4096, "context window in tokens (0 = the model's training context, at most 4096)"},
	{"model.parallel", "parallel", 1, "llama contexts generating at once"},
	{"model.queue-depth", "queue-depth", 16, "ASKs waiting for the engine before new ones are refused (SQLSTATE 53400)"},
	{"model.log-level", "model-log-level", "warn", "level at which llama.cpp's own log is passed to pgask's log"},
	{"openai.url", "openai-url", "", "base URL of an OpenAI-compatible server (engine: openai), e.g. http://127.0.0.1:8000"},
	{"openai.model", "openai-model", "", "model name sent to the OpenAI-compatible server"},
	{"openai.timeout", "openai-timeout", 120 * time.Second, "HTTP timeout of one completion request"},
	{"openai.grammar", "openai-grammar", false, "send the GBNF grammar as \"grammar\" (llama.cpp's server understands it; vLLM and Ollama do not)"},
	{"audit.file", "audit-file", "", "audit log of every ASK as JSON lines (user, database, client, question, SQL, outcome, timings; never row data): a file path, stderr, or empty for none"},
	{"ask.notice", "ask-notice", true, "send the generated SQL to the client as a NOTICE"},
	{"ask.grammar", "ask-grammar", "schema", "grammar constraining generation: schema (a SELECT subset over the live schema's names), narrow (SELECT cols FROM table [WHERE …], for tiny test models) or off"},
	{"ask.allow-functions", "ask-allow-functions", []string{}, "functions refused in generated SQL by default (pg_sleep, pg_read_file, dblink, set_config, nextval, pg_terminate_backend …) that are allowed anyway, comma-separated"},
	{"ask.max-repairs", "ask-max-repairs", 2, "re-prompts with Postgres' error when the generated SQL fails EXPLAIN"},
	{"ask.max-tokens", "ask-max-tokens", 400, "most tokens generated for one answer"},
	{"ask.reasoning-budget", "ask-reasoning-budget", 1024, "most tokens a model that reasons first (arctic-text2sql-r1, omnisql templates) may think before its SQL is forced open"},
	{"ask.max-question-length", "ask-max-question-length", 2000, "longest ASK question in characters; longer ones get SQLSTATE 54000 before any work"},
	{"ask.max-result-rows", "ask-max-result-rows", 1000000, "generated SQL whose EXPLAIN (the dry run before it runs) estimates more rows is refused with SQLSTATE 54000 (0 = no limit)"},
	{"ask.values", "ask-values", false, "show the database's own values in the prompt: the most common values of text columns from pg_stats (never a table scan; only columns the user may read) as examples, and the values the question mentions"},
	{"ask.values-lookup", "ask-values-lookup", false, "where the pg_trgm extension exists, look the question's words up in the text columns of the schema shown (as the user, read-only, at most 10000 rows read per column, 500 ms) and show the values found as ask.values does"},
	{"ask.empty-repair", "ask-empty-repair", false, "when the generated SQL returns no rows for a question that asks for some, re-prompt once with that fact (the SQL is first run read-only with LIMIT 1)"},
	{"ask.vote", "ask-vote", "off", "voting by execution: off, always (the greedy answer and sampled candidates each run read-only, the result most of them give wins) or fallback (only when the greedy answer fails its checks)"},
	{"ask.vote-candidates", "ask-vote-candidates", 5, "answers that vote with ask.vote (the greedy one included)"},
	{"ask.schema-budget", "ask-schema-budget", 2048, "tokens of schema DDL in a prompt; larger schemas are pruned to the question (0 = no pruning)"},
	{"ask.example-budget", "ask-example-budget", 512, "tokens of stored question → SQL pairs (pgask.examples) shown to the model as worked examples, the most similar first, at most 3 (0 = none; a question matching a stored one is answered from it either way)"},
	{"ask.generation-timeout", "ask-generation-timeout", 120 * time.Second, "longest time one translation may take"},
	{"ask.statement-timeout", "ask-statement-timeout", 30 * time.Second, "statement_timeout for running generated SQL (0 = the session's own)"},
}

// Keys returns the configuration keys in documentation order.
func Keys() []Key { return append([]Key(nil), keys...) }

// RegisterFlags adds a flag for every key that has one, with the key's default and help.
func RegisterFlags(fs *pflag.FlagSet) {
	for _, k := range keys {
		if k.Flag == "" {
			continue
		}
		help := k.Help + " [" + k.Name + ", $" + k.Env() + "]"
		switch d := k.Default.(type) {
		case string:
			fs.String(k.Flag, d, help)
		case int:
			fs.Int(k.Flag, d, help)
		case bool:
			fs.Bool(k.Flag, d, help)
		case time.Duration:
			fs.Duration(k.Flag, d, help)
		case ByteSize:
			v := d
			fs.Var(sizeFlag{&v}, k.Flag, help)
		case []string:
			fs.StringSlice(k.Flag, d, help)
		default:
			panic(fmt.Sprintf("config: key %s has unsupported default type %T", k.Name, d))
		}
	}
}

// Load builds the configuration from the YAML file at path (optional), the PGASK_* environment
// (looked up through getenv; os.Getenv when nil) and the flags of fs that were set, then
// validates it.
func Load(path string, fs *pflag.FlagSet, getenv func(string) string) (*Config, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	v := viper.New()
	for _, k := range keys {
		v.SetDefault(k.Name, k.Default)
	}
	if path != "" {
		v.SetConfigFile(path)
		if err := v.ReadInConfig(); err != nil {
			return nil, fmt.Errorf("read config file %s: %w", path, err)
		}
		if err := checkUnknownKeys(v.AllKeys()); err != nil {
			return nil, fmt.Errorf("config file %s: %w", path, err)
		}
	}
	// Environment: looked up explicitly (not viper.AutomaticEnv) so tests can inject it.
	for _, k := range keys {
		if val := getenv(k.Env()); val != "" {
			v.Set(k.Name, val)
		}
	}
	if fs != nil {
		for _, k := range keys {
			if f := fs.Lookup(k.Flag); k.Flag != "" && f != nil && f.Changed {
				if sv, ok := f.Value.(pflag.SliceValue); ok {
					v.Set(k.Name, sv.GetSlice())
				} else {
					v.Set(k.Name, f.Value.String())
				}
			}
		}
	}
	var c Config
	if err := v.Unmarshal(&c, viper.DecodeHook(mapstructure.ComposeDecodeHookFunc(
		mapstructure.StringToTimeDurationHookFunc(), mapstructure.StringToSliceHookFunc(","),
		mapstructure.TextUnmarshallerHookFunc()))); err != nil {
		return nil, fmt.Errorf("decode config: %w", err)
	}
	c.OpenAI.APIKey = getenv("PGASK_OPENAI_API_KEY")
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

func checkUnknownKeys(got []string) error {
	known := map[string]bool{}
	for _, k := range keys {
		known[k.Name] = true
	}
	var unknown []string
	for _, g := range got {
		if !known[g] {
			unknown = append(unknown, g)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return errors.New("unknown keys: " + strings.Join(unknown, ", "))
	}
	return nil
}
