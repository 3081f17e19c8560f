package askservice

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/pgask/pgask/proxy/ask"
	"github.com/pgask/pgask/translate/llama"
	"github.com/pgask/pgask/translate/models"
)

// Llama is the in-process llama.cpp engine over a GGUF model, downloaded first when Model
// names a known model or a URL that is not in CacheDir yet.
type Llama struct {
	// Model is a GGUF file, a known model's name or alias (translate/models), or an http(s)
	// URL (model.path).
	Model string
	// CacheDir holds downloaded models (model.cache-dir); "" = models.DefaultDir().
	CacheDir string
	// Download allows fetching a known model that is not in CacheDir (model.download).
	Download bool
	// Progress receives a download's progress bar (models.TerminalProgress); nil = none.
	Progress io.Writer
	// Options shape the loaded model: GPU layers, context size, threads, parallel contexts,
	// queue depth, log level.
	Options llama.Options
}

// Start resolves the model to a local file and loads it.
func (l Llama) Start(ctx context.Context, log *slog.Logger) (*Started, error) {
	path, err := l.resolve(ctx, log)
	if err != nil {
		return nil, l.failed(err)
	}
	m, err := llama.Load(ctx, path, l.Options, log)
	if err != nil {
		return nil, l.failed(fmt.Errorf("load model %s: %w", path, err))
	}
	md := m.Metadata()
	id := filepath.Base(path)
	if fi, err := os.Stat(path); err == nil {
		id = fmt.Sprintf("%s:%d", id, fi.Size())
	}
	log.Info("model loaded", "path", path, "name", md.Name, "description", md.Description, "context", md.ContextSize)
	return &Started{
		Engine: llama.NewEngine(m),
		Model:  id,
		Metadata: map[string]string{
			"general.architecture":    md.Architecture,
			"general.name":            md.Name,
			"tokenizer.chat_template": md.ChatTemplate,
			"file":                    filepath.Base(path),
		},
		Stats: func() EngineStats {
			st := m.Stats()
			return EngineStats{QueueFull: st.QueueFull, Queued: st.Queued, Busy: st.Busy}
		},
		Close: m.Close,
	}, nil
}

// resolve turns Model into a local file, downloading a known model when allowed.
func (l Llama) resolve(ctx context.Context, log *slog.Logger) (string, error) {
	ref := l.Model
	if fi, err := os.Stat(ref); err == nil && fi.Mode().IsRegular() {
		return ref, nil
	}
	dir := l.CacheDir
	if dir == "" {
		d, err := models.DefaultDir()
		if err != nil {
			return "", err
		}
		dir = d
	}
	st := &models.Store{Dir: dir, Logger: log, Progress: l.Progress}
	if !l.Download {
		if k, ok := st.Lookup(ref); ok {
			p := filepath.Join(dir, k.File)
			if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
				return p, nil
			}
			return "", fmt.Errorf("model %s is not in %s and model.download is off", ref, dir)
		}
	}
	return st.Resolve(ctx, ref)
}

// failed is err with what clients are told: the model, why, and how to supply it.
func (l Llama) failed(err error) error {
	ref := l.Model
	hint := fmt.Sprintf("Download it with `pgask pull %s` (same model.cache-dir), then start pgask again.", ref)
	if _, known := (&models.Store{}).Lookup(ref); !known && !strings.Contains(ref, "://") {
		hint = fmt.Sprintf("Check that %s exists and is a readable GGUF file, or set model.path (--model) to a known model name (pgask pull --list), then start pgask again.", ref)
	}
	return &startError{err: err, ue: &ask.UnavailableError{
		Reason: fmt.Sprintf("model %q could not be loaded: %v", ref, firstLine(err.Error())),
		Hint:   hint,
	}}
}
