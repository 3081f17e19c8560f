package translate

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the expected part of golden files")

const goldenSep = "\n----------\n"

// readGolden splits a caddy-style golden file into input and expected output.
func readGolden(t *testing.T, path string) (input, want string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	input, want, ok := strings.Cut(string(data), goldenSep)
	if !ok {
		t.Fatalf("%s: no %q separator", path, strings.TrimSpace(goldenSep))
	}
	return input, want
}

func checkGolden(t *testing.T, path, input, got, want string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(input+goldenSep+got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if got != want {
		t.Errorf("%s: output differs (run with -update to accept)\n--- got ---\n%s\n--- want ---\n%s", path, got, want)
	}
}

// TestPromptGolden renders each testdata/prompt/*.txt input: header lines (template:,
// question:, instruction:, previous_sql:, error:, example: and follow_up: as
// "question => SQL"), a line "schema:", then the DDL.
func TestPromptGolden(t *testing.T) {
	ts, err := LoadTemplates()
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob("testdata/prompt/*.txt")
	if len(files) == 0 {
		t.Fatal("no golden files in testdata/prompt")
	}
	seen := map[string]bool{}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			input, want := readGolden(t, f)
			head, ddl, ok := strings.Cut(input, "schema:\n")
			if !ok {
				t.Fatalf("%s: no schema: line", f)
			}
			var name string
			var d PromptData
			for _, line := range strings.Split(strings.TrimSpace(head), "\n") {
				k, v, _ := strings.Cut(line, ": ")
				switch k {
				case "template":
					name = v
				case "question":
					d.Question = v
				case "instruction":
					d.Instructions = append(d.Instructions, v)
				case "previous_sql":
					d.PreviousSQL = v
				case "error":
					d.Error = v
				case "example", "follow_up": // question => SQL
					q, sql, ok := strings.Cut(v, " => ")
					if !ok {
						t.Fatalf("%s: %q has no \" => \"", f, line)
					}
					if k == "example" {
						d.Examples = append(d.Examples, Example{Question: q, SQL: sql})
					} else {
						d.FollowUp = &Example{Question: q, SQL: sql}
					}
				default:
					t.Fatalf("unknown header %q", k)
				}
			}
			d.Schema = strings.TrimRight(ddl, "\n")
			tmpl, err := ts.Get(name)
			if err != nil {
				t.Fatal(err)
			}
			seen[name] = true
			var got string
			if tmpl.IsChat() {
				// Pinned as ChatML: the format of the Qwen-based SQL models, and the fallback of
				// engines that do not apply a GGUF's own template.
				chat, err := tmpl.RenderChat(d)
				if err != nil {
					t.Fatal(err)
				}
				text, err := FormatChatML(chat.Messages)
				if err != nil {
					t.Fatal(err)
				}
				got = text + chat.Prefill
			} else if got, err = tmpl.Render(d); err != nil {
				t.Fatal(err)
			}
			checkGolden(t, f, input, got, want)
		})
	}
	for _, n := range ts.Names() {
		if !seen[n] {
			t.Errorf("template %s has no golden file", n)
		}
	}
}

func TestSelectTemplate(t *testing.T) {
	llama3Chat := "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>' %}"
	tests := []struct {
		name string
		meta map[string]string
		want string
	}{
		{"", map[string]string{"general.name": "sqlcoder-7b-2"}, "sqlcoder-7b-2"},
		{"", map[string]string{"general.name": "defog_sqlcoder-7b-2"}, "sqlcoder-7b-2"},
		{"", map[string]string{"general.name": "SQLCoder 70B Alpha"}, "sqlcoder-7b-2"},
		{"", map[string]string{"general.name": "sqlcoder-34b-alpha"}, "sqlcoder-34b"},
		{"", map[string]string{"general.basename": "sqlcoder2"}, "sqlcoder-34b"},
		{"", map[string]string{"general.name": "Llama 3 Sqlcoder 8b"}, "llama-3-sqlcoder-8b"},
		{"", map[string]string{"general.name": "llama3-sqlcoder-8b"}, "llama-3-sqlcoder-8b"},
		{"", map[string]string{"general.name": "sqlcoder 8b", "tokenizer.chat_template": llama3Chat}, "llama-3-sqlcoder-8b"},
		{"", map[string]string{"general.name": "sqlcoder", "general.architecture": "llama"}, "sqlcoder-7b-2"},
		{"", map[string]string{"general.name": "pgask tiny test model"}, DefaultTemplate},
		{"", nil, DefaultTemplate},
		{"sqlcoder-34b", map[string]string{"general.name": "sqlcoder-7b-2"}, "sqlcoder-34b"},
	}
	for _, tt := range tests {
		got, err := SelectTemplate(tt.name, tt.meta)
		if err != nil {
			t.Errorf("SelectTemplate(%q, %v): %v", tt.name, tt.meta, err)
			continue
		}
		if got.Name != tt.want {
			t.Errorf("SelectTemplate(%q, %v) = %s, want %s", tt.name, tt.meta, got.Name, tt.want)
		}
	}
	if _, err := SelectTemplate("gpt-9", nil); err == nil || !strings.Contains(err.Error(), "sqlcoder-7b-2") {
		t.Errorf("unknown template name: err = %v, want an error listing the known names", err)
	}
}

func TestParseTemplateErrors(t *testing.T) {
	for _, src := range []string{
		"no separator",
		"name: x\nbogus: 1\n---\nbody",
		"match: [\"a\"]\n---\nbody",
		"name: x\nstop: not json\n---\nbody",
		"name: x\n---\n{{.Question",
	} {
		if _, err := parseTemplate(src); err == nil {
			t.Errorf("parseTemplate(%q) succeeded", src)
		}
	}
}
