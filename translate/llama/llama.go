// Package llama is pgask's in-process inference engine: a small cgo binding over llama.cpp's
// llama.h, compiled from the sources that github.com/ollama/ollama vendors. It is the only cgo in
// pgask. A Model owns the weights, one or more llama contexts (each driven by one goroutine) and a
// bounded queue in front of them; Generate decodes greedily by default, applies a GBNF grammar
// lazily, stops at end of generation, stop strings or a token budget, and reuses the KV cache of a
// prompt prefix it has already evaluated. NewEngine makes a Model a translate.Engine.
//
// Build with the project's C flags (see the Makefile): ggml's CPU kernels compiled with Go's
// default cgo flags are baseline x86-64 and many times slower.
package llama

/*
#cgo CPPFLAGS: -I${SRCDIR}/include
#cgo CXXFLAGS: -std=c++17
#include "binding.h"
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"

	_ "github.com/ollama/ollama/llama/llama.cpp/src"
	ggml "github.com/ollama/ollama/ml/backend/ggml/ggml/src"
)

// Errors callers can test with errors.Is.
var (
	// ErrQueueFull: every context is busy and the queue in front of them holds QueueDepth requests.
	ErrQueueFull = errors.New("llama: request queue full")
	// ErrClosed: the model was closed.
	ErrClosed = errors.New("llama: model closed")
	// ErrPromptTooLong: the prompt does not fit in the context window.
	ErrPromptTooLong = errors.New("llama: prompt longer than the context window")
	// ErrGrammar: the grammar does not parse, or it allows no token at some step.
	ErrGrammar = errors.New("llama: grammar")
)

// Options configure Load. Zero values take the defaults noted beside them.
//
// Each of the Parallel contexts holds its own KV cache of ContextSize tokens and decodes with
// Threads threads. Threads > 1 runs ggml's thread pool, whose barriers spin: when other processes
// keep the cores busy (PostgreSQL on the same machine), decoding with more threads than idle cores
// slows down sharply, hence the default of one core fewer than the machine has.
type Options struct {
	GPULayers   int        // layers offloaded to a GPU; 0 = none (CPU only), < 0 = all
	ContextSize int        // tokens per context; 0 = min(model's training context, 4096)
	Threads     int        // decode threads per context; 0 = number of CPUs − 1 (at least 1)
	BatchSize   int        // prompt tokens per decode call; 0 = 512
	Parallel    int        // contexts, each with its own KV cache and goroutine; 0 = 1
	QueueDepth  int        // requests waiting for a free context before ErrQueueFull; 0 = 8
	LogLevel    slog.Level // llama.cpp/ggml log lines below this level are dropped; 0 = Info
	// ThreadPoll is how hard idle decode threads spin for the next graph before sleeping, 0–100
	// (ggml's polling level); 0 = 50, ggml's default; < 0 = never spin (kindest to a busy machine).
	ThreadPoll int
}

func (o Options) withDefaults() Options {
	if o.Threads <= 0 {
		o.Threads = max(1, runtime.NumCPU()-1)
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 512
	}
	if o.Parallel <= 0 {
		o.Parallel = 1
	}
	if o.QueueDepth <= 0 {
		o.QueueDepth = 8
	}
	switch {
	case o.ThreadPoll == 0:
		o.ThreadPoll = 50
	case o.ThreadPoll < 0:
		o.ThreadPoll = 0
	case o.ThreadPoll > 100:
		o.ThreadPoll = 100
	}
	if o.GPULayers < 0 {
		o.GPULayers = 999
	}
	return o
}

// Metadata describes a loaded model, read from its GGUF metadata.
type Metadata struct {
	Architecture  string // general.architecture, e.g. "llama"
	Name          string // general.name
	Description   string // llama.cpp's one-line description (type, size, quantisation)
	ContextLength int    // context length the model was trained with
	ContextSize   int    // context length of each of this Model's contexts
	ChatTemplate  string // tokenizer.chat_template; empty when the file has none
	// ChatBuiltin names the llama.cpp built-in chat format ApplyChatTemplate uses for a file
	// without tokenizer.chat_template whose architecture has one format (gemma*: "gemma");
	// empty otherwise.
	ChatBuiltin string
	VocabSize   int
	Params      uint64 // number of weights
	SizeBytes   uint64 // size of the weights
	BOS, EOS    int32  // special token ids (-1 when the vocabulary has none)

	// Where the layers run. Layers is the number of repeating blocks; llama.cpp offloads up to
	// Layers+1 (the blocks and the output layer) to the GPUs in Devices ("name (description)";
	// empty without a GPU backend); Offloaded is how many it did (0 = all on the CPU).
	Layers    int
	Offloaded int
	Devices   []string
}

// Stats are cumulative counters of a Model.
type Stats struct {
	Requests        int64 // Generate calls that reached a context
	QueueFull       int64 // Generate calls refused with ErrQueueFull
	PromptTokens    int64 // prompt tokens of all requests
	PromptEvaluated int64 // prompt tokens decoded
	PromptReused    int64 // prompt tokens found in the KV cache and not decoded again
	Generated       int64 // tokens generated

	Queued int64 // requests waiting for a context now (at most QueueDepth)
	Busy   int64 // contexts running a request now
}

// Model is a loaded GGUF model with its contexts. Its methods are safe for concurrent use.
type Model struct {
	logger *slog.Logger
	sink   *logSink
	opts   Options
	meta   Metadata

	c     *C.struct_llama_model
	vocab *C.struct_llama_vocab

	mu     sync.RWMutex // held for reading while C uses c/vocab outside the workers
	closed bool

	queue   chan *job
	quit    chan struct{}
	workers sync.WaitGroup
	ctxs    []*lctx
	stop    context.CancelFunc // cancels the model's base context on Close
	base    context.Context

	closeOnce sync.Once
	stats     struct {
		requests, queueFull, promptTokens, promptEvaluated, promptReused, generated atomic.Int64
		busy                                                                        atomic.Int64
	}
}

var backendInit = sync.OnceFunc(func() {
	// ggml.OnceLoad registers the CPU backend compiled in and loads the GPU backends
	// (libggml-cuda.so, ...) from each folder of OLLAMA_LIBRARY_PATH, else from
	// <executable's folder>/../lib/ollama; one that fails to load is skipped silently, hence
	// diagnoseBackends.
	ggml.OnceLoad()
	C.llama_backend_init()
	backendProblems = diagnoseBackends()
})

// Load reads the GGUF model at path and creates opts.Parallel contexts for it. ctx bounds the load
// (cancelling it aborts reading the weights). llama.cpp's log goes to logger from now on.
func Load(ctx context.Context, path string, opts Options, logger *slog.Logger) (*Model, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	opts = opts.withDefaults()
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("load model: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("load model: %w", err)
	}
	sink := &logSink{logger: logger, min: opts.LogLevel}
	installLogSink(sink)
	backendInit()
	logger.Info("llama.cpp system", "features", strings.TrimSpace(C.GoString(C.llama_print_system_info())),
		"devices", devices(), "gpu_offload", bool(C.llama_supports_gpu_offload()))

	flag := C.pgask_flag_new()
	defer C.free(unsafe.Pointer(flag))
	stopWatch := context.AfterFunc(ctx, func() { C.pgask_flag_set(flag, 1) })
	defer stopWatch()

	mp := C.llama_model_default_params()
	mp.n_gpu_layers = C.int32_t(opts.GPULayers)
	C.pgask_set_progress(&mp, flag)
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	cm := C.llama_model_load_from_file(cpath, mp)
	if cm == nil {
		removeLogSink(sink)
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("load model %s: %w", path, err)
		}
		return nil, fmt.Errorf("load model %s: llama.cpp cannot read it (not a GGUF model, truncated, or an unsupported architecture; its log says why)", path)
	}

	m := &Model{logger: logger, sink: sink, opts: opts, c: cm, vocab: C.llama_model_get_vocab(cm)}
	m.meta = m.readMetadata()
	if opts.ContextSize <= 0 {
		opts.ContextSize = min(m.meta.ContextLength, 4096)
		if opts.ContextSize <= 0 {
			opts.ContextSize = 4096
		}
		m.opts.ContextSize = opts.ContextSize
	}
	m.meta.ContextSize = opts.ContextSize
	m.meta.Layers = int(C.llama_model_n_layer(cm))
	for _, d := range gpuDevices(Devices()) {
		m.meta.Devices = append(m.meta.Devices, d.Name+" ("+d.Description+")")
	}
	if len(m.meta.Devices) > 0 {
		m.meta.Offloaded = min(opts.GPULayers, m.meta.Layers+1) // as llama.cpp's load_tensors
	}
	m.base, m.stop = context.WithCancel(context.Background())
	m.queue = make(chan *job, opts.QueueDepth)
	m.quit = make(chan struct{})
	for i := range opts.Parallel {
		lc, err := newLctx(m, opts)
		if err != nil {
			m.free()
			return nil, fmt.Errorf("load model %s: context %d: %w", path, i, err)
		}
		m.ctxs = append(m.ctxs, lc)
	}
	for _, lc := range m.ctxs {
		m.workers.Add(1)
		go m.work(lc)
	}
	logger.Info("model loaded", "path", path, "arch", m.meta.Architecture, "name", m.meta.Name,
		"desc", m.meta.Description, "ctx", opts.ContextSize, "threads", opts.Threads,
		"parallel", opts.Parallel, "gpu_layers", opts.GPULayers)
	logPlacement(logger, m)
	return m, nil
}

func devices() []string {
	var out []string
	for i := range C.ggml_backend_dev_count() {
		d := C.ggml_backend_dev_get(i)
		out = append(out, C.GoString(C.ggml_backend_dev_name(d))+" ("+C.GoString(C.ggml_backend_dev_description(d))+")")
	}
	return out
}

func (m *Model) readMetadata() Metadata {
	md := Metadata{
		Architecture:  m.metaString("general.architecture"),
		Name:          m.metaString("general.name"),
		ContextLength: int(C.llama_model_n_ctx_train(m.c)),
		VocabSize:     int(C.llama_vocab_n_tokens(m.vocab)),
		Params:        uint64(C.llama_model_n_params(m.c)),
		SizeBytes:     uint64(C.llama_model_size(m.c)),
		BOS:           int32(C.llama_vocab_bos(m.vocab)),
		EOS:           int32(C.llama_vocab_eos(m.vocab)),
	}
	if t := C.llama_model_chat_template(m.c, nil); t != nil {
		md.ChatTemplate = C.GoString(t)
	} else if strings.HasPrefix(md.Architecture, "gemma") {
		md.ChatBuiltin = "gemma" // every Gemma generation uses <start_of_turn>role … <end_of_turn>
	}
	buf := make([]byte, 256)
	if n := C.llama_model_desc(m.c, (*C.char)(unsafe.Pointer(&buf[0])), C.size_t(len(buf))); n > 0 {
		md.Description = string(buf[:min(int(n), len(buf)-1)])
	}
	return md
}

// metaString reads a GGUF metadata value as a string ("" when absent); m.c must be valid.
func (m *Model) metaString(key string) string {
	ck := C.CString(key)
	defer C.free(unsafe.Pointer(ck))
	n := C.llama_model_meta_val_str(m.c, ck, nil, 0)
	if n < 0 {
		return ""
	}
	buf := make([]byte, int(n)+1)
	C.llama_model_meta_val_str(m.c, ck, (*C.char)(unsafe.Pointer(&buf[0])), C.size_t(len(buf)))
	return string(buf[:n])
}

// Metadata returns what the GGUF file says about the model.
func (m *Model) Metadata() Metadata { return m.meta }

// Meta returns any GGUF metadata value (arrays excepted) as a string, and whether it exists.
func (m *Model) Meta(key string) (string, bool, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return "", false, ErrClosed
	}
	ck := C.CString(key)
	defer C.free(unsafe.Pointer(ck))
	if C.llama_model_meta_val_str(m.c, ck, nil, 0) < 0 {
		return "", false, nil
	}
	return m.metaString(key), true, nil
}

// Tokenize turns text into token ids. addSpecial adds the tokens the model puts around a text
// (BOS for llama). Special-token text such as "<|eot_id|>" is parsed as the special token, as chat
// templates need: callers must keep such text out of untrusted input.
func (m *Model) Tokenize(text string, addSpecial bool) ([]int32, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return nil, ErrClosed
	}
	return tokenize(m.vocab, text, addSpecial)
}

func tokenize(vocab *C.struct_llama_vocab, text string, addSpecial bool) ([]int32, error) {
	ctext := C.CString(text)
	defer C.free(unsafe.Pointer(ctext))
	toks := make([]int32, len(text)+2)
	for range 2 {
		var p *C.llama_token
		if len(toks) > 0 {
			p = (*C.llama_token)(unsafe.Pointer(&toks[0]))
		}
		n := C.llama_tokenize(vocab, ctext, C.int32_t(len(text)), p, C.int32_t(len(toks)), C.bool(addSpecial), true)
		switch {
		case n >= 0:
			return toks[:n], nil
		case n == C.INT32_MIN:
			return nil, fmt.Errorf("tokenize: text too long")
		}
		toks = make([]int32, -n)
	}
	return nil, fmt.Errorf("tokenize: token count changed between calls")
}

// Detokenize turns token ids back into text; special tokens (BOS, EOS) are left out.
func (m *Model) Detokenize(tokens []int32) (string, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return "", ErrClosed
	}
	if len(tokens) == 0 {
		return "", nil
	}
	nv := int32(m.meta.VocabSize)
	for _, t := range tokens {
		if t < 0 || t >= nv {
			return "", fmt.Errorf("detokenize: token %d outside the vocabulary (%d)", t, nv)
		}
	}
	if tokens[0] == m.meta.BOS {
		// llama.cpp keeps the SPM space prefix when BOS leads; without it the prefix is dropped,
		// so that Detokenize(Tokenize(s)) == s.
		tokens = tokens[1:]
		if len(tokens) == 0 {
			return "", nil
		}
	}
	buf := make([]byte, len(tokens)*8+16)
	for range 2 {
		n := C.llama_detokenize(m.vocab, (*C.llama_token)(unsafe.Pointer(&tokens[0])), C.int32_t(len(tokens)),
			(*C.char)(unsafe.Pointer(&buf[0])), C.int32_t(len(buf)), true, false)
		if n >= 0 {
			return string(buf[:n]), nil
		}
		buf = make([]byte, -n+1)
	}
	return "", fmt.Errorf("detokenize: text length changed between calls")
}

// Stats returns the model's cumulative counters.
func (m *Model) Stats() Stats {
	return Stats{
		Requests:        m.stats.requests.Load(),
		QueueFull:       m.stats.queueFull.Load(),
		PromptTokens:    m.stats.promptTokens.Load(),
		PromptEvaluated: m.stats.promptEvaluated.Load(),
		PromptReused:    m.stats.promptReused.Load(),
		Generated:       m.stats.generated.Load(),
		Queued:          int64(len(m.queue)),
		Busy:            m.stats.busy.Load(),
	}
}

// Close aborts running requests, fails queued ones with ErrClosed and frees the contexts and the
// weights. It is safe to call more than once and concurrently with other methods.
func (m *Model) Close() error {
	m.closeOnce.Do(func() {
		m.mu.Lock()
		m.closed = true
		m.mu.Unlock()
		m.stop()
		close(m.quit)
		m.workers.Wait()
		for len(m.queue) > 0 {
			(<-m.queue).finish(Result{}, ErrClosed)
		}
		m.free()
		m.logger.Debug("model closed")
	})
	return nil
}

func (m *Model) free() {
	for _, lc := range m.ctxs {
		lc.free()
	}
	m.ctxs = nil
	if m.c != nil {
		C.llama_model_free(m.c)
		m.c = nil
	}
	removeLogSink(m.sink)
}
