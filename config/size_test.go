package config

import (
	"strings"
	"testing"
)

func TestParseByteSize(t *testing.T) {
	tests := []struct {
		in   string
		want ByteSize
		err  bool
	}{
		{"0", 0, false},
		{"1048576", 1 << 20, false},
		{"512kB", 512 << 10, false},
		{"512kb", 512 << 10, false},
		{"64MB", 64 << 20, false},
		{" 64 MB ", 64 << 20, false},
		{"1GB", 1 << 30, false},
		{"2TB", 2 << 40, false},
		{"10B", 10, false},
		{"", 0, true},
		{"MB", 0, true},
		{"-1MB", 0, true},
		{"1.5GB", 0, true},
		{"12PB", 0, true},
		{"99999999999TB", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseByteSize(tt.in)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d, error %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestByteSizeStringRoundTrip(t *testing.T) {
	for _, b := range []ByteSize{0, 1, 1023, 1 << 10, 3 << 20, 256 << 20, 1 << 30, 5 << 40, 1<<20 + 1} {
		s := b.String()
		back, err := ParseByteSize(s)
		if err != nil || back != b {
			t.Errorf("%d -> %q -> %d, %v", b, s, back, err)
		}
	}
	if got := ByteSize(256 << 20).String(); got != "256MB" {
		t.Errorf("String() = %q, want 256MB", got)
	}
}

func TestLimitKeys(t *testing.T) {
	c, err := Load("", newFlags(t, "--upstream", "localhost:5432", "--max-message-size", "8MB", "--idle-timeout", "90s"),
		envOf(map[string]string{"PGASK_ASK_MAX_QUESTION_LENGTH": "500", "PGASK_ASK_MAX_RESULT_ROWS": "0"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.MaxMessageSize != 8<<20 || c.IdleTimeout.Seconds() != 90 || c.Ask.MaxQuestionLength != 500 || c.Ask.MaxResultRows != 0 {
		t.Errorf("limits not applied: size %d idle %s question %d rows %d", c.MaxMessageSize, c.IdleTimeout, c.Ask.MaxQuestionLength, c.Ask.MaxResultRows)
	}
	c, err = Load("", newFlags(t, "--upstream", "localhost:5432"), envOf(map[string]string{"PGASK_MAX_MESSAGE_SIZE": "1GB"}))
	if err != nil || c.MaxMessageSize != 1<<30 {
		t.Fatalf("env size: %v, %v", c, err)
	}
	d, err := Load("", newFlags(t, "--upstream", "localhost:5432"), nil)
	if err != nil || d.MaxMessageSize != 256<<20 || d.IdleTimeout != 0 || d.Ask.MaxQuestionLength != 2000 || d.Ask.MaxResultRows != 1000000 {
		t.Fatalf("defaults: %+v, %v", d, err)
	}
	for _, tt := range []struct {
		args []string
		env  map[string]string
		key  string
	}{
		{[]string{"--max-message-size", "2GB"}, nil, "max-message-size"},
		{nil, map[string]string{"PGASK_MAX_MESSAGE_SIZE": "lots"}, "max-message-size"},
		{[]string{"--idle-timeout", "-1s"}, nil, "idle-timeout"},
		{[]string{"--ask-max-question-length", "0"}, nil, "ask.max-question-length"},
		{[]string{"--ask-max-result-rows", "-5"}, nil, "ask.max-result-rows"},
	} {
		fs := newFlags(t, append([]string{"--upstream", "localhost:5432"}, tt.args...)...)
		_, err := Load("", fs, envOf(tt.env))
		if err == nil || !strings.Contains(err.Error(), tt.key) {
			t.Errorf("%v %v: error %v does not name %s", tt.args, tt.env, err, tt.key)
		}
	}
}

func TestAllowFunctionsKey(t *testing.T) {
	c, err := Load("", newFlags(t, "--upstream", "localhost:5432"), nil)
	if err != nil || len(c.Ask.AllowFunctions) != 0 {
		t.Fatalf("default: %v, %v", c.Ask.AllowFunctions, err)
	}
	c, err = Load("", newFlags(t, "--upstream", "localhost:5432"), envOf(map[string]string{"PGASK_ASK_ALLOW_FUNCTIONS": "pg_sleep,nextval"}))
	if err != nil || strings.Join(c.Ask.AllowFunctions, "|") != "pg_sleep|nextval" {
		t.Fatalf("env: %q, %v", c.Ask.AllowFunctions, err)
	}
	c, err = Load("", newFlags(t, "--upstream", "localhost:5432", "--ask-allow-functions", "set_config", "--ask-allow-functions", "lo_get"),
		envOf(map[string]string{"PGASK_ASK_ALLOW_FUNCTIONS": "pg_sleep"}))
	if err != nil || strings.Join(c.Ask.AllowFunctions, "|") != "set_config|lo_get" {
		t.Fatalf("flag over env: %q, %v", c.Ask.AllowFunctions, err)
	}
}
