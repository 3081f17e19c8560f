package main

import (
	"bytes"
	"context"
	"net"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// TestDemo runs `pgask demo` without a model: the shop database is served through pgask, the
// output says how to connect and that ASK is unavailable, and cancelling (Ctrl-C) removes the
// throwaway cluster.
func TestDemo(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cmd := newRootCmd()
	var out syncBuffer
	cmd.SetOut(&out)
	cmd.SetArgs([]string{"demo", "--listen", addr, "--model-download=false", "--model-cache-dir", t.TempDir(), "--log-level", "error"})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()

	deadline := time.Now().Add(2 * time.Minute)
	for !strings.Contains(out.String(), "Press Ctrl-C") {
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("demo did not come up:\n%s", out.String())
		}
		select {
		case err := <-done:
			t.Fatalf("demo ended early: %v\n%s", err, out.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
	text := out.String()
	for _, want := range []string{"psql -h 127.0.0.1 -p ", "ASK $$how many customers are there$$;", "ASK $$what's", "ASK is not available", "pgask pull"} {
		if !strings.Contains(text, want) {
			t.Errorf("demo output lacks %q:\n%s", want, text)
		}
	}
	conn, err := pgx.Connect(context.Background(), "postgres://postgres@"+addr+"/shop?sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := conn.QueryRow(context.Background(), "select count(*) from customers").Scan(&n); err != nil || n != 200 {
		t.Errorf("shop through pgask: %d %v", n, err)
	}
	conn.Close(context.Background())
	upstream := regexp.MustCompile(`in front of PostgreSQL \d+ \(([0-9.:]+)\)`).FindStringSubmatch(text)
	if upstream == nil {
		t.Fatalf("no upstream address in output:\n%s", text)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("demo returned %v after Ctrl-C", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("demo did not stop after Ctrl-C")
	}
	if c, err := net.DialTimeout("tcp", upstream[1], time.Second); err == nil {
		c.Close()
		t.Errorf("throwaway PostgreSQL at %s still running after the demo stopped", upstream[1])
	}
}
