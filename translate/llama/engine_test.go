package llama

import (
	"context"
	"errors"
	"runtime"
	"testing"

	"github.com/pgask/pgask/translate"
)

// NewEngine passes a request and its result through as translate has them, marks a full queue
// with translate.ErrQueueFull and formats chats with the GGUF's template.
func TestEngine(t *testing.T) {
	m := load(t, models.f32, Options{QueueDepth: 1})
	e := NewEngine(m)
	ctx := ctxTimeout(t)

	r, err := e.Generate(ctx, translate.GenerateRequest{Prompt: "users", Grammar: narrowGrammar, MaxTokens: 64})
	if err != nil {
		t.Fatal(err)
	}
	if !narrowRE.MatchString(r.Text) || r.GeneratedTokens == 0 || r.PromptTokens == 0 || r.StopReason == "" {
		t.Errorf("Generate = %+v", r)
	}

	release := make(chan struct{})
	first := blockWorker(t, m, release)
	queued := make(chan error, 1)
	go func() {
		_, err := m.Generate(context.Background(), Request{Prompt: "y", MaxTokens: 2})
		queued <- err
	}()
	for len(m.queue) < 1 {
		runtime.Gosched()
	}
	if _, err := e.Generate(ctx, translate.GenerateRequest{Prompt: "z", MaxTokens: 2}); !errors.Is(err, translate.ErrQueueFull) || !errors.Is(err, ErrQueueFull) {
		t.Errorf("full queue: err = %v, want translate.ErrQueueFull wrapping ErrQueueFull", err)
	}
	close(release)
	for _, c := range []chan error{first, queued} {
		if err := <-c; err != nil {
			t.Error(err)
		}
	}

	// The test models carry a chat template llama.cpp does not recognise.
	if _, err := e.FormatChat([]translate.ChatMessage{{Role: "user", Content: "hi"}}); !errors.Is(err, ErrNoChatTemplate) {
		t.Errorf("FormatChat: err = %v, want ErrNoChatTemplate", err)
	}
}
