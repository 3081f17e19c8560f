package models

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// server serves one file with Range support (http.ServeContent) and records what it was asked.
type server struct {
	*httptest.Server
	data []byte

	mu       sync.Mutex
	requests int
	ranges   []string
	served   int64
	// options
	ignoreRange bool
	cutAt       int64 // > 0: the first full response stops after this many bytes
}

func newServer(t *testing.T, data []byte) *server {
	s := &server{data: data}
	s.Server = httptest.NewServer(http.HandlerFunc(s.handle))
	t.Cleanup(s.Close)
	return s
}

func (s *server) handle(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests++
	s.ranges = append(s.ranges, r.Header.Get("Range"))
	cut := s.cutAt
	s.cutAt = 0
	s.mu.Unlock()
	if r.URL.Path != "/models/tiny.gguf" {
		http.NotFound(w, r)
		return
	}
	if s.ignoreRange {
		r.Header.Del("Range")
	}
	cw := &countingWriter{ResponseWriter: w, s: s}
	if cut > 0 {
		w.Header().Set("Content-Length", itoa(len(s.data)))
		w.WriteHeader(http.StatusOK)
		cw.Write(s.data[:cut])
		panic(http.ErrAbortHandler) // drop the connection mid-body
	}
	http.ServeContent(cw, r, "tiny.gguf", time.Time{}, bytes.NewReader(s.data))
}

func itoa(n int) string { return strconv.Itoa(n) }

type countingWriter struct {
	http.ResponseWriter
	s *server
}

func (c *countingWriter) Write(p []byte) (int, error) {
	c.s.mu.Lock()
	c.s.served += int64(len(p))
	c.s.mu.Unlock()
	return c.ResponseWriter.Write(p)
}

func testData() ([]byte, string) {
	data := make([]byte, 300_000)
	for i := range data {
		data[i] = byte(i*7 + i/251)
	}
	sum := sha256.Sum256(data)
	return data, hex.EncodeToString(sum[:])
}

func newStore(t *testing.T, srv *server, sum string) *Store {
	return &Store{
		Dir:     filepath.Join(t.TempDir(), "cache"),
		Catalog: []Known{{Name: "tiny", Aliases: []string{"tiny:f32"}, URL: srv.URL + "/models/tiny.gguf", File: "tiny.gguf", SHA256: sum}},
	}
}

func TestResolveKnownName(t *testing.T) {
	data, sum := testData()
	srv := newServer(t, data)
	st := newStore(t, srv, sum)
	var bar bytes.Buffer
	st.Progress = &bar
	ctx := context.Background()

	p, err := st.Resolve(ctx, "TINY:f32")
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(p); !bytes.Equal(got, data) || filepath.Base(p) != "tiny.gguf" {
		t.Fatalf("downloaded %d bytes to %s", len(got), p)
	}
	if !strings.Contains(bar.String(), "100%") {
		t.Errorf("progress output %q has no 100%%", bar.String())
	}
	if _, err := os.Stat(p + ".part"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("partial file left behind: %v", err)
	}
	// cached: no second request
	p2, err := st.Resolve(ctx, "tiny")
	if err != nil || p2 != p {
		t.Fatalf("second resolve: %s, %v", p2, err)
	}
	if srv.requests != 1 {
		t.Errorf("%d requests, want 1 (the second resolve must use the cache)", srv.requests)
	}
}

func TestResolveResume(t *testing.T) {
	data, sum := testData()
	srv := newServer(t, data)
	st := newStore(t, srv, sum)
	os.MkdirAll(st.Dir, 0o755)
	const have = 123_456
	os.WriteFile(filepath.Join(st.Dir, "tiny.gguf.part"), data[:have], 0o644)

	p, err := st.Resolve(context.Background(), "tiny")
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(p); !bytes.Equal(got, data) {
		t.Fatal("resumed file differs")
	}
	if srv.ranges[0] != "bytes=123456-" || srv.served != int64(len(data)-have) {
		t.Errorf("range %q, served %d bytes, want the %d missing", srv.ranges[0], srv.served, len(data)-have)
	}
}

func TestResolveInterruptedThenResumed(t *testing.T) {
	data, sum := testData()
	srv := newServer(t, data)
	srv.cutAt = 100_000
	st := newStore(t, srv, sum)
	if _, err := st.Resolve(context.Background(), "tiny"); err == nil {
		t.Fatal("interrupted download succeeded")
	}
	fi, err := os.Stat(filepath.Join(st.Dir, "tiny.gguf.part"))
	if err != nil || fi.Size() == 0 {
		t.Fatalf("no partial file kept: %v", err)
	}
	p, err := st.Resolve(context.Background(), "tiny")
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(p); !bytes.Equal(got, data) {
		t.Fatal("file differs after resume")
	}
	if srv.ranges[1] != "bytes="+itoa(int(fi.Size()))+"-" {
		t.Errorf("second request range %q, partial size %d", srv.ranges[1], fi.Size())
	}
}

func TestResolveServerIgnoresRange(t *testing.T) {
	data, sum := testData()
	srv := newServer(t, data)
	srv.ignoreRange = true
	st := newStore(t, srv, sum)
	os.MkdirAll(st.Dir, 0o755)
	os.WriteFile(filepath.Join(st.Dir, "tiny.gguf.part"), []byte("garbage that must not survive"), 0o644)
	p, err := st.Resolve(context.Background(), "tiny")
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(p); !bytes.Equal(got, data) {
		t.Fatal("file differs")
	}
}

