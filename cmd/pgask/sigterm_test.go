package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgask/pgask/internal/pgcluster"
	"github.com/pgask/pgask/internal/pgtest"
)

// TestMain lets the test binary stand in for the pgask binary: with PGASK_TEST_MAIN set it runs
// main() with the arguments after "--", so signal handling is tested as shipped. Otherwise the
// tests run through pgtest.Main, which stops the shared cluster when they end.
func TestMain(m *testing.M) {
	if os.Getenv("PGASK_TEST_MAIN") == "1" {
		for i, a := range os.Args {
			if a == "--" {
				os.Args = append([]string{"pgask"}, os.Args[i+1:]...)
				break
			}
		}
		main()
		os.Exit(0)
	}
	pgtest.Main(m)
}

// startMain runs the test binary as pgask with args; lines carries its stderr, line by line.
func startMain(t *testing.T, args ...string) (*exec.Cmd, <-chan string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"-test.run=^$", "--"}, args...)...)
	cmd.Env = append(os.Environ(), "PGASK_TEST_MAIN=1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	lines := make(chan string, 1000)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	return cmd, lines
}

// waitLog waits for a log line containing msg and returns the value of its attribute attr.
func waitLog(t *testing.T, lines <-chan string, msg, attr string) string {
	t.Helper()
	deadline := time.After(2 * time.Minute)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("pgask exited before logging %q", msg)
			}
			if strings.Contains(l, msg) {
				_, rest, _ := strings.Cut(l, attr+"=")
				v, _, _ := strings.Cut(rest, " ")
				return v
			}
		case <-deadline:
			t.Fatalf("pgask did not log %q", msg)
		}
	}
}

// startServeNoModel runs pgask serve (no model: ASK unavailable, everything else relayed) in
// front of c with the given shutdown timeout and returns it with its stderr and address.
func startServeNoModel(t *testing.T, c *pgcluster.Cluster, shutdown string) (*exec.Cmd, <-chan string, string) {
	t.Helper()
	cmd, lines := startMain(t, "serve", "--listen", "127.0.0.1:0", "--upstream", c.Addr(),
		"--model", filepath.Join(t.TempDir(), "none.gguf"), "--model-download=false", "--shutdown-timeout", shutdown, "--log-level", "info")
	return cmd, lines, waitLog(t, lines, "proxy listening", "addr")
}

// SIGTERM drains: the listener closes, an open session keeps working until its client leaves,
// then the process exits 0.
func TestSIGTERMDrains(t *testing.T) {
	c, db := shopCluster(t)
	cmd, lines, addr := startServeNoModel(t, c, "2m")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	url := fmt.Sprintf("postgres://postgres@%s/%s?sslmode=disable", addr, db)
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "BEGIN"); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// Wait until pgask says it is draining, then check both halves of a drain.
	waitLog(t, lines, "waiting for sessions", "sessions")
	if c2, err := pgx.Connect(ctx, url); err == nil {
		c2.Close(ctx)
		t.Error("a new connection was accepted while draining")
	}
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM customers").Scan(&n); err != nil || n != 200 {
		t.Fatalf("open session while draining: %d, %v", n, err)
	}
	if _, err := conn.Exec(ctx, "COMMIT"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	conn.Close(ctx)
	go func() {
		for range lines { // keep draining stderr so the process never blocks on it
		}
	}()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("pgask exited with %v after the drain", err)
		}
		if d := time.Since(start); d > 30*time.Second {
			t.Errorf("pgask took %v to exit after the last session ended", d)
		}
	case <-time.After(time.Minute):
		t.Fatal("pgask did not exit after the last session ended")
	}
}

// The metrics listener is up while the model downloads: /healthz answers, /readyz says pgask is
// starting; once the (here unusable) model is in, /readyz gives the reason ASK is unavailable.
func TestProbesDuringModelDownload(t *testing.T) {
	c := pgtest.Start(t, pgcluster.Options{})
	release := make(chan struct{})
	model := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "2048")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(make([]byte, 1024))
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		_, _ = w.Write(make([]byte, 1024)) // not a GGUF: the load fails
	}))
	defer model.Close()
	_, lines := startMain(t, "serve", "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0", "--upstream", c.Addr(),
		"--model", model.URL+"/tiny.gguf", "--model-cache-dir", t.TempDir(), "--log-level", "info")
	maddr := waitLog(t, lines, "metrics listening", "addr")
	if code, body := get(t, "http://"+maddr+"/healthz"); code != 200 {
		t.Errorf("/healthz while downloading = %d %q", code, body)
	}
	if code, body := get(t, "http://"+maddr+"/readyz"); code != 503 || !strings.Contains(body, "starting") {
		t.Errorf("/readyz while downloading = %d %q, want 503 starting", code, body)
	}
	close(release)
	waitLog(t, lines, "proxy listening", "addr")
	if code, body := get(t, "http://"+maddr+"/readyz"); code != 503 || !strings.Contains(body, "could not be loaded") {
		t.Errorf("/readyz with an unusable model = %d %q", code, body)
	}
	if code, body := get(t, "http://"+maddr+"/metrics"); code != 200 || !strings.Contains(body, "pgask_client_connections 0") {
		t.Errorf("/metrics = %d, lacks pgask_client_connections 0", code)
	}
}

// A second SIGTERM during the drain ends pgask at once.
func TestSecondSIGTERMForces(t *testing.T) {
	c, db := shopCluster(t)
	cmd, lines, addr := startServeNoModel(t, c, "10m")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, fmt.Sprintf("postgres://postgres@%s/%s?sslmode=disable", addr, db))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitLog(t, lines, "waiting for sessions", "sessions")
	done := make(chan error, 1)
	go func() {
		for range lines {
		}
	}()
	go func() { done <- cmd.Wait() }()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err == nil {
			t.Error("pgask exited 0 on a forced stop, want death by the signal")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("a second SIGTERM did not end pgask")
	}
}
