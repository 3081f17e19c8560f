package config

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite docs/configuration.md with the current reference")

// referenceDoc is the golden file of WriteReference: the published configuration reference.
const referenceDoc = "../docs/configuration.md"

func render(t *testing.T) string {
	t.Helper()
	var b bytes.Buffer
	if err := WriteReference(&b); err != nil {
		t.Fatalf("WriteReference: %v", err)
	}
	return b.String()
}

// TestReferenceDoc keeps docs/configuration.md equal to the generated reference. After
// changing a key: go test ./config -run TestReferenceDoc -update
func TestReferenceDoc(t *testing.T) {
	got := render(t)
	if *update {
		if err := os.MkdirAll(filepath.Dir(referenceDoc), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(referenceDoc, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(referenceDoc)
	if err != nil {
		t.Fatalf("read %s (create it with -update): %v", referenceDoc, err)
	}
	if got != string(want) {
		t.Errorf("%s is out of date with the key table; regenerate it with\n\tgo test ./config -run TestReferenceDoc -update\nfirst difference:\n%s",
			referenceDoc, firstDiff(string(want), got))
	}
}

func firstDiff(want, got string) string {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < max(len(wl), len(gl)); i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			return "line " + strconv.Itoa(i+1) + ":\n\tfile:      " + w + "\n\tgenerated: " + g
		}
	}
	return "(none)"
}

// TestReferenceListsEveryKey checks, key by key, that the published reference has a table row
// with the key's flag, environment variable and default, and that the example file sets it.
func TestReferenceListsEveryKey(t *testing.T) {
	doc, err := os.ReadFile(referenceDoc)
	if err != nil {
		t.Fatalf("read %s: %v", referenceDoc, err)
	}
	text := string(doc)
	example := exampleYAML(t, text)
	for _, k := range Keys() {
		t.Run(k.Name, func(t *testing.T) {
			flagCell := "—"
			if k.Flag != "" {
				flagCell = "`--" + k.Flag + "`"
			}
			row := "| `" + k.Name + "` | " + flagCell + " | `" + k.Env() + "` | " + cell(defaultText(k.Default)) + " | "
			if !strings.Contains(text, row) {
				t.Errorf("%s has no row starting %q", referenceDoc, row)
			}
			s := section(k.Name)
			line := strings.TrimPrefix(k.Name, s+".") + ": "
			if s != "" {
				line = "  " + line
			}
			if !strings.Contains(example, "\n"+line) && !strings.HasPrefix(example, line) {
				t.Errorf("the example file does not set %s (no line %q)", k.Name, line)
			}
		})
	}
	if !strings.Contains(text, "PGASK_OPENAI_API_KEY") || !strings.Contains(text, "environment only") {
		t.Errorf("%s does not say that PGASK_OPENAI_API_KEY is read from the environment only", referenceDoc)
	}
	if !strings.Contains(text, "Flags win over the environment, which wins over the file, which wins over the defaults") {
		t.Errorf("%s does not state the precedence of the sources", referenceDoc)
	}
}

// exampleYAML returns the body of the reference's ```yaml block.
func exampleYAML(t *testing.T, doc string) string {
	t.Helper()
	_, rest, ok := strings.Cut(doc, "```yaml\n")
	if !ok {
		t.Fatal("the reference has no ```yaml example")
	}
	body, _, ok := strings.Cut(rest, "```")
	if !ok {
		t.Fatal("the reference's ```yaml example is not closed")
	}
	return body
}

// TestReferenceExampleLoads loads the example file through Load: it must be accepted (no
// unknown key, every value valid) and give exactly the defaults.
func TestReferenceExampleLoads(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pgask.yaml")
	if err := os.WriteFile(path, []byte(exampleYAML(t, render(t))), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := Load(path, nil, envOf(nil))
	if err != nil {
		t.Fatalf("Load(example): %v", err)
	}
	want, err := Load("", newFlags(t, "--upstream", ExampleUpstream), envOf(nil))
	if err != nil {
		t.Fatalf("Load(defaults): %v", err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("the example file does not give the defaults:\n got  %+v\n want %+v", got, want)
	}
}

func TestDefaultText(t *testing.T) {
	tests := []struct {
		in   any
		want string
	}{
		{30 * time.Second, "30s"},
		{120 * time.Second, "2m"},
		{90 * time.Second, "1m30s"},
		{time.Hour, "1h"},
		{90 * time.Minute, "1h30m"},
		{500 * time.Millisecond, "500ms"},
		{time.Duration(0), "0s"},
		{ByteSize(256 << 20), "256MB"},
		{ByteSize(1536), "1536B"},
		{"", ""},
		{"info", "info"},
		{true, "true"},
		{16, "16"},
	}
	for _, tt := range tests {
		if got := defaultText(tt.in); got != tt.want {
			t.Errorf("defaultText(%#v) = %q, want %q", tt.in, got, tt.want)
		}
	}
	// Every duration written in the reference must parse back to the default.
	for _, k := range Keys() {
		d, ok := k.Default.(time.Duration)
		if !ok {
			continue
		}
		back, err := time.ParseDuration(defaultText(d))
		if err != nil || back != d {
			t.Errorf("%s: %q parses to %v, %v; want %v", k.Name, defaultText(d), back, err, d)
		}
	}
}

func TestEscapeCell(t *testing.T) {
	if got, want := escapeCell("a | b\nc"), `a \| b c`; got != want {
		t.Errorf("escapeCell = %q, want %q", got, want)
	}
}

// handWritten are the documentation pages written by hand; they name keys, flags and
// variables that must exist, which TestHandWrittenDocsNameRealKeys checks.
var handWritten = []string{"../docs/operations.md", "../docs/troubleshooting.md"}

// notServeFlags are flags the hand-written pages use that belong to other commands (pull,
// schema, eval, pgask's --help, docker).
var notServeFlags = map[string]bool{
	"config": true, "help": true, "cache-dir": true, "list": true, "question": true, "budget": true,
	"in-process": true, "url": true, "dry-run": true, "gpus": true, "build-arg": true, "rm": true,
}

var (
	dottedKeyRE = regexp.MustCompile(`(?:^|[^\w/.-])((?:model|openai|ask|audit)\.[a-z][a-z-]*)`)
	envRE       = regexp.MustCompile(`PGASK_[A-Z_]+`)
	flagRE      = regexp.MustCompile("(?:^|[\\s(`\"])--([a-z][a-z-]*)")
)

// TestHandWrittenDocsNameRealKeys fails when docs/operations.md or docs/troubleshooting.md
// names a section key, a PGASK_ variable or a serve flag that the key table does not have
// (a key renamed or removed without the pages following).
func TestHandWrittenDocsNameRealKeys(t *testing.T) {
	names, envs, flags := map[string]bool{}, map[string]bool{"PGASK_OPENAI_API_KEY": true}, map[string]bool{}
	for _, k := range Keys() {
		names[k.Name] = true
		envs[k.Env()] = true
		if k.Flag != "" {
			flags[k.Flag] = true
		}
	}
	for _, page := range handWritten {
		t.Run(filepath.Base(page), func(t *testing.T) {
			b, err := os.ReadFile(page)
			if err != nil {
				t.Fatal(err)
			}
			text := string(b)
			checks := []struct {
				what  string
				re    *regexp.Regexp
				known func(string) bool
			}{
				{"key", dottedKeyRE, func(s string) bool { return names[s] }},
				{"environment variable", envRE, func(s string) bool { return envs[s] }},
				{"flag", flagRE, func(s string) bool { return flags[s] || notServeFlags[s] }},
			}
			for _, c := range checks {
				found := 0
				for _, m := range c.re.FindAllStringSubmatch(text, -1) {
					name := m[len(m)-1]
					found++
					if !c.known(name) {
						t.Errorf("%s names the %s %q, which the key table does not have", page, c.what, name)
					}
				}
				if found == 0 {
					t.Errorf("%s: no %s found; the pattern %v no longer matches the page", page, c.what, c.re)
				}
			}
		})
	}
}
