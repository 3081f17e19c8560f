package llama

import (
	"context"
	"errors"

	"github.com/pgask/pgask/translate"
)

// Engine is a Model as translate sees it: a translate.Engine whose prompts of chat templates
// are formatted with the chat template the GGUF carries (translate.ChatFormatter).
type Engine struct{ m *Model }

var (
	_ translate.Engine        = (*Engine)(nil)
	_ translate.ChatFormatter = (*Engine)(nil)
)

// NewEngine returns m as a translate.Engine. Closing m is still the caller's.
func NewEngine(m *Model) *Engine { return &Engine{m: m} }

// Generate runs req on the model; a full queue gives an error marked translate.QueueFull.
func (e *Engine) Generate(ctx context.Context, req translate.GenerateRequest) (translate.GenerateResult, error) {
	r, err := e.m.Generate(ctx, Request{Prompt: req.Prompt, Grammar: req.Grammar,
		MaxTokens: req.MaxTokens, Stop: req.Stop, Temperature: req.Temperature, Seed: req.Seed})
	if errors.Is(err, ErrQueueFull) {
		err = translate.QueueFull(err)
	}
	return translate.GenerateResult{
		Text:            r.Text,
		PromptTokens:    r.PromptTokens,
		ReusedTokens:    r.ReusedTokens,
		GeneratedTokens: r.GeneratedTokens,
		StopReason:      r.StopReason,
		GrammarFallback: r.GrammarFallback,
		QueueWait:       r.QueueWait,
		PromptEval:      r.PromptEval,
		Generation:      r.Generation,
	}, err
}

// FormatChat applies the chat template the GGUF carries, ending with the opening of the
// assistant's turn.
func (e *Engine) FormatChat(msgs []translate.ChatMessage) (string, error) {
	lm := make([]ChatMessage, len(msgs))
	for i, m := range msgs {
		lm[i] = ChatMessage{Role: m.Role, Content: m.Content}
	}
	return e.m.ApplyChatTemplate(lm, true)
}
