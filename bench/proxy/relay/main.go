// Command relay runs pgask's proxy package alone (no ASK engine) for the pass-through
// benchmark in bench/proxy/run.sh, with an optional CPU profile of the relay. Its Interceptor
// passes everything through, so Query and Parse texts go through the same ASK prefilter as in
// pgask serve (statements that pass it move to the goroutine relay). -relay-threads -1
// runs the goroutine relay alone (what TLS and ASK sessions use); -naive runs the floor of a
// goroutine relay instead: two io.Copy goroutines per connection, no protocol.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"

	"github.com/pgask/pgask/proxy"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:6432", "address to listen on")
	upstream := flag.String("upstream", "127.0.0.1:5432", "upstream host:port or postgres:// URL")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile to this file until SIGTERM")
	naive := flag.Bool("naive", false, "relay bytes with two io.Copy goroutines (upstream must be host:port)")
	threads := flag.Int("relay-threads", 0, "proxy.Options.RelayThreads: 0 = the default (1), -1 = the goroutine relay only")
	noURing := flag.Bool("no-io-uring", false, "proxy.Options.RelayNoIOURing: one read(2) and write(2) per socket")
	flag.Parse()
	var err error
	if *naive {
		err = runNaive(*listen, *upstream)
	} else {
		err = run(*listen, *upstream, *cpuprofile, *threads, *noURing)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "relay:", err)
		os.Exit(1)
	}
}

func run(listen, upstream, cpuprofile string, threads int, noURing bool) error {
	up, err := proxy.ParseUpstream(upstream)
	if err != nil {
		return err
	}
	if cpuprofile != "" {
		f, err := os.Create(cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	srv, err := proxy.New(proxy.Options{
		Listen:         listen,
		Upstream:       up,
		RelayThreads:   threads,
		RelayNoIOURing: noURing,
		Interceptor:    passThrough{},
		Logger:         slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	return srv.ListenAndServe(ctx)
}

// passThrough sees what pgask serve's ASK handler would see, and relays it unchanged.
type passThrough struct{}

func (passThrough) Query(context.Context, *proxy.Session, string) error { return proxy.ErrPassThrough }

func (passThrough) Parse(context.Context, *proxy.Session, string, string) (string, error) {
	return "", proxy.ErrPassThrough
}

// runNaive is the two-goroutine byte pump the issue compares with.
func runNaive(listen, upstream string) error {
	l, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	for {
		c, err := l.Accept()
		if err != nil {
			return err
		}
		go func() {
			defer c.Close()
			u, err := net.Dial("tcp", upstream)
			if err != nil {
				return
			}
			defer u.Close()
			go func() { _, _ = io.Copy(u, c); u.Close() }()
			_, _ = io.Copy(c, u)
		}()
	}
}
