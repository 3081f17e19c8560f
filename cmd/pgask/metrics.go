package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/pgask/pgask/proxy/ask"
)

// metrics holds pgask's Prometheus metrics, in a registry of its own (no global state).
type metrics struct {
	reg      *prometheus.Registry
	asks     *prometheus.CounterVec
	stages   *prometheus.HistogramVec
	tokens   *prometheus.CounterVec
	sessions prometheus.GaugeFunc
}

func newMetrics(sessions func() int) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.asks = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "pgask_ask_total", Help: "ASK statements answered, by outcome.",
	}, []string{"outcome"})
	m.stages = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "pgask_ask_stage_seconds",
		Help:    "Time spent per ASK in each stage (introspect, queue, prompt, generate, check, execute, total).",
		Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 14),
	}, []string{"stage"})
	m.tokens = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "pgask_ask_tokens_total", Help: "Prompt tokens evaluated and reused from the KV cache, and tokens generated.",
	}, []string{"kind"})
	m.sessions = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "pgask_client_connections", Help: "Client connections open now.",
	}, func() float64 { return float64(sessions()) })
	m.reg.MustRegister(m.asks, m.stages, m.tokens, m.sessions,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// addEngine exports the in-process engine's counters once it is loaded.
func (m *metrics) addEngine(p *pipeline) {
	if p == nil || p.model == nil {
		return
	}
	model := p.model
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "pgask_engine_queue_full_total", Help: "Generations refused because the engine's queue was full.",
	}, func() float64 { return float64(model.Stats().QueueFull) }))
}

// observe records one ASK; use it as the ask handler's observer.
func (m *metrics) observe(ev ask.Event) {
	m.asks.WithLabelValues(ev.Outcome).Inc()
	for stage, d := range map[string]time.Duration{
		"introspect": ev.Introspect, "queue": ev.Translate.QueueWait, "prompt": ev.Translate.PromptEval,
		"generate": ev.Translate.Generation, "check": ev.Translate.Check, "execute": ev.Execute, "total": ev.Total,
	} {
		m.stages.WithLabelValues(stage).Observe(d.Seconds())
	}
	m.tokens.WithLabelValues("prompt_evaluated").Add(float64(max(ev.PromptTokens-ev.ReusedTokens, 0)))
	m.tokens.WithLabelValues("prompt_reused").Add(float64(ev.ReusedTokens))
	m.tokens.WithLabelValues("generated").Add(float64(ev.GeneratedTokens))
}

// handler serves /metrics, /healthz (the process is up) and /readyz (the upstream accepts TCP
// connections and ASK can be answered).
func (m *metrics) handler(upstreamAddr string, p *pipeline) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", upstreamAddr)
		if err != nil {
			http.Error(w, "upstream unreachable: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		c.Close()
		if p != nil && p.unavailable != nil {
			http.Error(w, p.unavailable.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	return mux
}

// serveMetrics runs the metrics listener until ctx ends.
func serveMetrics(ctx context.Context, l net.Listener, h http.Handler, log *slog.Logger) {
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = hs.Shutdown(sctx)
	}()
	log.Info("metrics listening", "addr", l.Addr().String())
	if err := hs.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Error("metrics listener", "err", err)
	}
}
