// Package asktest runs pgask's proxy with the ASK service that askservice builds, for tests
// that need the real translator, introspection and proxy in front of a real PostgreSQL but a
// model that answers as scripted (an askservice.EngineOf over a test engine).
package asktest

import (
	"context"
	"net"
	"testing"

	"github.com/pgask/pgask/askservice"
	"github.com/pgask/pgask/proxy"
)

// Serve starts the proxy in front of upstream (host:port, plain TCP) with the ASK service
// askservice.New builds from opts, listening on a free loopback port, and stops both when the
// test ends. An empty opts.Template means sqlcoder-7b-2; opts.Upstream defaults to upstream.
func Serve(t testing.TB, upstream string, opts askservice.Options) string {
	t.Helper()
	if opts.Template == "" {
		opts.Template = "sqlcoder-7b-2"
	}
	if opts.Upstream == "" {
		opts.Upstream = upstream
	}
	svc, err := askservice.New(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := proxy.New(proxy.Options{Upstream: proxy.Upstream{Addr: upstream, TLSMode: proxy.TLSDisable}, Interceptor: svc.Handler()})
	if err != nil {
		svc.Close()
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		srv.Close()
		svc.Close()
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ctx, l) }()
	t.Cleanup(func() { cancel(); srv.Close(); <-done; svc.Close() })
	return l.Addr().String()
}
