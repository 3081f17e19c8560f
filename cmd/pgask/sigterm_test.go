package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestMain lets the test binary stand in for the pgask binary: with PGASK_TEST_MAIN set it runs
// main() with the arguments after "--", so signal handling is tested as shipped.
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
	os.Exit(m.Run())
}

// SIGTERM drains: the listener closes, an open session keeps working until its client leaves,
// then the process exits 0.
func TestSIGTERMDrains(t *testing.T) {
	c, db := shopCluster(t)
	cmd := exec.Command(os.Args[0], "-test.run=^$", "--", "serve", "--listen", "127.0.0.1:0", "--upstream", c.Addr(),
		"--model", filepath.Join(t.TempDir(), "none.gguf"), "--model-download=false", "--shutdown-timeout", "2m", "--log-level", "info")
	cmd.Env = append(os.Environ(), "PGASK_TEST_MAIN=1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	addr := ""
	deadline := time.After(time.Minute)
	for addr == "" {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("pgask exited before listening")
			}
			if strings.Contains(l, "proxy listening") {
				_, rest, _ := strings.Cut(l, "addr=")
				addr, _, _ = strings.Cut(rest, " ")
			}
		case <-deadline:
			t.Fatal("pgask did not start listening")
		}
	}
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
	for draining := false; !draining; {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("pgask exited while a session was open")
			}
			draining = strings.Contains(l, "waiting for sessions")
		case <-deadline:
			t.Fatal("pgask did not start draining")
		}
	}
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
