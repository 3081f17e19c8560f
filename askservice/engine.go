package askservice

import (
	"context"
	"errors"
	"log/slog"
	"strings"

	"github.com/pgask/pgask/proxy/ask"
	"github.com/pgask/pgask/translate"
)

// Engine starts the model a Service translates with. Llama, OpenAI and EngineOf are the
// engines pgask knows; any other implementation plugs in the same way.
type Engine interface {
	// Start loads the model or connects to it. When it fails, the Service answers every ASK
	// with an error: the *ask.UnavailableError in err's chain when there is one (it carries
	// the hint clients see), else one made from err's first line.
	Start(ctx context.Context, log *slog.Logger) (*Started, error)
}

// Started is a running engine.
type Started struct {
	// Engine generates completions; required.
	Engine translate.Engine
	// Model identifies the model in translation cache keys (a file name and size, a URL).
	Model string
	// Metadata selects the prompt template when Options.Template is empty (GGUF keys:
	// general.name, general.basename, tokenizer.chat_template); nil selects the default.
	Metadata map[string]string
	// Stats reads the engine's queue counters; nil when it has none.
	Stats func() EngineStats
	// Close releases the engine when the Service closes; nil when there is nothing to release.
	Close func() error
}

// EngineStats are an engine's queue counters, for metrics.
type EngineStats struct {
	QueueFull int64 // generations refused because the queue was full
	Queued    int64 // generations waiting now
	Busy      int64 // generations running now
}

// EngineFunc is an Engine made of its Start function.
type EngineFunc func(ctx context.Context, log *slog.Logger) (*Started, error)

// Start calls f.
func (f EngineFunc) Start(ctx context.Context, log *slog.Logger) (*Started, error) {
	return f(ctx, log)
}

// EngineOf plugs in an engine the caller has built and will close itself (a test's scripted
// model, say); model identifies it in translation cache keys.
func EngineOf(e translate.Engine, model string) Engine {
	return EngineFunc(func(context.Context, *slog.Logger) (*Started, error) {
		if e == nil {
			return nil, errors.New("no engine given")
		}
		return &Started{Engine: e, Model: model}, nil
	})
}

// startError is an engine's start failure (what is logged) with what clients are told.
type startError struct {
	err error
	ue  *ask.UnavailableError
}

func (e *startError) Error() string   { return e.err.Error() }
func (e *startError) Unwrap() []error { return []error{e.err, e.ue} }

// unavailable is what clients are told when an engine failed to start with err.
func unavailable(err error) *ask.UnavailableError {
	var ue *ask.UnavailableError
	if errors.As(err, &ue) {
		return ue
	}
	return &ask.UnavailableError{Reason: "the engine could not be started: " + firstLine(err.Error())}
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
