// Package proxy is pgask's PostgreSQL wire-protocol proxy: it accepts clients (TLS optional),
// relays their startup and authentication to the upstream server so the upstream decides,
// maps cancel keys, and then relays raw protocol frames in both directions, decoding only
// what must be inspected. Client Query and Parse texts that may start with ASK are offered
// to an Interceptor, which can answer them itself, running its own SQL on the client's
// upstream session through Session.
package proxy

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Server is a running proxy. Create it with New.
type Server struct {
	opts     Options
	log      *slog.Logger
	upTLS    *tls.Config
	clientTL *tls.Config // client side, ALPN "postgresql" added

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	sessions  map[*session]struct{}
	cancels   map[string]*session // our pid+secret → session
	closed    bool
	addr      net.Addr
	addrReady chan struct{}
	idle      chan struct{} // closed and replaced when sessions drop to zero while shutting down

	active     atomic.Int64
	counters   serverCounters
	baseCtx    context.Context
	baseCancel context.CancelFunc
	closeOnce  sync.Once

	loopsOnce sync.Once
	loops     []*eventLoop // started by the first session that can use one
	loopNext  atomic.Uint32
}

// New checks opts and returns a Server ready to Serve.
func New(opts Options) (*Server, error) {
	if err := opts.Upstream.validate(); err != nil {
		return nil, fmt.Errorf("proxy: upstream: %w", err)
	}
	if opts.MaxConnections < 0 {
		return nil, errors.New("proxy: max connections must not be negative")
	}
	if opts.MaxMessageSize < 0 || opts.IdleTimeout < 0 {
		return nil, errors.New("proxy: max message size and idle timeout must not be negative")
	}
	if opts.MaxMessageSize == 0 || opts.MaxMessageSize > maxMessageLen {
		opts.MaxMessageSize = maxMessageLen
	}
	if opts.RelayThreads == 0 {
		opts.RelayThreads = DefaultRelayThreads
	}
	if opts.StartupTimeout <= 0 {
		opts.StartupTimeout = DefaultStartupTimeout
	}
	if opts.ConnectTimeout <= 0 {
		opts.ConnectTimeout = DefaultConnectTimeout
	}
	if opts.ShutdownTimeout <= 0 {
		opts.ShutdownTimeout = DefaultShutdownTimeout
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	upTLS, err := opts.Upstream.tlsConfig()
	if err != nil {
		return nil, fmt.Errorf("proxy: upstream TLS: %w", err)
	}
	s := &Server{
		opts: opts, log: log, upTLS: upTLS,
		listeners: map[net.Listener]struct{}{}, sessions: map[*session]struct{}{},
		cancels: map[string]*session{}, addrReady: make(chan struct{}),
	}
	if opts.TLSConfig != nil {
		s.clientTL = opts.TLSConfig.Clone()
		if len(s.clientTL.NextProtos) == 0 {
			s.clientTL.NextProtos = []string{"postgresql"}
		}
	}
	s.baseCtx, s.baseCancel = context.WithCancel(context.Background())
	return s, nil
}

// ListenAndServe listens on Options.Listen and serves until ctx ends (then shuts down
// gracefully within Options.ShutdownTimeout) or Shutdown/Close is called.
func (s *Server) ListenAndServe(ctx context.Context) error {
	addr := s.opts.Listen
	if addr == "" {
		addr = "127.0.0.1:6432"
	}
	var lc net.ListenConfig
	l, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("proxy: listen %s: %w", addr, err)
	}
	return s.Serve(ctx, l)
}

// ErrServerClosed is returned by Serve when the server was closed before Serve was called.
var ErrServerClosed = errors.New("proxy: server closed")

// Serve accepts clients on l until ctx ends or Shutdown/Close is called. When ctx ends it
// stops accepting and lets sessions finish for up to Options.ShutdownTimeout, then closes
// them. It returns nil after a shutdown, or the accept error that stopped it.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		l.Close()
		return ErrServerClosed
	}
	s.listeners[l] = struct{}{}
	if s.addr == nil {
		s.addr = l.Addr()
		close(s.addrReady)
	}
	s.mu.Unlock()

	stop := context.AfterFunc(ctx, func() {
		sctx, cancel := context.WithTimeout(context.Background(), s.opts.ShutdownTimeout)
		defer cancel()
		_ = s.Shutdown(sctx)
	})
	defer stop()
	s.log.Info("proxy listening", "addr", l.Addr().String(), "upstream", s.opts.Upstream.Addr)

	var delay time.Duration
	for {
		c, err := l.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed || errors.Is(err, net.ErrClosed) {
				if ctx.Err() != nil {
					s.waitIdle() // Shutdown runs in AfterFunc: return once it is done
				}
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				s.log.Warn("accept", "err", err)
				time.Sleep(delay)
				continue
			}
			return fmt.Errorf("proxy: accept: %w", err)
		}
		delay = 0
		sess := s.newSession(c)
		if sess == nil {
			continue
		}
		go sess.run()
	}
}

