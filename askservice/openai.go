package askservice

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/pgask/pgask/proxy/ask"
	"github.com/pgask/pgask/translate/openai"
)

// OpenAI is an OpenAI-compatible completions server (vLLM, llama.cpp's server, Ollama). With
// no Options.Template, the template is selected by Config.Model's name.
type OpenAI struct {
	Config openai.Config
}

// Start sets up the HTTP client; it does not contact the server.
func (o OpenAI) Start(_ context.Context, log *slog.Logger) (*Started, error) {
	e, err := openai.New(o.Config, log)
	if err != nil {
		return nil, &startError{err: err, ue: &ask.UnavailableError{
			Reason: fmt.Sprintf("the OpenAI-compatible engine at %s could not be set up: %v", o.Config.URL, err),
			Hint:   "Check openai.url and openai.model.",
		}}
	}
	return &Started{
		Engine:   e,
		Model:    "openai:" + o.Config.URL + ":" + o.Config.Model,
		Metadata: map[string]string{"general.name": o.Config.Model},
	}, nil
}
