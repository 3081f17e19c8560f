package translate

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"sort"
	"strings"
	"text/template"
)

//go:embed templates/*.tmpl
var templateFS embed.FS

// DefaultTemplate is the family used when the model's metadata names no known family: SQLCoder's
// prompt with the schema first, so that questions on one schema share the evaluated prompt
// prefix (measured in bench/accuracy/results-2026-12-06.md). Models named SQLCoder get the
// layout they were trained on (sqlcoder-7b-2, question first).
const DefaultTemplate = "sqlcoder-7b-2-schema-first"

// InstructTemplate is the family of an instruct model that is not a known SQL family: the task
// in the model's own chat template (tokenizer.chat_template), with the question last so that
// questions on one schema share the evaluated prompt prefix.
const InstructTemplate = "instruct-schema-first"

// Template is one model family's prompt, loaded from translate/templates/<name>.tmpl. A file
// is a header of `key: value` lines, a line `---`, then a text/template body rendered with
// PromptData. Header keys: name; match and chat (JSON string arrays, see Select); stop (JSON
// string array); format (`completion`, the default: the body is the whole prompt; or `chat`:
// the body is split into turns by lines `=== system`, `=== user` and `=== assistant`, the last
// one the start of the model's answer, and the turns are formatted with the model's own chat
// template); answer (`first`, the default: the SQL is the first statement of the completion;
// or `last-fence`: the last ```sql block, for models that reason first); grammar-trigger (a
// JSON string: the schema grammar applies only after this text appears in the output);
// reasoning (`true`: the model reasons before it answers, within Options.ReasoningBudget);
// schema (`ddl`, the default, or `mschema`: the schema as M-Schema).
type Template struct {
	Name string
	Stop []string // stop strings for the engine

	Format         string // "completion" or "chat"
	Answer         string // "first" or "last-fence"
	GrammarTrigger string // "" = the grammar applies from the first token
	Reasoning      bool
	SchemaFormat   string // "ddl" or "mschema"

	match []string // substrings of the normalised model name that select this family
	chat  []string // substrings of tokenizer.chat_template that select it (with "sqlcoder" in the name)
	tmpl  *template.Template
	turns []turn // Format "chat"
}

// turn is one message of a chat template; the assistant turn, last, is the answer's start.
type turn struct {
	role string
	tmpl *template.Template
}

// ChatMessage is one turn of a prompt in the chat format.
type ChatMessage struct {
	Role    string // "system", "user" or "assistant"
	Content string
}

// Chat is a rendered chat prompt: the messages, and the text the assistant's answer starts
// with (written after the chat template's opening of the assistant turn).
type Chat struct {
	Messages []ChatMessage
	Prefill  string
}

// IsChat reports whether the template is in the chat format.
func (t *Template) IsChat() bool { return t.Format == FormatChat }

// Template formats and answer modes.
const (
	FormatCompletion = "completion"
	FormatChat       = "chat"
	AnswerFirst      = "first"
	AnswerLastFence  = "last-fence"
	SchemaDDL        = "ddl"
	SchemaMSchema    = "mschema"
)

// PromptData is what a template renders.
type PromptData struct {
	Question     string
	Schema       string   // the schema as DDL, column descriptions as trailing -- comments
	Instructions []string // extra instructions, one per line
	PreviousSQL  string   // repair: the SQL that failed; "" on a first attempt
	Error        string   // repair: PostgreSQL's error message for PreviousSQL
	// Examples are verified question → SQL pairs of this database (pgask.examples), the most
	// similar to Question first, shown as worked examples.
	Examples []Example
	// FollowUp, for a follow-up question (ASK and …), is the session's previous question and
	// the SQL that answered it; Question is then the previous question with the follow-up
	// appended. Nil for a standalone question, which is never shown any history.
	FollowUp *Example
}

// Example is a question with the SQL that answers it.
type Example struct {
	Question string
	SQL      string
}

// Render returns the prompt for d of a completion template.
func (t *Template) Render(d PromptData) (string, error) {
	if t.IsChat() {
		return "", fmt.Errorf("render prompt %s: a chat template renders with RenderChat", t.Name)
	}
	var b bytes.Buffer
	if err := t.tmpl.Execute(&b, d); err != nil {
		return "", fmt.Errorf("render prompt %s: %w", t.Name, err)
	}
	return b.String(), nil
}

