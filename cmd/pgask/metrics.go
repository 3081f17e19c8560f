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

	"github.com/pgask/pgask/askservice"
	"github.com/pgask/pgask/introspect"
	"github.com/pgask/pgask/proxy"
	"github.com/pgask/pgask/proxy/ask"
)

// metrics holds pgask's Prometheus metrics, in a registry of its own (no global state).
type metrics struct {
	reg          *prometheus.Registry
	asks         *prometheus.CounterVec
	stages       *prometheus.HistogramVec
	tokens       *prometheus.CounterVec
	translations *prometheus.CounterVec
}

// newMetrics registers pgask's metrics; stats reads the proxy's counters at each scrape (it
// may return the zero Stats before the proxy exists).
func newMetrics(stats func() proxy.Stats) *metrics {
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
	m.translations = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "pgask_translation_cache_total", Help: "ASK translations served from the translation cache (hit) or generated (miss).",
	}, []string{"result"})
	m.reg.MustRegister(m.asks, m.stages, m.tokens, m.translations, proxyCollector{stats},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// proxyCollector exports proxy.Stats, read once per scrape.
type proxyCollector struct{ stats func() proxy.Stats }

var (
	descOpen      = prometheus.NewDesc("pgask_client_connections", "Client connections open now.", nil, nil)
	descAccepted  = prometheus.NewDesc("pgask_client_connections_total", "Client connections accepted.", nil, nil)
	descRejected  = prometheus.NewDesc("pgask_client_connections_rejected_total", "Client connections refused before their session started, by reason.", []string{"reason"}, nil)
	descConnErr   = prometheus.NewDesc("pgask_upstream_connect_errors_total", "Failed connections (dial or TLS) to the upstream server.", nil, nil)
	descBytes     = prometheus.NewDesc("pgask_relayed_bytes_total", "Protocol bytes relayed, by direction.", []string{"direction"}, nil)
	descMessages  = prometheus.NewDesc("pgask_relayed_messages_total", "Protocol messages relayed, by direction.", []string{"direction"}, nil)
	descSessErrs  = prometheus.NewDesc("pgask_session_errors_total", "Sessions ended by pgask, by reason.", []string{"reason"}, nil)
	descRelayThr  = prometheus.NewDesc("pgask_relay_thread_sessions_total", "Sessions relayed by the relay threads (relay-threads), and those handed to the goroutine relay for an ASK.", []string{"stage"}, nil)
	descRingBatch = prometheus.NewDesc("pgask_relay_thread_io_uring_batches_total", "io_uring_enter calls the relay threads made, each for a batch of reads or of writes (relay-io-uring); 0 where io_uring is unavailable.", nil, nil)
	proxyDescList = []*prometheus.Desc{descOpen, descAccepted, descRejected, descConnErr, descBytes, descMessages, descSessErrs, descRelayThr, descRingBatch}
)

func (proxyCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range proxyDescList {
		ch <- d
	}
}

func (c proxyCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.stats()
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	ch <- prometheus.MustNewConstMetric(descOpen, prometheus.GaugeValue, float64(st.Open))
	counter(descAccepted, st.Accepted)
	counter(descRejected, st.RejectedMaxConnections, "max_connections")
	counter(descRejected, st.RejectedStartup, "startup")
	counter(descRejected, st.RejectedUpstream, "upstream_unavailable")
	counter(descRejected, st.RejectedAuth, "auth")
	counter(descConnErr, st.UpstreamConnectErrors)
	counter(descBytes, st.ClientBytes, "client_to_server")
	counter(descBytes, st.ServerBytes, "server_to_client")
	counter(descMessages, st.ClientMessages, "client_to_server")
	counter(descMessages, st.ServerMessages, "server_to_client")
	counter(descSessErrs, st.IdleTimeouts, "idle_timeout")
	counter(descSessErrs, st.TooLarge, "message_too_large")
	counter(descSessErrs, st.ProtocolErrors, "protocol_error")
	counter(descSessErrs, st.UpstreamLost, "upstream_lost")
	counter(descRelayThr, st.RelayThreadSessions, "started")
	counter(descRelayThr, st.RelayThreadHandoffs, "handed_off")
	counter(descRingBatch, st.RelayThreadRingBatches)
}

// addSchemaCache exports the schema cache's hit and miss counts.
func (m *metrics) addSchemaCache(stats func() introspect.CacheStats) {
	for result, get := range map[string]func(introspect.CacheStats) int64{
		"hit":  func(s introspect.CacheStats) int64 { return s.Hits },
		"miss": func(s introspect.CacheStats) int64 { return s.Misses },
	} {
		m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "pgask_schema_cache_total", Help: "Schema lookups served from the cache (hit) or read from the catalog (miss).",
			ConstLabels: prometheus.Labels{"result": result},
		}, func() float64 { return float64(get(stats())) }))
	}
}

// addEngine exports the engine's queue counters when it reports them (the in-process one).
func (m *metrics) addEngine(svc *askservice.Service) {
	if _, ok := svc.EngineStats(); !ok {
		return
	}
	stats := func() askservice.EngineStats { st, _ := svc.EngineStats(); return st }
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "pgask_engine_queue_full_total", Help: "Generations refused because the engine's queue was full.",
	}, func() float64 { return float64(stats().QueueFull) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "pgask_engine_queue_depth", Help: "Generations waiting for a free llama context (slots of model.queue-depth in use).",
		}, func() float64 { return float64(stats().Queued) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "pgask_engine_busy", Help: "llama contexts generating now (at most model.parallel).",
		}, func() float64 { return float64(stats().Busy) }))
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
	if ev.Attempts > 0 || ev.Cached {
		result := "miss"
		if ev.Cached {
			result = "hit"
		}
		m.translations.WithLabelValues(result).Inc()
	}
}

// handler serves /metrics, /healthz (the process is up) and /readyz (the upstream accepts TCP
// connections and ASK can be answered). pipe returns nil while the pipeline is being built
// (model download or load): /readyz then says pgask is starting.
func (m *metrics) handler(upstreamAddr string, pipe func() *pipeline) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		p := pipe()
		if p == nil {
			http.Error(w, "starting: the model is being downloaded or loaded", http.StatusServiceUnavailable)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", upstreamAddr)
		if err != nil {
			http.Error(w, "upstream unreachable: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		c.Close()
		if ue := p.Unavailable(); ue != nil {
			http.Error(w, ue.Error(), http.StatusServiceUnavailable)
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
