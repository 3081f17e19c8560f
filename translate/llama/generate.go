package llama

/*
#include "binding.h"
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"
	"unsafe"
)

// Stop reasons reported in Result.StopReason.
const (
	StopEOS         = "eos"          // the model ended its output (or the grammar's language was complete)
	StopString      = "stop"         // a stop string appeared; it is not part of Text
	StopMaxTokens   = "max_tokens"   // MaxTokens tokens were generated
	StopContextFull = "context_full" // the context window filled up before any other reason
	StopRepetition  = "repetition"   // the output went round in a loop (see looping)
)

// DefaultMaxTokens is the token budget of a Request that sets none.
const DefaultMaxTokens = 512

// Request is one generation.
type Request struct {
	Prompt    string   // BOS is added unless the text starts with it; special-token text is parsed
	Grammar   string   // GBNF with a "root" rule; empty = unconstrained
	MaxTokens int      // 0 = DefaultMaxTokens
	Stop      []string // generation ends at the first of these strings, which is cut from the text

	// Sampling: greedy unless Temperature > 0, then top-k/top-p/temperature sampling seeded by Seed.
	Temperature float32
	TopK        int     // 0 = 40 (when sampling)
	TopP        float32 // 0 = 0.95 (when sampling)
	Seed        uint32

	// OnToken, when set, receives the text as it is generated, in order, never a part of a stop
	// string or of an incomplete UTF-8 sequence. Returning an error ends the generation with it.
	// It runs on the context's goroutine: keep it short.
	OnToken func(piece string) error
}

// Result is what a generation produced.
type Result struct {
	Text            string  // generated text, without the prompt and the stop string
	Tokens          []int32 // generated tokens (the EOS token excluded)
	StopReason      string  // StopEOS, StopString, StopMaxTokens or StopContextFull
	PromptTokens    int     // tokens of the prompt
	ReusedTokens    int     // prompt tokens found in the KV cache
	GeneratedTokens int     // tokens decoded after the prompt (len(Tokens))
	GrammarFallback int     // steps where the greedy choice broke the grammar and all candidates were filtered

	QueueWait  time.Duration // time waiting for a free context
	PromptEval time.Duration // time decoding the new part of the prompt
	Generation time.Duration // time generating
}

// job states
const (
	jobQueued int32 = iota
	jobRunning
	jobAbandoned
)

type job struct {
	ctx    context.Context
	req    Request
	queued time.Time
	state  atomic.Int32
	done   chan struct{}
	res    Result
	err    error
}

func (j *job) finish(r Result, err error) {
	j.res, j.err = r, err
	close(j.done)
}

// Generate runs req on the first free context. When every context is busy and QueueDepth requests
// already wait, it fails at once with ErrQueueFull. Cancelling ctx ends a queued request at once
// and a running one within one token step; the error then wraps ctx.Err().
func (m *Model) Generate(ctx context.Context, req Request) (Result, error) {
	if err := ctx.Err(); err != nil {
		return Result{}, fmt.Errorf("generate: %w", err)
	}
	j := &job{ctx: ctx, req: req, queued: time.Now(), done: make(chan struct{})}
	m.mu.RLock()
	if m.closed {
		m.mu.RUnlock()
		return Result{}, fmt.Errorf("generate: %w", ErrClosed)
	}
	select {
	case m.queue <- j:
		m.mu.RUnlock()
	default:
		m.mu.RUnlock()
		m.stats.queueFull.Add(1)
		return Result{}, fmt.Errorf("generate: %w", ErrQueueFull)
	}
	select {
	case <-j.done:
	case <-ctx.Done():
		if j.state.CompareAndSwap(jobQueued, jobAbandoned) {
			return Result{}, fmt.Errorf("generate: %w", ctx.Err())
		}
		<-j.done // running: the worker notices within one token step
	}
	if j.err != nil {
		return j.res, fmt.Errorf("generate: %w", j.err)
	}
	return j.res, nil
}

// lctx is one llama context with its batch, candidate buffer and the tokens its KV cache holds for
// sequence 0. Only its worker goroutine touches it after Load.
type lctx struct {
	m     *Model
	c     *C.struct_llama_context
	mem   C.llama_memory_t
	batch C.struct_llama_batch
	flag  *C.int // abort flag read by llama_decode's abort callback
	pool  *C.struct_ggml_threadpool
	cands *C.llama_token_data
	nctx  int
	nbat  int

	cached []int32 // tokens whose keys/values are in the cache, in position order
}

func newLctx(m *Model, o Options) (*lctx, error) {
	lc := &lctx{m: m, nctx: o.ContextSize, nbat: o.BatchSize}
	lc.flag = C.pgask_flag_new()
	cp := C.llama_context_default_params()
	cp.n_ctx = C.uint32_t(o.ContextSize)
	cp.n_batch = C.uint32_t(o.BatchSize)
	cp.n_ubatch = C.uint32_t(o.BatchSize)
	cp.n_seq_max = 1
	cp.n_threads = C.int32_t(o.Threads)
	cp.n_threads_batch = C.int32_t(o.Threads)
	cp.no_perf = true
	C.pgask_set_abort(&cp, lc.flag)
	lc.c = C.llama_init_from_model(m.c, cp)
	if lc.c == nil {
		C.free(unsafe.Pointer(lc.flag))
		return nil, errors.New("llama.cpp cannot create the context (out of memory? see its log)")
	}
	if o.Threads > 1 {
		lc.pool = C.pgask_threadpool_new(C.int(o.Threads), C.int(o.ThreadPoll))
		if lc.pool == nil {
			C.llama_free(lc.c)
			C.free(unsafe.Pointer(lc.flag))
			return nil, errors.New("ggml cannot create the thread pool")
		}
		C.llama_attach_threadpool(lc.c, lc.pool, lc.pool)
	}
	lc.nctx = int(C.llama_n_ctx(lc.c))
	lc.mem = C.llama_get_memory(lc.c)
	lc.batch = C.llama_batch_init(C.int32_t(o.BatchSize), 0, 1)
	lc.cands = (*C.llama_token_data)(C.malloc(C.size_t(m.meta.VocabSize) * C.size_t(unsafe.Sizeof(C.llama_token_data{}))))
	return lc, nil
}

func (lc *lctx) free() {
	if lc.c == nil {
		return
	}
	C.llama_batch_free(lc.batch)
	C.llama_free(lc.c)
	if lc.pool != nil {
		C.ggml_threadpool_free(lc.pool)
	}
	C.free(unsafe.Pointer(lc.flag))
	C.free(unsafe.Pointer(lc.cands))
	lc.c = nil
}

func (m *Model) work(lc *lctx) {
	defer m.workers.Done()
	for {
		select {
		case <-m.quit:
			return
		case j := <-m.queue:
			if !j.state.CompareAndSwap(jobQueued, jobRunning) {
				continue // abandoned while queued
			}
			if m.base.Err() != nil { // Close began: do not start new work
				j.finish(Result{}, ErrClosed)
				continue
			}
			wait := time.Since(j.queued)
			m.stats.busy.Add(1)
			res, err := lc.run(j.ctx, j.req)
			m.stats.busy.Add(-1)
			if err != nil && j.ctx.Err() == nil && m.base.Err() != nil {
				err = ErrClosed // aborted by Close, not by the caller
			}
			res.QueueWait = wait
			j.finish(res, err)
		}
	}
}

// run executes one request. The abort flag is raised when ctx or the model ends, so that even a
// long prompt decode stops between graph nodes.
func (lc *lctx) run(ctx context.Context, req Request) (res Result, err error) {
	m := lc.m
	m.stats.requests.Add(1)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopModel := context.AfterFunc(m.base, cancel)
	defer stopModel()
	C.pgask_flag_set(lc.flag, 0)
	raised := make(chan struct{})
	stopFlag := context.AfterFunc(ctx, func() { C.pgask_flag_set(lc.flag, 1); close(raised) })
	defer func() {
		if !stopFlag() {
			<-raised // the flag must not be raised after the next request cleared it
		}
	}()

	prompt, err := tokenize(m.vocab, req.Prompt, true)
	if err != nil {
		return res, err
	}
	if len(prompt) == 0 {
		return res, errors.New("empty prompt")
	}
	if bos := m.meta.BOS; len(prompt) >= 2 && bos >= 0 && prompt[0] == bos && prompt[1] == bos {
		prompt = prompt[1:] // the template wrote BOS itself (e.g. <|begin_of_text|>)
	}
	res.PromptTokens = len(prompt)
	m.stats.promptTokens.Add(int64(len(prompt)))
	if len(prompt) >= lc.nctx {
		return res, fmt.Errorf("%w: %d tokens, context %d", ErrPromptTooLong, len(prompt), lc.nctx)
	}

	var grammar, chain *C.struct_llama_sampler
	if req.Grammar != "" {
		cg := C.CString(req.Grammar)
		croot := C.CString("root")
		grammar = C.llama_sampler_init_grammar(m.vocab, cg, croot)
		C.free(unsafe.Pointer(cg))
		C.free(unsafe.Pointer(croot))
		if grammar == nil {
			return res, fmt.Errorf("%w: does not parse (llama.cpp's log says where)", ErrGrammar)
		}
		defer C.llama_sampler_free(grammar)
	}
	if req.Temperature > 0 {
		chain = C.llama_sampler_chain_init(C.llama_sampler_chain_default_params())
		topK, topP := req.TopK, req.TopP
		if topK <= 0 {
			topK = 40
		}
		if topP <= 0 {
			topP = 0.95
		}
		C.llama_sampler_chain_add(chain, C.llama_sampler_init_top_k(C.int32_t(topK)))
		C.llama_sampler_chain_add(chain, C.llama_sampler_init_top_p(C.float(topP), 1))
		C.llama_sampler_chain_add(chain, C.llama_sampler_init_temp(C.float(req.Temperature)))
		C.llama_sampler_chain_add(chain, C.llama_sampler_init_dist(C.uint32_t(req.Seed)))
		defer C.llama_sampler_free(chain)
	}

	// Prefix reuse: keep what the cache already holds of this prompt, decode the rest. At least
	// one token is decoded, for its logits.
	keep := 0
	for keep < len(lc.cached) && keep < len(prompt)-1 && lc.cached[keep] == prompt[keep] {
		keep++
	}
	if !C.llama_memory_seq_rm(lc.mem, 0, C.llama_pos(keep), -1) {
		keep = 0
		C.llama_memory_clear(lc.mem, true)
	}
	lc.cached = lc.cached[:keep]
	res.ReusedTokens = keep
	m.stats.promptReused.Add(int64(keep))

	start := time.Now()
	for i := keep; i < len(prompt); i += lc.nbat {
		chunk := prompt[i:min(i+lc.nbat, len(prompt))]
		if err := lc.decode(ctx, chunk, i+len(chunk) == len(prompt)); err != nil {
			return res, fmt.Errorf("evaluate prompt: %w", err)
		}
		m.stats.promptEvaluated.Add(int64(len(chunk)))
	}
	res.PromptEval = time.Since(start)

	maxTokens := req.MaxTokens
	if maxTokens <= 0 {
		maxTokens = DefaultMaxTokens
	}
	start = time.Now()
	defer func() {
		res.Generation = time.Since(start)
		res.GeneratedTokens = len(res.Tokens)
		m.stats.generated.Add(int64(len(res.Tokens)))
	}()
	out := newStreamer(req)
	nv := C.int(m.meta.VocabSize)
	var piece [256]byte
	for {
		if err := ctx.Err(); err != nil {
			res.Text = out.text()
			return res, err
		}
		if m.base.Err() != nil {
			// Close began. ctx learns of it through an AfterFunc goroutine, a moment later;
			// the running request stops at this token, not whenever that goroutine runs.
			res.Text = out.text()
			return res, ErrClosed
		}
		logits := C.llama_get_logits_ith(lc.c, -1)
		if logits == nil {
			return res, errors.New("no logits after decode")
		}
		var tok C.llama_token
		if chain == nil {
			tok = C.pgask_argmax(logits, nv)
		} else {
			tok = C.pgask_pick(nil, chain, logits, lc.cands, nv)
		}
		if grammar != nil && !C.pgask_grammar_allows(grammar, tok, *(*C.float)(unsafe.Add(unsafe.Pointer(logits), uintptr(tok)*4))) {
			res.GrammarFallback++
			tok = -1
			if chain == nil {
				tok = C.pgask_pick_topk(grammar, logits, nv, 64)
			}
			if tok < 0 {
				tok = C.pgask_pick(grammar, chain, logits, lc.cands, nv)
			}
			if tok < 0 {
				res.Text = out.text()
				return res, fmt.Errorf("%w: no token allowed after %q", ErrGrammar, out.text())
			}
		}
		if C.llama_vocab_is_eog(m.vocab, tok) {
			res.StopReason = StopEOS
			break
		}
		if grammar != nil {
			C.llama_sampler_accept(grammar, tok)
		}
		if chain != nil {
			C.llama_sampler_accept(chain, tok)
		}
		res.Tokens = append(res.Tokens, int32(tok))
		n := C.llama_token_to_piece(m.vocab, tok, (*C.char)(unsafe.Pointer(&piece[0])), C.int32_t(len(piece)), 0, false)
		if n < 0 {
			return res, fmt.Errorf("token %d: piece longer than %d bytes", tok, len(piece))
		}
		stopped, err := out.add(piece[:n])
		if err != nil {
			res.Text = out.text()
			return res, err
		}
		if stopped {
			res.StopReason = StopString
			break
		}
		if len(res.Tokens) >= maxTokens {
			res.StopReason = StopMaxTokens
			break
		}
		if looping(res.Tokens) {
			res.StopReason = StopRepetition
			break
		}
		if len(lc.cached) >= lc.nctx {
			res.StopReason = StopContextFull
			break
		}
		if err := lc.decode(ctx, []int32{int32(tok)}, true); err != nil {
			res.Text = out.text()
			return res, err
		}
	}
	if err := out.flush(); err != nil {
		res.Text = out.text()
		return res, err
	}
	res.Text = out.text()
	return res, nil
}

// decode evaluates toks at the end of the cached sequence. On failure the cache is cleared: an
// aborted decode may leave part of a batch in it.
func (lc *lctx) decode(ctx context.Context, toks []int32, logits bool) error {
	C.pgask_batch_fill(&lc.batch, (*C.llama_token)(unsafe.Pointer(&toks[0])), C.int(len(toks)), C.int(len(lc.cached)), C.bool(logits))
	rc := C.llama_decode(lc.c, lc.batch)
	if rc != 0 {
		C.llama_memory_clear(lc.mem, true)
		lc.cached = lc.cached[:0]
		if err := ctx.Err(); err != nil {
			return err
		}
		switch rc {
		case 1:
			return errors.New("decode: no room in the KV cache")
		case 2:
			return errors.New("decode: aborted")
		}
		return fmt.Errorf("decode: llama_decode returned %d", int(rc))
	}
	lc.cached = append(lc.cached, toks...)
	return nil
}

// streamer accumulates generated bytes, finds stop strings and hands OnToken only text that can
// no longer turn out to be part of a stop string or of an unfinished UTF-8 sequence.
type streamer struct {
	buf     []byte
	emitted int
	stop    []string
	on      func(string) error
	cut     int // length of the final text, once a stop string was found; -1 before
}

func newStreamer(req Request) *streamer {
	s := &streamer{on: req.OnToken, cut: -1}
	for _, st := range req.Stop {
		if st != "" {
			s.stop = append(s.stop, st)
		}
	}
	return s
}

func (s *streamer) text() string {
	if s.cut >= 0 {
		return string(s.buf[:s.cut])
	}
	return string(s.buf)
}

// add appends a piece and reports whether a stop string now appears.
func (s *streamer) add(p []byte) (bool, error) {
	from := max(0, len(s.buf)-s.maxStop())
	s.buf = append(s.buf, p...)
	first := -1
	for _, st := range s.stop {
		if i := strings.Index(string(s.buf[from:]), st); i >= 0 && (first < 0 || from+i < first) {
			first = from + i
		}
	}
	if first >= 0 {
		s.cut = first
		return true, s.emit(first)
	}
	return false, s.emit(s.safeEnd())
}

func (s *streamer) maxStop() int {
	n := 0
	for _, st := range s.stop {
		n = max(n, len(st))
	}
	return n
}

// safeEnd is the end of the text that can be shown: before any suffix that starts a stop string
// and before an incomplete UTF-8 sequence.
func (s *streamer) safeEnd() int {
	end := len(s.buf)
	for _, st := range s.stop {
		for k := min(len(st)-1, len(s.buf)); k > 0; k-- {
			if strings.HasSuffix(string(s.buf), st[:k]) {
				end = min(end, len(s.buf)-k)
				break
			}
		}
	}
	// back off over a trailing partial rune (at most 3 bytes)
	for back := 1; back <= 3 && back <= end; back++ {
		c := s.buf[end-back]
		if c < 0x80 {
			break
		}
		if utf8.RuneStart(c) {
			if !utf8.FullRune(s.buf[end-back : end]) {
				end -= back
			}
			break
		}
	}
	return end
}

func (s *streamer) emit(end int) error {
	if s.on == nil || end <= s.emitted {
		return nil
	}
	chunk := string(s.buf[s.emitted:end])
	s.emitted = end
	return s.on(chunk)
}

// flush hands OnToken the text held back at the end of the generation.
func (s *streamer) flush() error {
	end := len(s.buf)
	if s.cut >= 0 {
		end = s.cut
	}
	return s.emit(end)
}

// clearCache empties lc's KV cache (benchmarks start every run from an empty context).
func clearCache(lc *lctx) {
	C.llama_memory_clear(lc.mem, true)
	lc.cached = lc.cached[:0]
}

// Loop detection: greedy decoding of a small model often falls into a loop ("a, b, b, b, b, …")
// that only MaxTokens ends. The output is looping when its last loopSpan or more tokens are
// one block of at most loopPeriod tokens repeated at least loopRepeats times.
const (
	loopPeriod  = 16
	loopRepeats = 4
	loopSpan    = 32
)

// looping reports whether toks ends in a loop: period p ≤ loopPeriod, repeated so that the
// repeated tail is at least max(loopSpan, loopRepeats·p) tokens long. A run of one token
// (")))))") needs loopSpan copies, far more than SQL writes.
func looping(toks []int32) bool {
	n := len(toks)
	for p := 1; p <= loopPeriod; p++ {
		span := max(loopSpan, loopRepeats*p)
		if n < span {
			return false
		}
		tail := toks[n-span:]
		periodic := true
		for i := p; i < span; i++ {
			if tail[i] != tail[i-p] {
				periodic = false
				break
			}
		}
		if periodic {
			return true
		}
	}
	return false
}