// RenderChat returns the messages and the answer's prefill for d of a chat template.
func (t *Template) RenderChat(d PromptData) (Chat, error) {
	if !t.IsChat() {
		return Chat{}, fmt.Errorf("render prompt %s: a completion template renders with Render", t.Name)
	}
	var c Chat
	for i, tu := range t.turns {
		var b bytes.Buffer
		if err := tu.tmpl.Execute(&b, d); err != nil {
			return Chat{}, fmt.Errorf("render prompt %s: %w", t.Name, err)
		}
		if tu.role == "assistant" && i == len(t.turns)-1 {
			c.Prefill = b.String()
			continue
		}
		c.Messages = append(c.Messages, ChatMessage{Role: tu.role, Content: strings.TrimRight(b.String(), "\n")})
	}
	return c, nil
}

// Templates holds every embedded template by name.
type Templates struct {
	byName map[string]*Template
	order  []string
}

// LoadTemplates parses the embedded templates.
func LoadTemplates() (*Templates, error) {
	return loadTemplates(templateFS, "templates")
}

func loadTemplates(fsys fs.FS, dir string) (*Templates, error) {
	names, err := fs.Glob(fsys, path.Join(dir, "*.tmpl"))
	if err != nil {
		return nil, fmt.Errorf("load templates: %w", err)
	}
	ts := &Templates{byName: map[string]*Template{}}
	for _, n := range names {
		data, err := fs.ReadFile(fsys, n)
		if err != nil {
			return nil, fmt.Errorf("load templates: %w", err)
		}
		t, err := parseTemplate(string(data))
		if err != nil {
			return nil, fmt.Errorf("load template %s: %w", n, err)
		}
		if _, dup := ts.byName[t.Name]; dup {
			return nil, fmt.Errorf("load template %s: duplicate name %q", n, t.Name)
		}
		ts.byName[t.Name] = t
		ts.order = append(ts.order, t.Name)
	}
	sort.Strings(ts.order)
	if ts.byName[DefaultTemplate] == nil {
		return nil, fmt.Errorf("load templates: default template %q missing", DefaultTemplate)
	}
	return ts, nil
}

func parseTemplate(src string) (*Template, error) {
	head, body, ok := strings.Cut(src, "\n---\n")
	if !ok {
		return nil, fmt.Errorf("no header separator line \"---\"")
	}
	t := &Template{Format: FormatCompletion, Answer: AnswerFirst, SchemaFormat: SchemaDDL}
	for _, line := range strings.Split(head, "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("header line %q: want key: value", line)
		}
		v = strings.TrimSpace(v)
		var dst *[]string
		switch strings.TrimSpace(k) {
		case "name":
			t.Name = v
			continue
		case "format", "answer", "schema", "reasoning":
			if err := t.setMode(strings.TrimSpace(k), v); err != nil {
				return nil, fmt.Errorf("header line %q: %w", line, err)
			}
			continue
		case "grammar-trigger":
			if err := json.Unmarshal([]byte(v), &t.GrammarTrigger); err != nil {
				return nil, fmt.Errorf("header %s: %w", k, err)
			}
			continue
		case "match":
			dst = &t.match
		case "chat":
			dst = &t.chat
		case "stop":
			dst = &t.Stop
		default:
			return nil, fmt.Errorf("header line %q: unknown key", line)
		}
		if err := json.Unmarshal([]byte(v), dst); err != nil {
			return nil, fmt.Errorf("header %s: %w", k, err)
		}
	}
	if t.Name == "" {
		return nil, fmt.Errorf("header has no name")
	}
	if !t.IsChat() {
		tm, err := template.New(t.Name).Option("missingkey=error").Parse(body)
		if err != nil {
			return nil, fmt.Errorf("parse body: %w", err)
		}
		t.tmpl = tm
		return t, nil
	}
	turns, err := parseTurns(t.Name, body)
	if err != nil {
		return nil, err
	}
	t.turns = turns
	return t, nil
}

func (t *Template) setMode(key, v string) error {
	allowed := map[string][]string{
		"format":    {FormatCompletion, FormatChat},
		"answer":    {AnswerFirst, AnswerLastFence},
		"schema":    {SchemaDDL, SchemaMSchema},
		"reasoning": {"true", "false"},
	}[key]
	if !slices.Contains(allowed, v) {
		return fmt.Errorf("%s must be one of %s", key, strings.Join(allowed, ", "))
	}
	switch key {
	case "format":
		t.Format = v
	case "answer":
		t.Answer = v
	case "schema":
		t.SchemaFormat = v
	case "reasoning":
		t.Reasoning = v == "true"
	}
	return nil
}