func TestResolveCompletePartial(t *testing.T) {
	data, sum := testData()
	srv := newServer(t, data)
	st := newStore(t, srv, sum)
	os.MkdirAll(st.Dir, 0o755)
	os.WriteFile(filepath.Join(st.Dir, "tiny.gguf.part"), data, 0o644) // all there, not yet renamed
	p, err := st.Resolve(context.Background(), "tiny")
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(p); !bytes.Equal(got, data) || srv.served > 100 || srv.requests != 1 {
		t.Fatalf("served %d bytes in %d requests for a complete partial file", srv.served, srv.requests)
	}
}

func TestResolveChecksumMismatch(t *testing.T) {
	data, _ := testData()
	srv := newServer(t, data)
	st := newStore(t, srv, strings.Repeat("ab", 32))
	_, err := st.Resolve(context.Background(), "tiny")
	if !errors.Is(err, ErrChecksum) {
		t.Fatalf("error %v, want ErrChecksum", err)
	}
	for _, f := range []string{"tiny.gguf", "tiny.gguf.part"} {
		if _, err := os.Stat(filepath.Join(st.Dir, f)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s exists after a checksum mismatch", f)
		}
	}
}

func TestResolveRefs(t *testing.T) {
	data, _ := testData()
	srv := newServer(t, data)
	st := newStore(t, srv, "")
	local := filepath.Join(t.TempDir(), "local.gguf")
	os.WriteFile(local, []byte("x"), 0o644)

	tests := []struct {
		ref     string
		want    string // path suffix
		errIs   error
		errText string
	}{
		{ref: local, want: local},
		{ref: srv.URL + "/models/tiny.gguf", want: "/cache/tiny.gguf"},
		{ref: srv.URL + "/models/missing.gguf", errText: "404"},
		{ref: "no-such-model", errIs: ErrUnknown, errText: "known names: tiny"},
		{ref: filepath.Join(t.TempDir(), "absent.gguf"), errIs: ErrUnknown},
		{ref: "", errIs: ErrUnknown},
		{ref: srv.URL + "/", errText: "names no file"},
	}
	for _, tt := range tests {
		t.Run(tt.ref, func(t *testing.T) {
			p, err := st.Resolve(context.Background(), tt.ref)
			switch {
			case tt.want != "":
				if err != nil || !strings.HasSuffix(p, tt.want) {
					t.Errorf("got %q, %v; want …%s", p, err, tt.want)
				}
			case err == nil:
				t.Errorf("got %q, want an error", p)
			default:
				if tt.errIs != nil && !errors.Is(err, tt.errIs) {
					t.Errorf("error %v is not %v", err, tt.errIs)
				}
				if !strings.Contains(err.Error(), tt.errText) {
					t.Errorf("error %q lacks %q", err, tt.errText)
				}
			}
		})
	}
}

func TestPullCancelled(t *testing.T) {
	started := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000000")
		w.Write(make([]byte, 1000))
		w.(http.Flusher).Flush()
		close(started)
		<-r.Context().Done()
	}))
	defer srv.Close()
	st := &Store{Dir: t.TempDir()}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-started; cancel() }()
	_, err := st.Pull(ctx, Known{Name: "slow", URL: srv.URL + "/slow.gguf", File: "slow.gguf"})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
	if fi, err := os.Stat(filepath.Join(st.Dir, "slow.gguf.part")); err != nil || fi.Size() > 1000 {
		t.Errorf("partial file not kept for a resume: %v", err)
	}
}

func TestKnownModels(t *testing.T) {
	seen := map[string]bool{}
	for _, k := range KnownModels() {
		for _, n := range append([]string{k.Name}, k.Aliases...) {
			if seen[strings.ToLower(n)] {
				t.Errorf("name %q used twice", n)
			}
			seen[strings.ToLower(n)] = true
		}
		if !strings.HasPrefix(k.URL, "https://") || !strings.HasSuffix(k.URL, "/"+k.File) {
			t.Errorf("%s: URL %q does not end in its file %q", k.Name, k.URL, k.File)
		}
		if k.SHA256 != "" && len(k.SHA256) != 64 {
			t.Errorf("%s: sha256 %q is not 64 hex digits", k.Name, k.SHA256)
		}
	}
	if _, ok := (&Store{}).Lookup("sqlcoder-7b-2"); !ok {
		t.Error("sqlcoder-7b-2 is not known")
	}
}

func TestDefaultDir(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", "/xdg")
	if d, _ := DefaultDir(); d != "/xdg/pgask/models" {
		t.Errorf("with XDG_CACHE_HOME: %s", d)
	}
	t.Setenv("XDG_CACHE_HOME", "")
	t.Setenv("HOME", "/home/u")
	if d, _ := DefaultDir(); d != "/home/u/.cache/pgask/models" {
		t.Errorf("without XDG_CACHE_HOME: %s", d)
	}
}

func TestParseContentRange(t *testing.T) {
	tests := []struct {
		in          string
		start, size int64
		ok          bool
	}{
		{"bytes 100-199/200", 100, 200, true},
		{"bytes */300", 0, 300, true},
		{"bytes 5-9/*", 5, 0, true},
		{"items 1-2/3", 0, 0, false},
		{"bytes x-1/2", 0, 2, false},
	}
	for _, tt := range tests {
		start, size, ok := parseContentRange(tt.in)
		if start != tt.start || size != tt.size || ok != tt.ok {
			t.Errorf("%q: %d %d %v", tt.in, start, size, ok)
		}
	}
}
