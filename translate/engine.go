// Package translate turns a question and a database schema into one checked, read-only SQL
// statement: it renders a model family's prompt, generates with an Engine (optionally under a
// schema-constrained GBNF grammar), extracts the SQL from the completion, checks it statically
// and with the caller's Checker (EXPLAIN), and re-prompts with Postgres' error message when the
// check fails. It knows nothing of the wire protocol and holds no cgo.
package translate

import (
	"context"
	"strings"
	"time"
)

// Engine generates a completion for a prompt. The in-process llama.cpp model and the
// OpenAI-compatible HTTP client (translate/openai) both fit it, as do test fakes.
//
// An Engine that refuses work because its queue is full returns an error marked with
// QueueFull (errors.Is(err, ErrQueueFull)); a generation stopped by ctx returns an error
// wrapping ctx.Err().
type Engine interface {
	Generate(ctx context.Context, req GenerateRequest) (GenerateResult, error)
}

// GenerateRequest is one completion request.
type GenerateRequest struct {
	Prompt    string
	Grammar   string // GBNF; "" = unconstrained
	MaxTokens int    // new tokens at most; 0 = the engine's default
	// Temperature > 0 samples (seeded by Seed, so the same request gives the same text);
	// 0 decodes greedily (or as the engine is configured).
	Temperature float32
	Seed        uint32
	Stop        []string // generation ends before the first of these strings
}

// GenerateResult is a completion and what it cost.
type GenerateResult struct {
	Text            string
	PromptTokens    int
	ReusedTokens    int // prompt tokens whose KV cache was reused (0 when unknown)
	GeneratedTokens int
	StopReason      string // engine-specific: "stop", "length", "eos", ...
	GrammarFallback int    // steps where the sampled token broke the grammar (lazy grammar engines)

	QueueWait  time.Duration // waiting for the engine (0 when unknown)
	PromptEval time.Duration // evaluating the new part of the prompt (0 when unknown)
	Generation time.Duration // generating (for HTTP engines: the whole request)
}

// ChatFormatter turns chat messages into the prompt text of one model, with the opening of the
// assistant's turn at the end. The in-process engine implements it with the chat template the
// GGUF carries; a Translator whose engine does not gets FormatChatML.
type ChatFormatter interface {
	FormatChat(msgs []ChatMessage) (string, error)
}

// FormatChatML formats msgs in ChatML (<|im_start|>role … <|im_end|>), the template of the
// Qwen family that OmniSQL, Arctic-Text2SQL-R1 and XiYan-SQL are fine-tuned from.
func FormatChatML(msgs []ChatMessage) (string, error) {
	var b strings.Builder
	for _, m := range msgs {
		b.WriteString("<|im_start|>" + m.Role + "\n" + m.Content + "<|im_end|>\n")
	}
	b.WriteString("<|im_start|>assistant\n")
	return b.String(), nil
}
