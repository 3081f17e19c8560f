package llama

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pgask/pgask/internal/testmodel"
)

// models holds the generated test models, written once by TestMain.
var models struct {
	dir            string
	f32, f16, q8_0 string
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "llama-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	models.dir = dir
	for _, mm := range []struct {
		path *string
		typ  testmodel.Type
	}{{&models.f32, testmodel.F32}, {&models.f16, testmodel.F16}, {&models.q8_0, testmodel.Q8_0}} {
		*mm.path = filepath.Join(dir, mm.typ.String()+".gguf")
		opts := testmodel.Options{Type: mm.typ, Seed: 42, ChatTemplate: "{{ messages }}", Name: "tiny-" + mm.typ.String()}
		if err := testmodel.Write(*mm.path, opts); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func load(t testing.TB, path string, opts Options) *Model {
	t.Helper()
	if opts.Threads == 0 {
		opts.Threads = 1
	}
	if opts.ContextSize == 0 {
		opts.ContextSize = 512
	}
	m, err := Load(context.Background(), path, opts, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func ctxTimeout(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// narrowGrammar is a statement the tiny model can always finish: SELECT <col> FROM <table> ;
const narrowGrammar = `root ::= " SELECT " col " FROM " table " ;"
col ::= "id" | "name" | "email" | "price" | "total"
table ::= "users" | "orders" | "customers" | "products"
`

var narrowRE = regexp.MustCompile(`^ SELECT (id|name|email|price|total) FROM (users|orders|customers|products) ;$`)

func TestLoadMetadata(t *testing.T) {
	toks, _, _ := testmodel.Vocab(testmodel.Options{})
	for _, path := range []string{models.f32, models.f16, models.q8_0} {
		t.Run(filepath.Base(path), func(t *testing.T) {
			m := load(t, path, Options{ContextSize: 256})
			md := m.Metadata()
			want := strings.TrimSuffix(filepath.Base(path), ".gguf")
			if md.Architecture != "llama" || md.Name != "tiny-"+want || md.ContextLength != 4096 ||
				md.ContextSize != 256 || md.VocabSize != len(toks) || md.ChatTemplate != "{{ messages }}" ||
				md.BOS != testmodel.BOSID || md.EOS != testmodel.EOSID || md.Params == 0 {
				t.Errorf("metadata = %+v", md)
			}
			if v, ok, err := m.Meta("llama.embedding_length"); err != nil || !ok || v != "64" {
				t.Errorf("Meta(embedding_length) = %q, %v, %v", v, ok, err)
			}
			if _, ok, err := m.Meta("no.such.key"); err != nil || ok {
				t.Errorf("Meta(no.such.key) found=%v err=%v", ok, err)
			}
			res, err := m.Generate(ctxTimeout(t), Request{Prompt: "how many users", Grammar: narrowGrammar})
			if err != nil || !narrowRE.MatchString(res.Text) {
				t.Errorf("generate: %q, %v", res.Text, err)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.gguf")
	os.WriteFile(garbage, []byte("this is not a gguf file at all, just some text that is long enough"), 0o644)
	full, err := os.ReadFile(models.f32)
	if err != nil {
		t.Fatal(err)
	}
	truncated := filepath.Join(dir, "truncated.gguf")
	os.WriteFile(truncated, full[:len(full)/2], 0o644)
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()

	tests := []struct {
		name string
		ctx  context.Context
		path string
		is   error
		msg  string
	}{
		{"missing", context.Background(), filepath.Join(dir, "nope.gguf"), fs.ErrNotExist, "nope.gguf"},
		{"garbage", context.Background(), garbage, nil, "llama.cpp cannot read it"},
		{"truncated", context.Background(), truncated, nil, "llama.cpp cannot read it"},
		{"cancelled", cancelled, models.f32, context.Canceled, "load model"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Load(tt.ctx, tt.path, Options{Threads: 1, ContextSize: 128}, testLogger(t))
			if err == nil {
				m.Close()
				t.Fatal("no error")
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %v is not %v", err, tt.is)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not mention %q", err, tt.msg)
			}
		})
	}
}

func TestTokenizeRoundTrip(t *testing.T) {
	m := load(t, models.f32, Options{})
	for _, text := range []string{
		"SELECT id FROM users",
		"how many orders per customer?",
		"What's the average price of the customer's orders",
		"ünïcödé ✓ 数据库",
		"  leading and trailing spaces  ",
		"tabs\tand\nnewlines",
		"a",
	} {
		toks, err := m.Tokenize(text, true)
		if err != nil {
			t.Fatal(err)
		}
		if len(toks) < 2 || toks[0] != testmodel.BOSID {
			t.Errorf("%q: tokens %v do not start with BOS", text, toks)
		}
		got, err := m.Detokenize(toks)
		if err != nil {
			t.Fatal(err)
		}
		if got != text {
			t.Errorf("round trip of %q gave %q (tokens %v)", text, got, toks)
		}
	}
	// word tokens are used: SELECT is one token, not six bytes
	toks, _ := m.Tokenize("SELECT", false)
	if len(toks) != 1 {
		t.Errorf("SELECT tokenizes to %v, want one token", toks)
	}
	if _, err := m.Detokenize([]int32{1 << 20}); err == nil {
		t.Error("Detokenize accepted a token outside the vocabulary")
	}
}

func TestGenerateStops(t *testing.T) {
	m := load(t, models.f32, Options{})
	ctx := ctxTimeout(t)

	t.Run("max_tokens", func(t *testing.T) {
		res, err := m.Generate(ctx, Request{Prompt: "SELECT", MaxTokens: 7})
		if err != nil {
			t.Fatal(err)
		}
		if res.StopReason != StopMaxTokens || res.GeneratedTokens != 7 || len(res.Tokens) != 7 {
			t.Errorf("reason %q, %d tokens", res.StopReason, res.GeneratedTokens)
		}
		want, _ := m.Detokenize(res.Tokens)
		if res.Text != want {
			t.Errorf("text %q, detokenized tokens %q", res.Text, want)
		}
	})

	t.Run("eos", func(t *testing.T) {
		// a grammar whose language is one string leaves only EOS once the string is written
		res, err := m.Generate(ctx, Request{Prompt: "what", Grammar: `root ::= " SELECT 1"`, MaxTokens: 50})
		if err != nil {
			t.Fatal(err)
		}
		if res.StopReason != StopEOS || res.Text != " SELECT 1" {
			t.Errorf("reason %q, text %q", res.StopReason, res.Text)
		}
	})

	t.Run("stop string", func(t *testing.T) {
		var streamed strings.Builder
		res, err := m.Generate(ctx, Request{
			Prompt: "list the users", Grammar: narrowGrammar, Stop: []string{" FROM", "never"},
			OnToken: func(p string) error { streamed.WriteString(p); return nil },
		})
		if err != nil {
			t.Fatal(err)
		}
		if res.StopReason != StopString || !regexp.MustCompile(`^ SELECT (id|name|email|price|total)$`).MatchString(res.Text) {
			t.Errorf("reason %q, text %q", res.StopReason, res.Text)
		}
		if streamed.String() != res.Text {
			t.Errorf("streamed %q, text %q", streamed.String(), res.Text)
		}
	})

	t.Run("stream equals text", func(t *testing.T) {
		var streamed strings.Builder
		res, err := m.Generate(ctx, Request{Prompt: "tell me", MaxTokens: 40,
			OnToken: func(p string) error { streamed.WriteString(p); return nil }})
		if err != nil {
			t.Fatal(err)
		}
		if streamed.String() != res.Text || res.Text == "" {
			t.Errorf("streamed %q, text %q", streamed.String(), res.Text)
		}
	})

	t.Run("callback error", func(t *testing.T) {
		boom := errors.New("boom")
		_, err := m.Generate(ctx, Request{Prompt: "x", MaxTokens: 20, OnToken: func(string) error { return boom }})
		if !errors.Is(err, boom) {
			t.Errorf("error %v, want boom", err)
		}
	})

	t.Run("bad grammar", func(t *testing.T) {
		_, err := m.Generate(ctx, Request{Prompt: "x", Grammar: "root ::= missing-rule"})
		if !errors.Is(err, ErrGrammar) {
			t.Errorf("error %v, want ErrGrammar", err)
		}
	})

	t.Run("template writes BOS", func(t *testing.T) {
		res, err := m.Generate(ctx, Request{Prompt: "<s>how many users", MaxTokens: 2})
		want, _ := m.Tokenize("how many users", true)
		if err != nil || res.PromptTokens != len(want) {
			t.Errorf("prompt tokens %d, want %d (one BOS): %v", res.PromptTokens, len(want), err)
		}
	})

	t.Run("prompt too long", func(t *testing.T) {
		_, err := m.Generate(ctx, Request{Prompt: strings.Repeat("x y ", 400)})
		if !errors.Is(err, ErrPromptTooLong) {
			t.Errorf("error %v, want ErrPromptTooLong", err)
		}
	})
}

// TestGrammarForcesLanguage samples 120 seeds at temperature 1 (and greedy over varied prompts):
// every output must be a sentence of the grammar, ended by EOS.
func TestGrammarForcesLanguage(t *testing.T) {
	m := load(t, models.q8_0, Options{})
	ctx := ctxTimeout(t)
	fallbacks := 0
	for seed := range 120 {
		req := Request{Prompt: fmt.Sprintf("question %d: how many rows", seed), Grammar: narrowGrammar, MaxTokens: 64}
		if seed%2 == 1 {
			req.Temperature, req.Seed = 1, uint32(seed)
		}
		res, err := m.Generate(ctx, req)
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		if !narrowRE.MatchString(res.Text) || res.StopReason != StopEOS {
			t.Errorf("seed %d: %q (%s) is not in the grammar's language", seed, res.Text, res.StopReason)
		}
		fallbacks += res.GrammarFallback
	}
	if fallbacks == 0 {
		t.Error("the grammar never had to filter: the test does not exercise the fallback")
	}
	t.Logf("grammar fallbacks: %d", fallbacks)
}

func TestPrefixReuse(t *testing.T) {
	m := load(t, models.f32, Options{ContextSize: 1024})
	ctx := ctxTimeout(t)
	schema := "### Database Schema\nCREATE TABLE users (id integer, name text, email text);\nCREATE TABLE orders (id integer, total numeric);\n### Question\n"
	q1, q2 := schema+"how many users", schema+"what is the average total of orders"
	t1, _ := m.Tokenize(q1, true)
	t2, _ := m.Tokenize(q2, true)
	common := 0
	for common < len(t1) && common < len(t2) && t1[common] == t2[common] {
		common++
	}
	if common < 30 {
		t.Fatalf("test prompts share only %d tokens", common)
	}

	steps := []struct {
		prompt     string
		wantReused int
	}{
		{q1, 0},
		{q2, common},
		{q2, len(t2) - 1}, // the same prompt: all but the last token, whose logits are needed
		{"unrelated", 1},  // only BOS is shared
	}
	for i, st := range steps {
		before := m.Stats()
		res, err := m.Generate(ctx, Request{Prompt: st.prompt, MaxTokens: 4})
		if err != nil {
			t.Fatal(err)
		}
		after := m.Stats()
		if res.ReusedTokens != st.wantReused {
			t.Errorf("step %d: reused %d tokens, want %d", i, res.ReusedTokens, st.wantReused)
		}
		if got, want := after.PromptEvaluated-before.PromptEvaluated, int64(res.PromptTokens-res.ReusedTokens); got != want {
			t.Errorf("step %d: evaluated %d prompt tokens, want %d", i, got, want)
		}
		if got := after.PromptReused - before.PromptReused; got != int64(res.ReusedTokens) {
			t.Errorf("step %d: reuse counter moved by %d, want %d", i, got, res.ReusedTokens)
		}
	}
	// the reused cache gives the same answer as a fresh evaluation
	fresh := load(t, models.f32, Options{ContextSize: 1024, Threads: 2}) // also exercises the thread pool
	a, err1 := m.Generate(ctx, Request{Prompt: q1, Grammar: narrowGrammar})
	b, err2 := fresh.Generate(ctx, Request{Prompt: q1, Grammar: narrowGrammar})
	if err1 != nil || err2 != nil || a.Text != b.Text {
		t.Errorf("reused %q (%v) vs fresh %q (%v)", a.Text, err1, b.Text, err2)
	}
}

func TestCancel(t *testing.T) {
	m := load(t, models.f32, Options{ContextSize: 2048})
	t.Run("running", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		pieces := 0
		res, err := m.Generate(ctx, Request{Prompt: "go on", MaxTokens: 1000, OnToken: func(string) error {
			pieces++
			if pieces == 3 {
				cancel()
			}
			return nil
		}})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("error %v, want context.Canceled", err)
		}
		if res.GeneratedTokens > 8 { // pieces may hold back a few tokens (partial UTF-8), then one step
			t.Errorf("generated %d tokens after cancelling at the third piece", res.GeneratedTokens)
		}
	})
	// Cancelled once the request runs (not at the door nor in the queue, where a cancel
	// never reaches the model): most often during the prompt's evaluation, else in OnToken,
	// which waits for the cancel and returns no error, so that only the model's own checks
	// can end the request.
	t.Run("long prompt", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		before := m.Stats()
		done := make(chan error, 1)
		go func() {
			_, err := m.Generate(ctx, Request{Prompt: strings.Repeat("SELECT id FROM users ", 250), MaxTokens: 10,
				OnToken: func(string) error { <-ctx.Done(); return nil }})
			done <- err
		}()
		for m.Stats().Busy == 0 {
			time.Sleep(time.Millisecond)
		}
		cancel()
		err := <-done
		if !errors.Is(err, context.Canceled) {
			t.Errorf("error %v, want context.Canceled", err)
		}
		after := m.Stats()
		t.Logf("cancelled after %d of %d prompt tokens: %v", after.PromptEvaluated-before.PromptEvaluated, after.PromptTokens-before.PromptTokens, err)
		// OnToken holds generation at the first piece, which may come a few tokens in.
		if g := after.Generated - before.Generated; g > 8 {
			t.Errorf("%d tokens generated, with OnToken waiting for the cancel at the first piece", g)
		}
		// the context is usable afterwards
		res, err := m.Generate(context.Background(), Request{Prompt: "x", Grammar: narrowGrammar})
		if err != nil || !narrowRE.MatchString(res.Text) {
			t.Errorf("after abort: %q, %v", res.Text, err)
		}
	})
}

// blockWorker starts a generation that waits in OnToken until release is closed, and returns once
// the worker is inside it.
func blockWorker(t *testing.T, m *Model, release chan struct{}) (done chan error) {
	t.Helper()
	inside := make(chan struct{})
	done = make(chan error, 1)
	var once sync.Once
	go func() {
		_, err := m.Generate(context.Background(), Request{Prompt: "x", MaxTokens: 3, OnToken: func(string) error {
			once.Do(func() { close(inside) })
			<-release
			return nil
		}})
		done <- err
	}()
	<-inside
	return done
}

func TestQueueFull(t *testing.T) {
	m := load(t, models.f32, Options{QueueDepth: 3})
	release := make(chan struct{})
	first := blockWorker(t, m, release)

	waiting := make(chan error, 2)
	for range 2 {
		go func() {
			_, err := m.Generate(context.Background(), Request{Prompt: "y", MaxTokens: 2})
			waiting <- err
		}()
	}
	// a queued request whose ctx ends leaves at once, while the worker is still busy
	ctx, cancel := context.WithCancel(context.Background())
	abandoned := make(chan error, 1)
	go func() {
		_, err := m.Generate(ctx, Request{Prompt: "q"})
		abandoned <- err
	}()
	for len(m.queue) < 3 {
		runtime.Gosched()
	}
	if s := m.Stats(); s.Queued != 3 || s.Busy != 1 {
		t.Errorf("while blocked: queued %d busy %d, want 3 and 1", s.Queued, s.Busy)
	}
	cancel()
	if err := <-abandoned; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled queued request: %v", err)
	}
	start := time.Now()
	_, err := m.Generate(context.Background(), Request{Prompt: "z", MaxTokens: 2})
	if !errors.Is(err, ErrQueueFull) {
		t.Errorf("error %v, want ErrQueueFull", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("ErrQueueFull took %v", d)
	}
	close(release)
	if err := <-first; err != nil {
		t.Error(err)
	}
	for range 2 {
		if err := <-waiting; err != nil {
			t.Error(err)
		}
	}
	// The abandoned request's slot may still be in the queue when the others have returned
	// (it was queued last): the worker takes it out and drops it after them. Wait for that,
	// then check the counts.
	for deadline := time.Now().Add(time.Minute); m.Stats().Queued != 0 && time.Now().Before(deadline); {
		runtime.Gosched()
	}
	if s := m.Stats(); s.QueueFull != 1 || s.Requests != 3 || s.Queued != 0 || s.Busy != 0 {
		t.Errorf("stats %+v", s)
	}
}

// TestConcurrent runs callers on two contexts; each result must equal the result of the same
// request run alone (run with -race to check the binding for data races).
func TestConcurrent(t *testing.T) {
	m := load(t, models.f32, Options{Parallel: 2, QueueDepth: 64})
	ctx := ctxTimeout(t)
	prompts := []string{"how many users", "average total of orders", "list the products", "count customers"}
	want := map[string]string{}
	for _, p := range prompts {
		res, err := m.Generate(ctx, Request{Prompt: p, Grammar: narrowGrammar})
		if err != nil {
			t.Fatal(err)
		}
		want[p] = res.Text
	}
	var wg sync.WaitGroup
	var failures atomic.Int32
	for i := range 16 {
		wg.Go(func() {
			p := prompts[i%len(prompts)]
			res, err := m.Generate(ctx, Request{Prompt: p, Grammar: narrowGrammar})
			if err != nil || res.Text != want[p] {
				failures.Add(1)
				t.Errorf("%q: %q, %v; alone it gave %q", p, res.Text, err, want[p])
			}
		})
	}
	wg.Wait()
	if s := m.Stats(); s.Requests != 20 || failures.Load() != 0 {
		t.Errorf("requests %d, failures %d", s.Requests, failures.Load())
	}
}

func TestClose(t *testing.T) {
	before := runtime.NumGoroutine()
	m, err := Load(context.Background(), models.f32, Options{Threads: 1, ContextSize: 256, Parallel: 2}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	// A request that cannot end on its own soon after release (its grammar demands 60 more
	// letters), so that Close, not the end of the text, is what stops it.
	inside := make(chan struct{})
	running := make(chan error, 1)
	var once sync.Once
	go func() {
		_, err := m.Generate(context.Background(), Request{Prompt: "x", MaxTokens: 200, Grammar: `root ::= [a-z]{60,80}`,
			OnToken: func(string) error {
				once.Do(func() { close(inside) })
				<-release
				return nil
			}})
		running <- err
	}()
	<-inside
	closed := make(chan struct{})
	go func() { m.Close(); close(closed) }()
	<-m.base.Done() // Close has begun: the running request is being aborted
	close(release)
	<-closed
	if err := <-running; !errors.Is(err, ErrClosed) {
		t.Errorf("a request running during Close: %v, want ErrClosed", err)
	}
	if err := m.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := m.Generate(context.Background(), Request{Prompt: "x"}); !errors.Is(err, ErrClosed) {
		t.Errorf("Generate after Close: %v", err)
	}
	if _, err := m.Tokenize("x", true); !errors.Is(err, ErrClosed) {
		t.Errorf("Tokenize after Close: %v", err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		runtime.Gosched()
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines after Close, %d before", n, before)
	}
}

// TestLoadCloseNoLeak loads and closes the model repeatedly: the process's resident memory must
// not grow with the number of cycles.
func TestLoadCloseNoLeak(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	cycle := func() {
		m := load(t, models.f32, Options{ContextSize: 256})
		if _, err := m.Generate(context.Background(), Request{Prompt: "x", MaxTokens: 4}); err != nil {
			t.Fatal(err)
		}
		m.Close()
	}
	for range 5 {
		cycle()
	}
	base := rss(t)
	for range 40 {
		cycle()
	}
	if grown := rss(t) - base; grown > 16<<20 {
		t.Errorf("resident memory grew by %d MiB over 40 load/close cycles", grown>>20)
	}
}

func rss(t *testing.T) int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		t.Skip("no /proc/self/statm")
	}
	var size, res int64
	fmt.Sscan(string(b), &size, &res)
	return res * int64(os.Getpagesize())
}

func TestLogRouted(t *testing.T) {
	var n atomic.Int32
	h := &countHandler{n: &n}
	m, err := Load(context.Background(), models.f32, Options{Threads: 1, ContextSize: 128, LogLevel: slog.LevelDebug}, slog.New(h))
	if err != nil {
		t.Fatal(err)
	}
	m.Close()
	if n.Load() == 0 {
		t.Error("no llama.cpp log line reached the injected logger")
	}
}

type countHandler struct{ n *atomic.Int32 }

func (h *countHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *countHandler) Handle(_ context.Context, r slog.Record) error {
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "source" && a.Value.String() == "llama.cpp" {
			h.n.Add(1)
		}
		return true
	})
	return nil
}
func (h *countHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *countHandler) WithGroup(string) slog.Handler      { return h }
