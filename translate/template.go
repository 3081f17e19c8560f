package translate

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"text/template"
)

//go:embed templates/*.tmpl
var templateFS embed.FS

// DefaultTemplate is the family used when the model's metadata names no known family.
const DefaultTemplate = "sqlcoder-7b-2"

// Template is one model family's prompt, loaded from translate/templates/<name>.tmpl. A file
// is a header of `key: value` lines (name, match and chat as JSON string arrays, stop as a
// JSON string array), a line `---`, then a text/template body rendered with PromptData.
type Template struct {
	Name  string
	Stop  []string // stop strings for the engine
	match []string // substrings of the normalised model name that select this family
	chat  []string // substrings of tokenizer.chat_template that select it (with "sqlcoder" in the name)
	tmpl  *template.Template
}

// PromptData is what a template renders.
type PromptData struct {
	Question     string
	Schema       string   // the schema as DDL, column descriptions as trailing -- comments
	Instructions []string // extra instructions, one per line
	PreviousSQL  string   // repair: the SQL that failed; "" on a first attempt
	Error        string   // repair: PostgreSQL's error message for PreviousSQL
}

// Render returns the prompt for d.
func (t *Template) Render(d PromptData) (string, error) {
	var b bytes.Buffer
	if err := t.tmpl.Execute(&b, d); err != nil {
		return "", fmt.Errorf("render prompt %s: %w", t.Name, err)
	}
	return b.String(), nil
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
	t := &Template{}
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
	tm, err := template.New(t.Name).Option("missingkey=error").Parse(body)
	if err != nil {
		return nil, fmt.Errorf("parse body: %w", err)
	}
	t.tmpl = tm
	return t, nil
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
// tokenizer.chat_template contains a template's chat substring selects it; failing that,
// DefaultTemplate.
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
	bestLen := 0
	for _, tn := range ts.order {
		t := ts.byName[tn]
		for _, m := range t.match {
			for _, n := range names {
				if strings.Contains(n, m) && len(m) > bestLen {
					best, bestLen = t, len(m)
				}
			}
		}
	}
	if best != nil && bestLen > len("sqlcoder") {
		return best, nil
	}
	sqlcoder := false
	for _, n := range names {
		sqlcoder = sqlcoder || strings.Contains(n, "sqlcoder")
	}
	if chat := meta["tokenizer.chat_template"]; sqlcoder && chat != "" {
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
