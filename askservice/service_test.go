package askservice_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgask/pgask/askservice"
	"github.com/pgask/pgask/internal/asktest"
	"github.com/pgask/pgask/internal/demodb"
	"github.com/pgask/pgask/internal/pgtest"
	"github.com/pgask/pgask/internal/testmodel"
	"github.com/pgask/pgask/proxy/ask"
	"github.com/pgask/pgask/translate"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// answers plays a model with the sqlcoder prompt: the SQL for the question in the prompt.
type answers map[string]string

func (a answers) Generate(_ context.Context, req translate.GenerateRequest) (translate.GenerateResult, error) {
	for q, sql := range a {
		if strings.Contains(req.Prompt, "[QUESTION]"+q) {
			return translate.GenerateResult{Text: sql, PromptTokens: len(req.Prompt) / 4, GeneratedTokens: len(sql) / 4}, nil
		}
	}
	return translate.GenerateResult{Text: "I do not know"}, nil
}

// neverStarted is an engine that fails the test when it is started.
func neverStarted(t *testing.T) askservice.Engine {
	return askservice.EngineFunc(func(context.Context, *slog.Logger) (*askservice.Started, error) {
		t.Error("the engine was started although an option is invalid")
		return nil, errors.New("started")
	})
}

// An invalid option is an error naming its key, found before the engine starts (a model
// download or load can take minutes); never a default in its place.
func TestNewRejectsInvalidOptions(t *testing.T) {
	for _, tt := range []struct {
		name string
		mod  func(*askservice.Options)
		key  string
	}{
		{"unknown grammar mode", func(o *askservice.Options) { o.Grammar = translate.GrammarMode(7) }, "ask.grammar:"},
		{"unknown template", func(o *askservice.Options) { o.Template = "sqlcoder-99b" }, "model.template:"},
		{"no engine", func(o *askservice.Options) { o.Engine = nil }, "engine:"},
		{"audit file in a missing directory", func(o *askservice.Options) {
			o.AuditFile = filepath.Join(t.TempDir(), "missing", "audit.jsonl")
		}, "audit.file:"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			opts := askservice.Options{Engine: neverStarted(t)}
			tt.mod(&opts)
			s, err := askservice.New(context.Background(), opts)
			if err == nil {
				s.Close()
				t.Fatal("New succeeded")
			}
			if !strings.HasPrefix(err.Error(), tt.key) {
				t.Errorf("err = %q, want it to start with %q", err, tt.key)
			}
		})
	}
}

// An engine that does not start leaves ASK unavailable with what the engine says of it (or
// the error's first line), and a Service all the same; a start cut short by ctx fails New.
func TestEngineStartFailure(t *testing.T) {
	fails := func(err error) askservice.Engine {
		return askservice.EngineFunc(func(context.Context, *slog.Logger) (*askservice.Started, error) { return nil, err })
	}
	own := &ask.UnavailableError{Reason: "no GPU", Hint: "Plug one in."}
	for _, tt := range []struct {
		name   string
		engine askservice.Engine
		want   ask.UnavailableError
	}{
		{"plain error", fails(errors.New("connection refused\ndetails")), ask.UnavailableError{Reason: "the engine could not be started: connection refused"}},
		{"the engine's own explanation", fails(errors.Join(errors.New("probe"), own)), *own},
		{"a missing model file", askservice.Llama{Model: filepath.Join(t.TempDir(), "missing.gguf"), CacheDir: t.TempDir()}, ask.UnavailableError{Reason: `could not be loaded`, Hint: "Check that"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, err := askservice.New(context.Background(), askservice.Options{Engine: tt.engine})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			ue := s.Unavailable()
			if ue == nil || !strings.Contains(ue.Reason, tt.want.Reason) || !strings.HasPrefix(ue.Hint, tt.want.Hint) {
				t.Fatalf("Unavailable() = %+v, want %+v", ue, tt.want)
			}
			if s.Handler() == nil || s.Template() != "" || s.Schemas() != nil {
				t.Errorf("unavailable service: handler %v, template %q, schemas %v", s.Handler(), s.Template(), s.Schemas())
			}
		})
	}

	ctx, cancel := context.WithCancel(context.Background())
	_, err := askservice.New(ctx, askservice.Options{Engine: askservice.EngineFunc(func(ctx context.Context, _ *slog.Logger) (*askservice.Started, error) {
		cancel()
		return nil, ctx.Err()
	})})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("start cancelled: err = %v, want context.Canceled", err)
	}
}

