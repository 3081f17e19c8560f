// Package asktest runs pgask's proxy with the ASK handler over a test engine, for tests that
// need the real translator, introspection and proxy in front of a real PostgreSQL but a model
// that answers as scripted.
package asktest

import (
	"context"
	"net"
	"testing"

	"github.com/pgask/pgask/introspect"
	"github.com/pgask/pgask/proxy"
	"github.com/pgask/pgask/proxy/ask"
	"github.com/pgask/pgask/translate"
)

// Serve starts the proxy in front of upstream (host:port, plain TCP) with an ASK handler that
// translates through engine, listening on a free loopback port, and stops it when the test
// ends. A zero topts.Template means sqlcoder-7b-2; aopts.Upstream defaults to upstream.
func Serve(t testing.TB, upstream string, engine translate.Engine, topts translate.Options, aopts ask.Options) string {
	t.Helper()
	if topts.Template == nil {
		tmpl, err := translate.SelectTemplate("sqlcoder-7b-2", nil)
		if err != nil {
			t.Fatal(err)
		}
		topts.Template = tmpl
	}
	tr, err := translate.New(engine, topts, nil)
	if err != nil {
		t.Fatal(err)
	}
	if aopts.Upstream == "" {
		aopts.Upstream = upstream
	}
	h, err := ask.New(introspect.NewCache(introspect.CacheOptions{}), tr, aopts)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := proxy.New(proxy.Options{Upstream: proxy.Upstream{Addr: upstream, TLSMode: proxy.TLSDisable}, Interceptor: h})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ctx, l) }()
	t.Cleanup(func() { cancel(); srv.Close(); <-done })
	return l.Addr().String()
}
