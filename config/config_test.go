package config

import (
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

func newFlags(t *testing.T, args ...string) *pflag.FlagSet {
	t.Helper()
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return fs
}

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestLoadPrecedence(t *testing.T) {
	tests := []struct {
		name  string
		file  string
		env   map[string]string
		flags []string
		check func(t *testing.T, c *Config)
	}{
		{
			name:  "defaults",
			flags: []string{"--upstream", "localhost:5432"},
			check: func(t *testing.T, c *Config) {
				if c.Listen != "127.0.0.1:6432" || c.MaxConnections != 100 || c.Engine != "llama" ||
					!c.Ask.Notice || c.Ask.Grammar != "schema" || c.StartupTimeout != 30*time.Second {
					t.Errorf("defaults not applied: %+v", c)
				}
			},
		},
		{
			name: "file only",
			file: "testdata/config.yaml",
			check: func(t *testing.T, c *Config) {
				if c.Listen != "0.0.0.0:7000" || c.MaxConnections != 50 || c.StartupTimeout != 5*time.Second ||
					c.Model.Path != "/models/sqlcoder.gguf" || c.Model.Threads != 3 || c.Ask.Notice ||
					c.Ask.MaxRepairs != 4 || c.LogLevel != "debug" || c.OpenAI.URL != "http://127.0.0.1:8000" {
					t.Errorf("file values not applied: %+v", c)
				}
			},
		},
		{
			name: "env beats file",
			file: "testdata/config.yaml",
			env:  map[string]string{"PGASK_LISTEN": "127.0.0.1:7001", "PGASK_MODEL_THREADS": "1", "PGASK_ASK_NOTICE": "true", "PGASK_STARTUP_TIMEOUT": "7s"},
			check: func(t *testing.T, c *Config) {
				if c.Listen != "127.0.0.1:7001" || c.Model.Threads != 1 || !c.Ask.Notice || c.StartupTimeout != 7*time.Second {
					t.Errorf("env did not override file: %+v", c)
				}
				if c.MaxConnections != 50 {
					t.Errorf("file value lost: max-connections = %d", c.MaxConnections)
				}
			},
		},
		{
			name:  "flags beat env and file",
			file:  "testdata/config.yaml",
			env:   map[string]string{"PGASK_LISTEN": "127.0.0.1:7001", "PGASK_MAX_CONNECTIONS": "9"},
			flags: []string{"--listen", "127.0.0.1:7002", "--threads", "2", "--ask-notice=true"},
			check: func(t *testing.T, c *Config) {
				if c.Listen != "127.0.0.1:7002" || c.Model.Threads != 2 || !c.Ask.Notice {
					t.Errorf("flags did not win: %+v", c)
				}
				if c.MaxConnections != 9 {
					t.Errorf("env value lost: max-connections = %d", c.MaxConnections)
				}
			},
		},
		{
			name:  "api key only from env",
			flags: []string{"--upstream", "localhost:5432", "--engine", "openai", "--openai-url", "http://127.0.0.1:9/"},
			env:   map[string]string{"PGASK_OPENAI_API_KEY": "sk-test"},
			check: func(t *testing.T, c *Config) {
				if c.OpenAI.APIKey != "sk-test" || c.Engine != "openai" {
					t.Errorf("openai config: %+v", c.OpenAI)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(tt.file, newFlags(t, tt.flags...), envOf(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}

func TestValidateNamesKey(t *testing.T) {
	tests := []struct {
		name  string
		file  string
		flags []string
		env   map[string]string
		want  []string // substrings of the error, each naming a key
	}{
		{name: "missing upstream", want: []string{"upstream: required"}},
		{name: "bad listen", flags: []string{"--upstream", "h:1", "--listen", "nope"}, want: []string{"listen:"}},
		{name: "bad sslmode", flags: []string{"--upstream", "postgres://h:5432/?sslmode=maybe"}, want: []string{`upstream: upstream "postgres://h:5432/?sslmode=maybe": sslmode "maybe"`}},
		{name: "verify-full needs root cert", flags: []string{"--upstream", "postgres://h/?sslmode=verify-full"}, want: []string{"sslmode=verify-full needs sslrootcert"}},
		{name: "bad scheme", flags: []string{"--upstream", "mysql://h:1/"}, want: []string{"scheme must be postgres://"}},
		{name: "user in upstream", flags: []string{"--upstream", "postgres://bob@h/"}, want: []string{"must not name a user"}},
		{name: "cert without key", flags: []string{"--upstream", "h:1", "--tls-cert", "testdata/config.yaml"}, want: []string{"tls-cert: tls-cert and tls-key"}},
		{name: "missing cert file", flags: []string{"--upstream", "h:1", "--tls-cert", "/nonexistent.pem", "--tls-key", "/nonexistent.key"}, want: []string{"tls-cert:", "tls-key:"}},
		{name: "file with bad values", file: "testdata/bad.yaml", want: []string{"max-connections: must be at least 1", "log-format:"}},
		{name: "bad grammar", flags: []string{"--upstream", "h:1", "--ask-grammar", "maybe"}, want: []string{"ask.grammar: want schema"}},
		{name: "unknown engine", flags: []string{"--upstream", "h:1", "--engine", "gpt"}, want: []string{"engine: want llama or openai"}},
		{name: "openai needs url", flags: []string{"--upstream", "h:1", "--engine", "openai"}, want: []string{"openai.url: required"}},
		{name: "bad duration from env", flags: []string{"--upstream", "h:1"}, env: map[string]string{"PGASK_ASK_STATEMENT_TIMEOUT": "-1s"}, want: []string{"ask.statement-timeout"}},
		{name: "negative relay threads", flags: []string{"--upstream", "h:1", "--relay-threads", "-1"}, want: []string{"relay-threads: must be between 0 and 64"}},
		{name: "unknown file key", file: "testdata/unknown.yaml", want: []string{"unknown keys: listne"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(tt.file, newFlags(t, tt.flags...), envOf(tt.env))
			if err == nil {
				t.Fatal("Load succeeded, want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestEveryKeyHasFlagHelpAndEnv(t *testing.T) {
	fs := newFlags(t)
	seen := map[string]bool{}
	for _, k := range Keys() {
		if k.Help == "" {
			t.Errorf("key %s has no help", k.Name)
		}
		if !strings.HasPrefix(k.Env(), "PGASK_") || strings.ContainsAny(k.Env(), ".-") {
			t.Errorf("key %s: bad env name %s", k.Name, k.Env())
		}
		if k.Flag != "" {
			f := fs.Lookup(k.Flag)
			if f == nil {
				t.Errorf("key %s: flag --%s not registered", k.Name, k.Flag)
				continue
			}
			if !strings.Contains(f.Usage, k.Env()) {
				t.Errorf("flag --%s help does not name %s", k.Flag, k.Env())
			}
			if seen[k.Flag] {
				t.Errorf("flag --%s used twice", k.Flag)
			}
			seen[k.Flag] = true
		}
	}
}