// parseTurns splits a chat template's body at its `=== role` lines. The body must start with
// one; roles are system, user and assistant, and only the last turn may be the assistant's.
func parseTurns(name, body string) ([]turn, error) {
	var turns []turn
	var cur *turn
	var text strings.Builder
	flush := func() error {
		if cur == nil {
			return nil
		}
		tm, err := template.New(name + "/" + cur.role).Option("missingkey=error").Parse(text.String())
		if err != nil {
			return fmt.Errorf("parse %s turn: %w", cur.role, err)
		}
		cur.tmpl = tm
		turns = append(turns, *cur)
		text.Reset()
		return nil
	}
	for _, line := range strings.SplitAfter(body, "\n") {
		if role, ok := strings.CutPrefix(strings.TrimRight(line, "\n"), "=== "); ok {
			if err := flush(); err != nil {
				return nil, err
			}
			if !slices.Contains([]string{"system", "user", "assistant"}, role) {
				return nil, fmt.Errorf("turn %q: want system, user or assistant", role)
			}
			cur = &turn{role: role}
			continue
		}
		if cur == nil {
			if strings.TrimSpace(line) != "" {
				return nil, fmt.Errorf("chat body must start with a line \"=== system\" or \"=== user\"")
			}
			continue
		}
		text.WriteString(line)
	}
	if err := flush(); err != nil {
		return nil, err
	}
	for i, tu := range turns {
		if tu.role == "assistant" && i != len(turns)-1 {
			return nil, fmt.Errorf("only the last turn may be the assistant's")
		}
	}
	if len(turns) == 0 || turns[0].role == "assistant" {
		return nil, fmt.Errorf("chat body has no system or user turn")
	}
	return turns, nil
}

// Names lists the template names, sorted.
func (ts *Templates) Names() []string { return append([]string(nil), ts.order...) }

// Get returns the template with this exact name.
func (ts *Templates) Get(name string) (*Template, error) {
	t := ts.byName[name]
	if t == nil {
		return nil, fmt.Errorf("prompt template %q unknown (known: %s)", name, strings.Join(ts.order, ", "))
	}
	return t, nil
}

// Select picks the template for a model. A non-empty name (from the configuration) must name a
// template. Otherwise the GGUF metadata decides: general.name and general.basename, normalised
// (lower case, '_' and ' ' as '-'), are matched against each template's match substrings, the
// longest match winning; failing that, a model whose name mentions sqlcoder and whose
// tokenizer.chat_template contains a template's chat substring selects it; failing that, a
// model with a chat template gets InstructTemplate, and any other DefaultTemplate.
func (ts *Templates) Select(name string, meta map[string]string) (*Template, error) {
	if name != "" {
		return ts.Get(name)
	}
	var names []string
	for _, k := range []string{"general.name", "general.basename"} {
		if v := normaliseModelName(meta[k]); v != "" {
			names = append(names, v)
		}
	}
	var best *Template
	bestMatch := ""
	for _, tn := range ts.order {
		t := ts.byName[tn]
		for _, m := range t.match {
			for _, n := range names {
				if strings.Contains(n, m) && len(m) > len(bestMatch) {
					best, bestMatch = t, m
				}
			}
		}
	}
	if best != nil && bestMatch != "sqlcoder" {
		return best, nil
	}
	sqlcoder := false
	for _, n := range names {
		sqlcoder = sqlcoder || strings.Contains(n, "sqlcoder")
	}
	chat := meta["tokenizer.chat_template"]
	if sqlcoder && chat != "" {
		for _, tn := range ts.order {
			for _, c := range ts.byName[tn].chat {
				if strings.Contains(chat, c) {
					return ts.byName[tn], nil
				}
			}
		}
	}
	if best != nil {
		return best, nil
	}
	if chat != "" && ts.byName[InstructTemplate] != nil {
		// Not a known SQL family, but an instruct model: ask it in its own chat format.
		return ts.byName[InstructTemplate], nil
	}
	return ts.byName[DefaultTemplate], nil
}

func normaliseModelName(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	return strings.NewReplacer("_", "-", " ", "-").Replace(s)
}

// SelectTemplate loads the embedded templates and selects one; see Templates.Select.
func SelectTemplate(name string, meta map[string]string) (*Template, error) {
	ts, err := LoadTemplates()
	if err != nil {
		return nil, err
	}
	return ts.Select(name, meta)
}
