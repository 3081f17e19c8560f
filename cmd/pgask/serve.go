package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime"
	"strings"
	"sync/atomic"

	"github.com/spf13/cobra"

	"github.com/pgask/pgask/askservice"
	"github.com/pgask/pgask/config"
	"github.com/pgask/pgask/proxy"
	"github.com/pgask/pgask/proxy/ask"
	"github.com/pgask/pgask/translate/models"
)

func newServeCmd() *cobra.Command {
	var configFile string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the proxy in front of a PostgreSQL server",
		Long: `Run pgask in front of a PostgreSQL server. Clients connect to --listen with their own
user, database and password; pgask relays authentication to --upstream, passes every
statement through untouched and answers ASK statements.

Every key can be set in a YAML file (--config), through PGASK_* environment variables or
with flags; flags win over the environment, which wins over the file.

Configuration keys (file key, environment variable, default):
` + keyTable(),
		Example: `  pgask serve --upstream postgres://db.internal:5432/?sslmode=require
  PGASK_UPSTREAM=127.0.0.1:5432 pgask serve --listen 0.0.0.0:6432 --model sqlcoder-7b-2`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(configFile, cmd.Flags(), nil)
			if err != nil {
				return err
			}
			return serve(cmd, cfg)
		},
	}
	cmd.Flags().StringVar(&configFile, "config", "", "YAML configuration file")
	config.RegisterFlags(cmd.Flags())
	return cmd
}

// keyTable documents every configuration key for --help.
func keyTable() string {
	var b strings.Builder
	for _, k := range config.Keys() {
		fmt.Fprintf(&b, "  %-24s %-32s %v\n", k.Name, "$"+k.Env(), k.Default)
	}
	b.WriteString("  (the OpenAI-compatible engine's API key is read from $PGASK_OPENAI_API_KEY only)\n")
	return b.String()
}

// proxyOptions maps the configuration onto the proxy's options.
func proxyOptions(cfg *config.Config) (proxy.Options, error) {
	up, err := proxy.ParseUpstream(cfg.Upstream)
	if err != nil {
		return proxy.Options{}, fmt.Errorf("upstream: %w", err)
	}
	opts := proxy.Options{
		Listen:          cfg.Listen,
		Upstream:        up,
		MaxConnections:  cfg.MaxConnections,
		RelayThreads:    relayThreads(cfg.RelayThreads),
		RelayNoIOURing:  !cfg.RelayIOURing,
		MaxMessageSize:  int(cfg.MaxMessageSize),
		IdleTimeout:     cfg.IdleTimeout,
		StartupTimeout:  cfg.StartupTimeout,
		ConnectTimeout:  cfg.ConnectTimeout,
		ShutdownTimeout: cfg.ShutdownTimeout,
	}
	if cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return proxy.Options{}, fmt.Errorf("tls-cert: load key pair: %w", err)
		}
		opts.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	return opts, nil
}

func serve(cmd *cobra.Command, cfg *config.Config) error {
	log, err := newLogger(os.Stderr, cfg.LogLevel, cfg.LogFormat)
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	// The metrics listener comes up first, so that /healthz answers and /readyz says "starting"
	// while a model downloads or loads (minutes for a first download): a liveness probe must
	// not kill pgask for it.
	var live atomic.Pointer[running]
	m := newMetrics(func() proxy.Stats {
		if r := live.Load(); r != nil {
			return r.srv.Stats()
		}
		return proxy.Stats{}
	})
	if cfg.MetricsListen != "" {
		ml, err := net.Listen("tcp", cfg.MetricsListen)
		if err != nil {
			return fmt.Errorf("metrics-listen: %w", err)
		}
		up, _ := proxy.ParseUpstream(cfg.Upstream)
		go serveMetrics(ctx, ml, m.handler(up.Addr, func() *pipeline {
			if r := live.Load(); r != nil {
				return r.p
			}
			return nil
		}), log)
	}
	srv, p, err := newServerWith(ctx, cfg, log, m)
	if err != nil {
		return err
	}
	defer p.Close()
	defer srv.Close()
	live.Store(&running{srv: srv, p: p})
	return srv.ListenAndServe(ctx)
}

// running is what the metrics listener reads once the proxy is built.
type running struct {
	srv *proxy.Server
	p   *pipeline
}

// newServer builds the proxy and its ASK pipeline from the configuration, with metrics of its
// own (p.metrics).
func newServer(ctx context.Context, cfg *config.Config, log *slog.Logger, observe ...func(ask.Event)) (*proxy.Server, *pipeline, error) {
	var srv atomic.Pointer[proxy.Server]
	m := newMetrics(func() proxy.Stats {
		if s := srv.Load(); s != nil {
			return s.Stats()
		}
		return proxy.Stats{}
	})
	s, p, err := newServerWith(ctx, cfg, log, m, observe...)
	if err != nil {
		return nil, nil, err
	}
	srv.Store(s)
	return s, p, nil
}

// newServerWith builds the proxy and its ASK pipeline, recording into m.
func newServerWith(ctx context.Context, cfg *config.Config, log *slog.Logger, m *metrics, extra ...func(ask.Event)) (*proxy.Server, *pipeline, error) {
	opts, err := proxyOptions(cfg)
	if err != nil {
		return nil, nil, err
	}
	opts.Logger = log
	// ggml reports through the process-wide default logger: route it to ours.
	slog.SetDefault(log)
	// Each relay thread keeps one P; the program, not the proxy library, makes room for them.
	if n := opts.RelayThreads; n > 0 && runtime.GOMAXPROCS(0) <= n {
		runtime.GOMAXPROCS(n + 1)
		log.Info("GOMAXPROCS raised so that relay threads leave a P for the rest", "gomaxprocs", n+1, "relay_threads", n)
	}
	sopts, err := serviceOptions(cfg, log, models.TerminalProgress(os.Stderr), func(ev ask.Event) {
		m.observe(ev)
		for _, o := range extra {
			o(ev)
		}
	})
	if err != nil {
		return nil, nil, err
	}
	svc, err := askservice.New(ctx, sopts)
	if err != nil {
		return nil, nil, err
	}
	m.addEngine(svc)
	if c := svc.Schemas(); c != nil {
		m.addSchemaCache(c.Stats)
	}
	opts.Interceptor = svc.Handler()
	srv, err := proxy.New(opts)
	if err != nil {
		svc.Close()
		return nil, nil, fmt.Errorf("start proxy: %w", err)
	}
	return srv, &pipeline{Service: svc, metrics: m}, nil
}

// relayThreads maps the relay-threads key (0: goroutines only) to proxy.Options (negative).
func relayThreads(n int) int {
	if n == 0 {
		return -1
	}
	return n
}