// Addr returns the address of the first listener Serve was given; it waits for Serve to
// start or ctx to end.
func (s *Server) Addr(ctx context.Context) (net.Addr, error) {
	select {
	case <-s.addrReady:
		return s.addr, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (s *Server) newSession(c net.Conn) *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		c.Close()
		return nil
	}
	sess := newSession(s, c)
	s.sessions[sess] = struct{}{}
	s.counters.accepted.Add(1)
	return sess
}

func (s *Server) removeSession(sess *session) {
	s.mu.Lock()
	delete(s.sessions, sess)
	s.retireTraffic(sess)
	if sess.ourKey != "" {
		delete(s.cancels, sess.ourKey)
	}
	if len(s.sessions) == 0 && s.idle != nil {
		close(s.idle)
		s.idle = nil
	}
	s.mu.Unlock()
	if o, ok := s.opts.Interceptor.(SessionCloser); ok {
		o.SessionClosed(&sess.handle)
	}
}

// eventLoop returns the event loop for a new plain-TCP session (round robin), starting the
// loops on first use; nil when sessions use the goroutine relay.
func (s *Server) eventLoop() *eventLoop {
	s.loopsOnce.Do(func() {
		if s.opts.RelayThreads < 0 || s.baseCtx.Err() != nil {
			return
		}
		loops, err := startLoops(s, s.opts.RelayThreads)
		if err != nil {
			s.log.Warn("relay threads not started: sessions use the goroutine relay", "err", err)
			return
		}
		s.loops = loops
		context.AfterFunc(s.baseCtx, func() {
			for _, l := range loops {
				l.stop()
			}
		})
	})
	if len(s.loops) == 0 {
		return nil
	}
	return s.loops[int(s.loopNext.Add(1)%uint32(len(s.loops)))]
}

// acquire takes a connection slot; false when MaxConnections is reached.
func (s *Server) acquire() bool {
	n := s.active.Add(1)
	if s.opts.MaxConnections > 0 && n > int64(s.opts.MaxConnections) {
		s.active.Add(-1)
		return false
	}
	return true
}

func (s *Server) release() { s.active.Add(-1) }

// registerCancel gives sess a fresh secret of the upstream key's length and indexes it.
func (s *Server) registerCancel(sess *session, pid uint32, upKey []byte) []byte {
	secret := make([]byte, len(upKey))
	for {
		_, _ = rand.Read(secret)
		k := cancelKey(pid, secret)
		s.mu.Lock()
		if _, dup := s.cancels[k]; !dup {
			s.cancels[k] = sess
			sess.ourKey = k
			s.mu.Unlock()
			return secret
		}
		s.mu.Unlock()
	}
}

func (s *Server) lookupCancel(pid uint32, secret []byte) *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cancels[cancelKey(pid, secret)]
}

func cancelKey(pid uint32, secret []byte) string {
	b := make([]byte, 4, 4+len(secret))
	b[0], b[1], b[2], b[3] = byte(pid>>24), byte(pid>>16), byte(pid>>8), byte(pid)
	return string(append(b, secret...))
}

// Shutdown stops accepting, waits for sessions to end until ctx is done, then closes the
// rest. It returns ctx.Err() when sessions had to be closed.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	for l := range s.listeners {
		l.Close()
	}
	if len(s.sessions) == 0 {
		s.mu.Unlock()
		s.closeAll()
		return nil
	}
	if s.idle == nil {
		s.idle = make(chan struct{})
	}
	idle := s.idle
	s.mu.Unlock()
	s.log.Info("proxy shutting down: waiting for sessions", "sessions", s.Sessions())
	select {
	case <-idle:
		s.closeAll()
		return nil
	case <-ctx.Done():
		s.closeAll()
		return ctx.Err()
	}
}

// waitIdle waits until Shutdown/Close has finished with the sessions.
func (s *Server) waitIdle() {
	<-s.baseCtx.Done()
}

func (s *Server) closeAll() {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		for l := range s.listeners {
			l.Close()
		}
		sessions := make([]*session, 0, len(s.sessions))
		for sess := range s.sessions {
			sessions = append(sessions, sess)
		}
		s.mu.Unlock()
		// As PostgreSQL's shutdown, each client learns why its session ends; in parallel, as
		// a client that does not read holds its own write for up to final's deadline.
		var wg sync.WaitGroup
		for _, sess := range sessions {
			wg.Go(func() {
				sess.final("57P01", "terminating connection due to administrator command", "pgask is shutting down.")
				sess.close()
			})
		}
		wg.Wait()
		s.baseCancel()
	})
}

// Close stops accepting and closes every session at once. Safe to call more than once.
func (s *Server) Close() error {
	s.closeAll()
	return nil
}

// Sessions returns the number of open client connections.
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}
