package openai

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pgask/pgask/internal/pgtest"
	"github.com/pgask/pgask/introspect"
	"github.com/pgask/pgask/translate"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// fakeServer plays a model behind /v1/completions: each request gets the next reply.
type fakeServer struct {
	t       *testing.T
	mu      sync.Mutex
	replies []func(w http.ResponseWriter, r *http.Request)
	reqs    []completionRequest
	auth    []string
	paths   []string
}

func (f *fakeServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var req completionRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		f.t.Errorf("decode request: %v", err)
	}
	f.mu.Lock()
	f.reqs = append(f.reqs, req)
	f.auth = append(f.auth, r.Header.Get("Authorization"))
	f.paths = append(f.paths, r.URL.Path)
	n := len(f.reqs)
	f.mu.Unlock()
	if n > len(f.replies) {
		http.Error(w, `{"error":{"message":"script exhausted"}}`, http.StatusInternalServerError)
		return
	}
	f.replies[n-1](w, r)
}

func completion(text string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"id": "cmpl-1", "object": "text_completion",
			"choices": []map[string]any{{"index": 0, "text": text, "finish_reason": "stop"}},
			"usage":   map[string]int{"prompt_tokens": 321, "completion_tokens": 12},
		})
	}
}

func status(code int, body string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(code)
		_, _ = w.Write([]byte(body))
	}
}

func startServer(t *testing.T, replies ...func(http.ResponseWriter, *http.Request)) (*fakeServer, string) {
	f := &fakeServer{t: t, replies: replies}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv.URL
}

const shopDDL = `CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL, country text);
CREATE TABLE orders (id int PRIMARY KEY, customer_id int REFERENCES customers, total numeric(10,2));`

var shopSchema = &introspect.Schema{Tables: []introspect.Table{
	{Schema: "public", Name: "customers", Kind: "table", Columns: []introspect.Column{
		{Name: "id", Type: "integer", NotNull: true}, {Name: "name", Type: "text", NotNull: true}, {Name: "country", Type: "text"}}},
	{Schema: "public", Name: "orders", Kind: "table", Columns: []introspect.Column{
		{Name: "id", Type: "integer", NotNull: true}, {Name: "customer_id", Type: "integer"}, {Name: "total", Type: "numeric(10,2)"}}},
}}

// pgChecker runs EXPLAIN on a real PostgreSQL connection, as the proxy does on the client's
// session.
type pgChecker struct{ conn *pgx.Conn }

func (c pgChecker) Explain(ctx context.Context, sql string) error {
	_, err := c.conn.Exec(ctx, "EXPLAIN "+sql)
	return err
}

