// Command relay runs pgask's proxy package alone (no ASK engine) for the pass-through
// benchmark in bench/proxy/run.sh, with an optional CPU profile of the relay. -naive runs the
// floor a Go relay can reach instead: two io.Copy goroutines per connection, no protocol.
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
	flag.Parse()
	run := run
	if *naive {
		run = func(listen, upstream, _ string) error { return runNaive(listen, upstream) }
	}
	if err := run(*listen, *upstream, *cpuprofile); err != nil {
		fmt.Fprintln(os.Stderr, "relay:", err)
		os.Exit(1)
	}
}

func run(listen, upstream, cpuprofile string) error {
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
		Listen:   listen,
		Upstream: up,
		Logger:   slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	return srv.ListenAndServe(ctx)
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
