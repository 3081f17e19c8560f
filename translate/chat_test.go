package translate

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/pgask/pgask/introspect"
)

// chatEngine is a scriptedEngine that also formats chats, recording what it was given.
type chatEngine struct {
	scriptedEngine
	chats [][]ChatMessage
}

func (e *chatEngine) FormatChat(msgs []ChatMessage) (string, error) {
	e.chats = append(e.chats, msgs)
	var b strings.Builder
	for _, m := range msgs {
		b.WriteString("<start_of_turn>" + m.Role + "\n" + m.Content + "<end_of_turn>\n")
	}
	return b.String() + "<start_of_turn>model\n", nil
}

func mustTemplate(t *testing.T, name string) *Template {
	t.Helper()
	tm, err := SelectTemplate(name, nil)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

// TestChatTemplateUsesTheEnginesFormat: a chat template's turns go through the engine's own chat
// format (the GGUF's template, for the llama engine), and the assistant's prefill follows it.
func TestChatTemplateUsesTheEnginesFormat(t *testing.T) {
	conn := shopDB(t)
	e := &chatEngine{scriptedEngine: scriptedEngine{answers: []string{"SELECT count(*) FROM customers\n```"}}}
	tr := newTestTranslator(t, e, Options{Template: mustTemplate(t, "instruct")})
	res, err := tr.Translate(context.Background(), shopRequest(t, "how many customers?", pgChecker{conn}))
	if err != nil {
		t.Fatal(err)
	}
	if res.SQL != "SELECT count(*) FROM customers" {
		t.Errorf("SQL %q", res.SQL)
	}
	if len(e.chats) != 1 || len(e.chats[0]) != 2 || e.chats[0][0].Role != "system" || e.chats[0][1].Role != "user" {
		t.Fatalf("chat messages %+v, want system and user", e.chats)
	}
	user := e.chats[0][1].Content
	if strings.Index(user, "CREATE TABLE customers") > strings.Index(user, "how many customers?") {
		t.Errorf("the schema must come before the question (a stable prefix for the KV cache):\n%s", user)
	}
	p := e.reqs[0].Prompt
	if !strings.HasPrefix(p, "<start_of_turn>system\n") || !strings.HasSuffix(p, "<start_of_turn>model\n```sql\n") {
		t.Errorf("prompt not in the engine's format with the prefill:\n%s", p)
	}
	if len(e.reqs) != 1 || e.reqs[0].Grammar == "" {
		t.Errorf("instruct: %d generations, grammar %d bytes; want one, under the grammar from the first token", len(e.reqs), len(e.reqs[0].Grammar))
	}
}

// TestChatTemplateFallsBackToChatML: an engine that formats no chats gets ChatML. A model that
// reasons first (omnisql) writes freely until its ```sql block opens, then the SQL under the
// grammar, after the prompt and its reasoning.
func TestChatTemplateFallsBackToChatML(t *testing.T) {
	e := &scriptedEngine{answers: []string{"Let me think.\n", "SELECT name FROM customers\n"}}
	tr := newTestTranslator(t, e, Options{Template: mustTemplate(t, "omnisql")})
	res, err := tr.Translate(context.Background(), shopRequest(t, "names?", nil))
	if err != nil {
		t.Fatal(err)
	}
	if res.SQL != "SELECT name FROM customers" {
		t.Errorf("SQL %q", res.SQL)
	}
	p := e.reqs[0].Prompt
	if !strings.HasPrefix(p, "<|im_start|>system\n") || !strings.HasSuffix(p, "<|im_start|>assistant\n") {
		t.Errorf("prompt not ChatML:\n%s", p)
	}
	if len(e.reqs) != 2 {
		t.Fatalf("%d generations, want 2 (reasoning, then the SQL)", len(e.reqs))
	}
	free, sql := e.reqs[0], e.reqs[1]
	if free.Grammar != "" || len(free.Stop) != 1 || free.Stop[0] != "```sql\n" || free.MaxTokens != 1024 {
		t.Errorf("reasoning phase: grammar %d bytes, stop %q, max %d; want no grammar, the block's opening as the stop, the reasoning budget",
			len(free.Grammar), free.Stop, free.MaxTokens)
	}
	if sql.Grammar == "" || sql.Prompt != free.Prompt+"Let me think.\n```sql\n" || sql.Stop[0] != "```" {
		t.Errorf("SQL phase: grammar %d bytes, stop %q, prompt end %q", len(sql.Grammar), sql.Stop, tail(sql.Prompt, 40))
	}
}

// TestReasoningBudget: a reasoning model that is still thinking when the budget ends gets its
// reasoning closed and answers after it, under the grammar, from the KV-cached prefix.
func TestReasoningBudget(t *testing.T) {
	e := &scriptedEngine{answers: []string{
		"The question asks for names. Let me",
		"SELECT name FROM customers\n",
	}}
	e2 := &budgetEngine{scriptedEngine: e, stop: []string{"length", "stop"}}
	tr := newTestTranslator(t, e2, Options{Template: mustTemplate(t, "arctic-text2sql-r1"), ReasoningBudget: 50, MaxTokens: 30})
	res, err := tr.Translate(context.Background(), shopRequest(t, "names?", nil))
	if err != nil {
		t.Fatal(err)
	}
	if res.SQL != "SELECT name FROM customers" || res.Attempts != 1 {
		t.Fatalf("result %+v", res)
	}
	if len(e.reqs) != 2 {
		t.Fatalf("%d generations, want 2 (reasoning, then the forced answer)", len(e.reqs))
	}
	first, second := e.reqs[0], e.reqs[1]
	if first.MaxTokens != 50 || !strings.HasSuffix(first.Prompt, "<|im_start|>assistant\n<think>\n") || first.Grammar != "" {
		t.Errorf("reasoning request: max %d, grammar %d bytes, prompt end %q", first.MaxTokens, len(first.Grammar), tail(first.Prompt, 40))
	}
	if second.Prompt != first.Prompt+"The question asks for names. Let me\n</think>\n<answer>\n```sql\n" || second.Grammar == "" || second.MaxTokens != 30 {
		t.Errorf("answer request: grammar %d bytes, max %d, prompt end %q", len(second.Grammar), second.MaxTokens, tail(second.Prompt, 80))
	}
}

// budgetEngine reports the scripted stop reasons in order.
type budgetEngine struct {
	*scriptedEngine
	stop []string
}

func (e *budgetEngine) Generate(ctx context.Context, req GenerateRequest) (GenerateResult, error) {
	r, err := e.scriptedEngine.Generate(ctx, req)
	r.StopReason = e.stop[len(e.reqs)-1]
	return r, err
}

func tail(s string, n int) string { return s[max(0, len(s)-n):] }

// TestRepeatedFailedAnswerIsResampled: when a repair gives back SQL that already failed, one
// sampled (seeded) generation replaces it.
func TestRepeatedFailedAnswerIsResampled(t *testing.T) {
	conn := shopDB(t)
	bad := "SELECT nickname FROM customers"
	e := &scriptedEngine{answers: []string{bad, bad, "SELECT name FROM customers"}}
	tr := newTestTranslator(t, e, Options{MaxRepairs: 1})
	res, err := tr.Translate(context.Background(), shopRequest(t, "names?", pgChecker{conn}))
	if err != nil {
		t.Fatal(err)
	}
	if res.SQL != "SELECT name FROM customers" || res.Attempts != 2 || len(e.reqs) != 3 {
		t.Fatalf("result %+v after %d generations", res, len(e.reqs))
	}
	if e.reqs[0].Temperature != 0 || e.reqs[1].Temperature != 0 || e.reqs[2].Temperature <= 0 || e.reqs[2].Seed == 0 ||
		e.reqs[2].Prompt != e.reqs[1].Prompt {
		t.Errorf("want greedy, greedy, then a seeded sample of the same repair prompt: %+v", e.reqs)
	}
}

func TestExtractLastFence(t *testing.T) {
	tests := []struct{ in, want string }{
		{"think...\n```sql\nSELECT 1 FROM a\n```\nmore\n```sql\nSELECT 2 FROM b\n```", "SELECT 2 FROM b"},
		{"<think>x</think>\n<answer>\n```sql\nSELECT a FROM t;\n```\n</answer>", "SELECT a FROM t"},
		{"reasoning\n```sql\nSELECT a FROM t WHERE b", "SELECT a FROM t WHERE b"},
		{"<think>no fence</think>\n<answer>SELECT x FROM y</answer>", "SELECT x FROM y"},
	}
	for _, tt := range tests {
		got, err := ExtractLastFence(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ExtractLastFence(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	if _, err := ExtractLastFence("<think>hmm</think> I do not know"); !errors.Is(err, ErrUnanswerable) {
		t.Errorf("unanswerable after reasoning: err = %v", err)
	}
}

func TestSelectModernTemplates(t *testing.T) {
	chatML := "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
	tests := []struct {
		meta map[string]string
		want string
	}{
		{map[string]string{"general.name": "Arctic-Text2SQL-R1-7B", "tokenizer.chat_template": chatML}, "arctic-text2sql-r1"},
		{map[string]string{"general.name": "OmniSQL 7B", "tokenizer.chat_template": chatML}, "omnisql"},
		{map[string]string{"general.name": "XiYanSQL QwenCoder 7B 2504", "tokenizer.chat_template": chatML}, "xiyan"},
		{map[string]string{"general.name": "Qwen2.5 Coder 7B Instruct", "tokenizer.chat_template": chatML}, InstructTemplate},
		{map[string]string{"general.name": "Smollm2 135M 8k Lc100K Mix1 Ep2", "tokenizer.chat_template": chatML}, InstructTemplate},
		{map[string]string{"general.name": "Gemma 3 270m"}, DefaultTemplate}, // a base model: no chat template
		{map[string]string{"general.name": "sqlcoder-7b-2", "tokenizer.chat_template": chatML}, "sqlcoder-7b-2"},
	}
	for _, tt := range tests {
		got, err := SelectTemplate("", tt.meta)
		if err != nil || got.Name != tt.want {
			t.Errorf("SelectTemplate(%v) = %v, %v; want %s", tt.meta, got, err, tt.want)
		}
	}
}

func TestParseChatTemplateErrors(t *testing.T) {
	for _, src := range []string{
		"name: x\nformat: chat\n---\nno turn line",
		"name: x\nformat: chat\n---\n=== robot\nhi",
		"name: x\nformat: chat\n---\n=== assistant\nhi\n=== user\nq",
		"name: x\nformat: chat\n---\n=== assistant\nonly",
		"name: x\nformat: poem\n---\nbody",
		"name: x\nanswer: middle\n---\nbody",
		"name: x\ngrammar-trigger: ```\n---\nbody",
	} {
		if _, err := parseTemplate(src); err == nil {
			t.Errorf("parseTemplate(%q): no error", src)
		}
	}
}

// TestXiyanGetsMSchema: the xiyan template renders the schema as M-Schema.
func TestXiyanGetsMSchema(t *testing.T) {
	e := &scriptedEngine{answers: []string{"SELECT name FROM customers\n```"}}
	tr := newTestTranslator(t, e, Options{Template: mustTemplate(t, "xiyan")})
	req := shopRequest(t, "names?", nil)
	if _, err := tr.Translate(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	if want := introspect.RenderMSchema(req.Schema); !strings.Contains(e.reqs[0].Prompt, want) || !strings.Contains(want, "# Table: customers") {
		t.Errorf("prompt lacks the M-Schema:\n%s", e.reqs[0].Prompt)
	}
}