func shopDB(t *testing.T) *pgx.Conn {
	t.Helper()
	c := pgtest.Shared(t)
	db := pgtest.NewDatabase(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.Exec(ctx, db, shopDDL+"\nINSERT INTO customers VALUES (1, 'Ann', 'FR'), (2, 'Bob', 'DE');"); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, c.URL("postgres", db))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func translator(t *testing.T, cfg Config, opts translate.Options) *translate.Translator {
	t.Helper()
	e, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if opts.Template == nil {
		if opts.Template, err = translate.SelectTemplate("sqlcoder-7b-2", nil); err != nil {
			t.Fatal(err)
		}
	}
	tr, err := translate.New(e, opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func ask(tr *translate.Translator, q string, chk translate.Checker) (translate.Result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return tr.Translate(ctx, translate.Request{Question: q, Schema: shopSchema, SchemaDDL: shopDDL, Checker: chk})
}

func TestExtractionAndRequest(t *testing.T) {
	f, url := startServer(t, completion(" SELECT count(*) FROM customers;\n[/SQL]\nThis counts the customers."))
	tr := translator(t, Config{URL: url + "/v1/", Model: "sqlcoder-7b-2", APIKey: "sk-test", SendGrammar: true}, translate.Options{})
	res, err := ask(tr, "How many customers are there?", nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.SQL != "SELECT count(*) FROM customers" || res.PromptTokens != 321 || res.GeneratedTokens != 12 {
		t.Errorf("result %+v", res)
	}
	req := f.reqs[0]
	if f.paths[0] != "/v1/completions" || f.auth[0] != "Bearer sk-test" {
		t.Errorf("path %q auth %q", f.paths[0], f.auth[0])
	}
	if req.Model != "sqlcoder-7b-2" || req.Temperature != 0 || req.MaxTokens != 400 || req.Stream {
		t.Errorf("request %+v", req)
	}
	if !strings.Contains(req.Prompt, "[QUESTION]How many customers are there?[/QUESTION]") || !strings.HasSuffix(req.Prompt, "[SQL]\n") {
		t.Errorf("prompt:\n%s", req.Prompt)
	}
	if !strings.Contains(req.Grammar, `"customers"`) || len(req.Stop) == 0 {
		t.Errorf("grammar or stop missing: stop %v, grammar %d bytes", req.Stop, len(req.Grammar))
	}
}

func TestGrammarNotSentByDefault(t *testing.T) {
	f, url := startServer(t, completion("SELECT 1 FROM customers"))
	tr := translator(t, Config{URL: url}, translate.Options{})
	if _, err := ask(tr, "q", nil); err != nil {
		t.Fatal(err)
	}
	if f.reqs[0].Grammar != "" || f.auth[0] != "" || f.paths[0] != "/v1/completions" {
		t.Errorf("grammar %d bytes, auth %q, path %q", len(f.reqs[0].Grammar), f.auth[0], f.paths[0])
	}
}

func TestRepairLoopWithPostgres(t *testing.T) {
	conn := shopDB(t)
	f, url := startServer(t,
		completion("SELECT c.name FROM customers c ORDER BY c.signup_date;"),
		completion("```sql\nSELECT c.name FROM customers c ORDER BY c.id;\n```"))
	tr := translator(t, Config{URL: url}, translate.Options{MaxRepairs: 2})
	res, err := ask(tr, "List the customers' names, oldest first", pgChecker{conn})
	if err != nil {
		t.Fatal(err)
	}
	if res.SQL != "SELECT c.name FROM customers c ORDER BY c.id" || res.Attempts != 2 {
		t.Fatalf("result %+v", res)
	}
	if p := f.reqs[1].Prompt; !strings.Contains(p, "c.signup_date does not exist") || !strings.Contains(p, "ORDER BY c.signup_date") {
		t.Errorf("repair prompt lacks the failed SQL or PostgreSQL's message:\n%s", p)
	}
	rows, err := conn.Query(context.Background(), res.SQL)
	if err != nil {
		t.Fatal(err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || strings.Join(names, ",") != "Ann,Bob" {
		t.Errorf("rows %v, err %v", names, err)
	}
}

func TestUnanswerable(t *testing.T) {
	_, url := startServer(t, completion("I do not know\n[/SQL]"))
	tr := translator(t, Config{URL: url}, translate.Options{MaxRepairs: 2})
	_, err := ask(tr, "What is the weather in Paris?", nil)
	var te *translate.Error
	if !errors.Is(err, translate.ErrUnanswerable) || !errors.As(err, &te) || te.Attempts != 1 {
		t.Fatalf("err = %v, want ErrUnanswerable after one attempt", err)
	}
	if !strings.Contains(err.Error(), "cannot be answered") || te.Hint() == "" {
		t.Errorf("message %q hint %q", err.Error(), te.Hint())
	}
}

func TestWriteStatementRefused(t *testing.T) {
	conn := shopDB(t)
	for _, answer := range []string{
		"DELETE FROM customers;",
		"WITH gone AS (DELETE FROM customers RETURNING id) SELECT count(*) FROM gone;",
		"UPDATE customers SET name = 'x'; SELECT 1;",
		"SELECT name FROM customers FOR UPDATE;",
	} {
		_, url := startServer(t, completion(answer))
		tr := translator(t, Config{URL: url}, translate.Options{MaxRepairs: 2})
		_, err := ask(tr, "Remove all customers", pgChecker{conn})
		var te *translate.Error
		if !errors.Is(err, translate.ErrRejected) || !errors.As(err, &te) || te.SQL == "" {
			t.Errorf("answer %q: err = %v, want ErrRejected with the SQL", answer, err)
		}
	}
	var n int
	var names string
	if err := conn.QueryRow(context.Background(), "SELECT count(*), string_agg(name, ',' ORDER BY id) FROM customers").Scan(&n, &names); err != nil {
		t.Fatal(err)
	}
	if n != 2 || names != "Ann,Bob" {
		t.Errorf("customers modified: %d rows, names %q", n, names)
	}
}

func TestTimeout(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	slow := func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}
	_, url := startServer(t, slow, slow)
	// The engine's own per-request timeout.
	tr := translator(t, Config{URL: url, Timeout: 100 * time.Millisecond}, translate.Options{})
	if _, err := ask(tr, "q", nil); !errors.Is(err, translate.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("engine timeout: err = %v, want ErrTimeout", err)
	}
	// The translation's deadline.
	tr = translator(t, Config{URL: url}, translate.Options{Timeout: 100 * time.Millisecond})
	if _, err := ask(tr, "q", nil); !errors.Is(err, translate.ErrTimeout) {
		t.Errorf("translation timeout: err = %v, want ErrTimeout", err)
	}
}

func TestHTTPErrors(t *testing.T) {
	tests := []struct {
		name  string
		reply func(http.ResponseWriter, *http.Request)
		kind  error
		msg   string
	}{
		{"server error", status(500, `{"error":{"message":"CUDA out of memory","type":"server_error"}}`), translate.ErrEngine, "CUDA out of memory"},
		{"ollama error", status(404, `{"error":"model \"sqlcoder\" not found, try pulling it first"}`), translate.ErrEngine, "try pulling it first"},
		{"plain text", status(502, "Bad Gateway"), translate.ErrEngine, "HTTP 502: Bad Gateway"},
		{"busy", status(429, `{"error":{"message":"too many requests"}}`), translate.ErrQueueFull, "too many requests"},
		{"unavailable", status(503, `{"error":{"message":"loading model"}}`), translate.ErrQueueFull, "loading model"},
		{"bad json", status(200, `{"choices": [`), translate.ErrEngine, "decode answer"},
		{"no choices", status(200, `{"choices": []}`), translate.ErrEngine, "no choices"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, url := startServer(t, tt.reply)
			tr := translator(t, Config{URL: url}, translate.Options{})
			_, err := ask(tr, "q", nil)
			if !errors.Is(err, tt.kind) || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("err = %v, want %v containing %q", err, tt.kind, tt.msg)
			}
		})
	}
}

func TestConnectionRefused(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	tr := translator(t, Config{URL: url}, translate.Options{})
	if _, err := ask(tr, "q", nil); !errors.Is(err, translate.ErrEngine) {
		t.Errorf("err = %v, want ErrEngine", err)
	}
}

func TestNewValidatesURL(t *testing.T) {
	for _, u := range []string{"", "localhost:8000", "ftp://x"} {
		if _, err := New(Config{URL: u}, nil); err == nil {
			t.Errorf("New accepted URL %q", u)
		}
	}
}
