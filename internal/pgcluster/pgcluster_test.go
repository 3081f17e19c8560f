package pgcluster_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgask/pgask/internal/pgcluster"
)

func TestStartQueryRestartClose(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := pgcluster.Start(ctx, pgcluster.Options{Settings: map[string]string{"work_mem": "'8MB'"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	conn, err := pgx.Connect(ctx, c.URL("postgres", "postgres"))
	if err != nil {
		t.Fatal(err)
	}
	var wm string
	if err := conn.QueryRow(ctx, "show work_mem").Scan(&wm); err != nil {
		t.Fatal(err)
	}
	if wm != "8MB" {
		t.Errorf("work_mem = %q, want 8MB (setting not applied)", wm)
	}
	conn.Close(ctx)

	if err := c.CreateDatabase(ctx, "shop"); err != nil {
		t.Fatal(err)
	}
	if err := c.Exec(ctx, "shop", "create table t(a int); insert into t values (42)"); err != nil {
		t.Fatal(err)
	}
	if err := c.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	out, err := c.Psql(ctx, "shop", "-At", "-c", "select a from t")
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(string(out)) != "42" {
		t.Errorf("after restart got %q, want 42", out)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := pgx.Connect(ctx, c.URL("postgres", "postgres")); err == nil {
		t.Fatal("connect after Close succeeded")
	}
}