// A supplied engine answers ASK over the wire in front of a real PostgreSQL, through the
// template and grammar chosen, with the audit log and the observer called for each ASK; Close
// releases what the engine started.
func TestSuppliedEngineAnswers(t *testing.T) {
	c := pgtest.Shared(t)
	db := pgtest.NewDatabase(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := c.Exec(ctx, db, demodb.ShopSQL); err != nil {
		t.Fatal(err)
	}
	var closed atomic.Int32
	engine := askservice.EngineFunc(func(context.Context, *slog.Logger) (*askservice.Started, error) {
		return &askservice.Started{
			Engine: answers{"how many customers": "SELECT count(*) AS n FROM customers;"},
			Model:  "scripted",
			Close:  func() error { closed.Add(1); return nil },
		}, nil
	})
	audit := filepath.Join(t.TempDir(), "audit.jsonl")
	events := make(chan ask.Event, 4)
	addr := asktest.Serve(t, c.Addr(), askservice.Options{Engine: engine, Template: "sqlcoder-7b-2", Grammar: translate.GrammarOff,
		Notice: true, AuditFile: audit, Observe: func(ev ask.Event) { events <- ev }})

	conn, err := pgx.Connect(ctx, "postgres://postgres@"+addr+"/"+db+"?sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, "ASK how many customers", pgx.QueryExecModeSimpleProtocol).Scan(&n); err != nil || n != 200 {
		t.Fatalf("ASK how many customers = %d, %v; want 200", n, err)
	}
	if ev := <-events; ev.Outcome != "ok" || ev.SQL != "SELECT count(*) AS n FROM customers" || ev.Database != db {
		t.Errorf("event = %+v", ev)
	}
	f, err := os.Open(audit)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rec struct{ Question, Outcome string }
	sc := bufio.NewScanner(f)
	if !sc.Scan() || json.Unmarshal(sc.Bytes(), &rec) != nil || rec.Question != "how many customers" || rec.Outcome != "ok" {
		t.Errorf("audit line %q: %+v", sc.Text(), rec)
	}

	// The accessors, on a Service of its own.
	s, err := askservice.New(ctx, askservice.Options{Engine: engine})
	if err != nil {
		t.Fatal(err)
	}
	if s.Unavailable() != nil || s.Template() != translate.DefaultTemplate || s.Model() != "scripted" || s.Schemas() == nil {
		t.Errorf("service: unavailable %v, template %q, model %q, schemas %v", s.Unavailable(), s.Template(), s.Model(), s.Schemas())
	}
	if _, ok := s.EngineStats(); ok {
		t.Error("EngineStats reported for an engine without them")
	}
	before := closed.Load()
	if err := s.Close(); err != nil || closed.Load() != before+1 {
		t.Errorf("Close: %v, engine closed %d times, want once", err, closed.Load()-before)
	}
}

// The in-process engine loads a GGUF file, takes the template from its metadata when none is
// named, and reports its queue.
func TestLlamaEngine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tiny.gguf")
	if err := testmodel.Write(path, testmodel.Options{Type: testmodel.F16, Seed: 7}); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	s, err := askservice.New(context.Background(), askservice.Options{Engine: askservice.Llama{Model: path}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if ue := s.Unavailable(); ue != nil {
		t.Fatal(ue)
	}
	if want := "tiny.gguf:" + strconv.FormatInt(fi.Size(), 10); s.Model() != want || s.Template() == "" {
		t.Errorf("model %q (want %q), template %q", s.Model(), want, s.Template())
	}
	if st, ok := s.EngineStats(); !ok || st != (askservice.EngineStats{}) {
		t.Errorf("EngineStats = %+v, %v; want zeros, true", st, ok)
	}
}
