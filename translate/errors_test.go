package translate

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// An engine's queue-full error is ErrQueueFull to errors.Is, and the message says so once.
func TestQueueFull(t *testing.T) {
	engineErr := errors.New("llama: request queue full")
	err := QueueFull(fmt.Errorf("generate: %w", engineErr))
	if !errors.Is(err, ErrQueueFull) || !errors.Is(err, engineErr) {
		t.Fatalf("errors.Is fails for %v", err)
	}
	msg := (&Error{Kind: ErrQueueFull, Err: err}).Error()
	if strings.Count(msg, "queue full") != 2 || strings.Count(msg, "model queue full") != 1 {
		t.Errorf("message %q: want the kind once and the engine's words once", msg)
	}
}
