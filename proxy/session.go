package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// session is one client connection and its upstream connection.
type session struct {
	srv  *Server
	log  *slog.Logger
	peer string

	client    net.Conn
	clientTLS bool
	cr        *msgReader
	upstream  net.Conn
	ur        *msgReader

	// Startup state, written before the relay starts, read-only afterwards.
	params     map[string]string
	protoMinor uint16
	pid        uint32
	upKey      []byte
	ourKey     string

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{} // closed when the session ends
	once   sync.Once
	upMu   sync.Mutex // guards upstream against close() while run() dials

	// cmu serialises writes to the client (relay batches, interceptor messages).
	cmu sync.Mutex

	traffic   relayCounters
	upFatal   atomic.Bool // the upstream sent a FATAL or PANIC ErrorResponse
	clientEnd atomic.Bool // the client left (Terminate, EOF) or its side failed; set before any Terminate goes upstream
	finalOnce sync.Once   // at most one FATAL of pgask's own when the session ends

	tx      atomic.Uint32 // transaction status of the last ReadyForQuery: 'I', 'T', 'E'
	pending atomic.Int64  // client messages awaiting a ReadyForQuery (Query, Sync, FunctionCall)
	copies  copyLog       // COPY FROM STDIN completions and errors, as the upstream answered (copysync.go)
	waiting atomic.Bool   // a waitSync is parked on syncCh
	syncCh  chan struct{}
	own     atomic.Pointer[ownRoute] // non-nil: upstream replies belong to pgask, not the client

	// c2s state (owned by the client→server goroutine; Session methods run on it).
	unitOpen       bool     // extended-protocol messages sent since the last Sync/Query
	uncertain      bool     // a Query/FunctionCall was sent inside an open extended unit
	syncsSinceExec int64    // Syncs since the last Execute/Query (ignored by the server during COPY)
	execAt         copyAt   // where the last Execute/Query/FunctionCall was sent
	copyRisk       copyRisk // Syncs sent during COPY FROM STDIN that were uncounted, yet to be settled
	zSent          int64    // ReadyForQuery-producing messages forwarded
	wbuf           []byte

	// injected ErrorResponses, written before the ReadyForQuery with sequence number at.
	injMu    sync.Mutex
	injects  []injection
	injCount atomic.Int32

	// Event loop (evloop_linux.go). attached is set while an event loop owns the sockets;
	// backDone is closed once the goroutine relay owns them again. upMu guards attached,
	// backDone, closed, client and upstream.
	attached *loopSess
	backDone chan struct{}
	closed   bool
	noLoop   bool        // leaveLoop ran: the session must not attach any more
	resumed  resumeState // where the event loop left off, read by the relay goroutines
	// resumeWrite, until closed, is the event loop's last answers to the client being written
	// by the goroutine relay (their ReadyForQuery messages are already counted); the
	// client→server goroutine waits for it before it answers the client itself (waitUntil).
	resumeWrite chan struct{}

	// The walk of each direction (walk.go; index 0: client→server), owned by the relay
	// thread while it carries the session and by the goroutine relay after the hand-back.
	walk [2]frameWalk
	// s2c state, owned by whichever relay reads the upstream.
	zRecv     int64 // ReadyForQuery messages received
	errSinceZ bool  // an ErrorResponse came since the last ReadyForQuery
	inCopy    bool  // a CopyInResponse came, and not yet the COPY's CommandComplete or an error

	askMu     sync.Mutex
	askCancel context.CancelFunc

	handle Session
	// parseParams is the number of parameter types the Parse being intercepted declares
	// (Session.ParseParamTypes); owned by the client→server goroutine.
	parseParams int

	// Read-only guard of translated statements (guard.go): g is owned by the client→server
	// goroutine, nil until the session's first one; the counts of the current batch's
	// answers are kept by the server→client relay while gTrack is set.
	g      *guard
	gTrack atomic.Bool
	gGot   atomic.Int64  // answers ended (answerEnd) to the client's messages since the last ReadyForQuery
	gErr   atomic.Bool   // an ErrorResponse since the last ReadyForQuery: the server skips to Sync
	gTags  atomic.Uint32 // tagBegin, tagEnd of the client's CommandCompletes since the last ReadyForQuery
	gLast  atomic.Uint32 // the type of the last answer-ending message to the client
}

// handback returns a session from an event loop to the goroutine relay.
type handback struct {
	conns [2]net.Conn // client, upstream; nil where the socket could not be converted
	errs  [2]error    // how each direction ended (nil: it goes on)
	resumeState
}

// resumeState is where the event loop left each direction (index 0: client→server).
type resumeState struct {
	pend [2][]byte // walked but not yet written
}

type injection struct {
	at  int64
	msg []byte
}

// ownRoute says where upstream replies go while pgask runs its own query.
type ownRoute struct {
	toClient bool   // relay everything but ReadyForQuery to the client (RelayQuery)
	buf      []byte // collected frames (QueryText), or ErrorResponses (RelayQuery)
	done     chan []byte
	// terms > 0: messages inside an extended-protocol batch (guard.go), without a Sync; the
	// route ends after that many answer-ending messages (answerEnd), or at an ErrorResponse.
	terms, got int
}

func newSession(srv *Server, c net.Conn) *session {
	s := &session{
		srv: srv, log: srv.log.With("peer", c.RemoteAddr().String()), peer: c.RemoteAddr().String(), client: c, cr: newMsgReader(c),
		done: make(chan struct{}), syncCh: make(chan struct{}, 1),
	}
	s.ctx, s.cancel = context.WithCancel(srv.baseCtx)
	s.handle.s = s
	return s
}

// close closes both connections; safe to call more than once and from any goroutine.
func (s *session) close() {
	s.once.Do(func() {
		s.cancel()
		s.upMu.Lock()
		s.closed = true
		s.client.Close()
		if s.upstream != nil {
			s.upstream.Close()
		}
		ls := s.attached
		s.upMu.Unlock()
		if ls != nil {
			ls.loop.release(ls) // the hand-back closes the sockets (resume sees closed)
		}
		close(s.done)
	})
}

func (s *session) run() {
	defer s.srv.removeSession(s)
	defer s.close()
	stopCtx := context.AfterFunc(s.ctx, s.close)
	defer stopCtx()

	deadline := time.Now().Add(s.srv.opts.StartupTimeout)
	_ = s.client.SetDeadline(deadline)
	sctx, cancel := context.WithDeadline(s.ctx, deadline)
	defer cancel()

	st, err := s.clientStartup(sctx)
	if err != nil {
		s.srv.counters.rejStartup.Add(1)
		s.logEnd("client startup failed", err)
		return
	}
	if st.cancel {
		return
	}
	if !s.srv.acquire() {
		s.srv.counters.rejMax.Add(1)
		err := s.fatal(errors.New("max connections reached"), "53300", "sorry, too many clients already")
		s.logEnd("connection refused", err)
		return
	}
	defer s.srv.release()
	log := s.log.With("user", s.params["user"], "database", s.database())
	s.log = log

	up, err := s.srv.dialUpstream(sctx)
	if err != nil {
		s.srv.counters.rejUpstream.Add(1)
		err = s.fatal(err, "08006", fmt.Sprintf("pgask could not connect to the upstream server: %v", err))
		s.logEnd("upstream unavailable", err)
		return
	}
	s.upMu.Lock()
	s.upstream = up
	s.upMu.Unlock()
	s.ur = newMsgReader(up)
	if s.ctx.Err() != nil { // closed while dialling: close() may have run before upstream was set
		up.Close()
		return
	}
	_ = up.SetDeadline(deadline)
	if err := s.relayAuth(st.packet); err != nil {
		var se *sqlstateError
		if errors.As(err, &se) {
			s.srv.counters.rejAuth.Add(1)
		} else {
			s.srv.counters.rejStartup.Add(1)
		}
		s.logEnd("authentication relay ended", err)
		return
	}
	_ = s.client.SetDeadline(time.Time{})
	_ = up.SetDeadline(time.Time{})
	s.cr.max = s.srv.opts.MaxMessageSize
	log.Debug("session started", "tls", s.clientTLS, "pid", s.pid)

	var ended [2]error
	if l := s.srv.eventLoop(); l != nil && s.plainTCP() {
		if back := l.attach(s); back != nil {
			ended = s.resume(<-back)
		}
	}
	s.relay(ended)
}

// relay runs the goroutine relay until the session ends. A direction that already ended
// in the event loop (ended[0]: client→server, ended[1]: server→client) is not run again.
func (s *session) relay(ended [2]error) {
	errc := make(chan error, 1)
	var wrote chan struct{}
	if len(s.resumed.pend[1]) > 0 {
		wrote = make(chan struct{})
		s.resumeWrite = wrote
	}
	go func() {
		var err error
		if p := s.resumed.pend[1]; len(p) > 0 {
			err = s.writeClient(p)
			close(wrote)
		}
		if err == nil {
			err = ended[1]
		}
		if err == nil {
			err = s.serverToClient()
		}
		s.upstreamEnded(err)
		errc <- err
	}()
	err := s.writeUp(s.resumed.pend[0])
	if err == nil {
		err = ended[0]
	}
	if err == nil {
		err = s.clientToServer()
	}
	s.clientEnded(err)
	if errors.Is(err, errTerminate) {
		// Let the upstream read Terminate and close first, so it ends the backend cleanly.
		select {
		case err2 := <-errc:
			s.close()
			s.logEnd("session ended", err2)
			return
		case <-time.After(time.Second):
		}
	}
	s.close()
	err2 := <-errc
	if err == nil || isClosed(err) {
		err = err2
	}
	s.logEnd("session ended", err)
}

// plainTCP reports whether both sides are plain TCP connections (a TLS side is a *tls.Conn),
// which an event loop can relay.
func (s *session) plainTCP() bool {
	_, c := s.client.(*net.TCPConn)
	_, u := s.upstream.(*net.TCPConn)
	return c && u
}

// resume takes the session back from an event loop and returns how its directions ended
// there.
func (s *session) resume(hb handback) [2]error {
	s.upMu.Lock()
	if c := hb.conns[0]; c != nil {
		s.client, s.cr.rd = c, c
	}
	if c := hb.conns[1]; c != nil {
		s.upstream, s.ur.rd = c, c
	}
	s.attached = nil
	closed := s.closed
	s.upMu.Unlock()
	s.resumed = hb.resumeState
	close(s.backDone)
	if closed {
		for _, c := range hb.conns {
			if c != nil {
				c.Close()
			}
		}
	}
	return hb.errs
}

// leaveLoop returns once the session is on the goroutine relay, where it then stays.
func (s *session) leaveLoop() {
	s.upMu.Lock()
	ls, back := s.attached, s.backDone
	s.noLoop = true
	s.upMu.Unlock()
	if ls == nil {
		return
	}
	ls.loop.release(ls)
	<-back
}

// clientEnded handles the end of the client→server relay: a client that broke a limit or the
// protocol gets a FATAL saying so, and a failed write upstream is reported as a lost upstream.
func (s *session) clientEnded(err error) {
	var tl *tooLargeError
	var uw *upstreamWriteError
	switch {
	case errors.As(err, &uw):
		s.lostUpstream(uw.err)
	case errors.Is(err, errIdleTimeout):
		s.srv.counters.idle.Add(1)
		// The client hears why first; the upstream's EOF after its Terminate is no loss.
		s.final("57P05", "terminating connection due to idle-session timeout",
			fmt.Sprintf("pgask closes sessions that send nothing for %s while no query runs (idle-timeout).", s.srv.opts.IdleTimeout))
		s.clientEnd.Store(true)
		_ = s.writeUp([]byte{'X', 0, 0, 0, 4})
	case errors.As(err, &tl):
		s.srv.counters.tooLarge.Add(1)
		s.final("54000", fmt.Sprintf("message of %d bytes is longer than pgask's max-message-size of %d bytes", tl.n, tl.max),
			"Raise max-message-size, or send the data in smaller pieces.")
	case errors.Is(err, errProtocol):
		s.srv.counters.protocol.Add(1)
		s.final("08P01", "invalid frontend message: "+err.Error(), "")
	}
	s.clientEnd.Store(true)
}

// upstreamEnded handles the end of the server→client relay. When the upstream went away
// without a FATAL of its own (killed, network cut) and the client is still there, the client
// learns why instead of waiting on a silent socket; then the session closes.
func (s *session) upstreamEnded(err error) {
	if !s.clientEnd.Load() && !s.upFatal.Load() && s.ctx.Err() == nil {
		if errors.Is(err, errProtocol) {
			s.srv.counters.protocol.Add(1)
			s.final("08P01", "pgask received an invalid message from the upstream server: "+err.Error(), "")
		} else if err != nil && !isClientWriteError(err) {
			s.lostUpstream(err)
		}
	}
	s.close()
}

func (s *session) lostUpstream(err error) {
	s.srv.counters.upLost.Add(1)
	s.final("08006", "pgask lost the connection to the upstream server", err.Error())
}

// final sends pgask's one FATAL ErrorResponse to the client, with a bounded write.
func (s *session) final(code, msg, detail string) {
	s.finalOnce.Do(func() {
		s.leaveLoop()
		_ = s.client.SetWriteDeadline(time.Now().Add(5 * time.Second))
		_ = s.writeClient(appendErrorResponse(nil, "FATAL", code, msg, detail))
	})
}

// errIdleTimeout ends a session that stayed idle for Options.IdleTimeout.
var errIdleTimeout = errors.New("idle-session timeout")

func (s *session) database() string {
	if d := s.params["database"]; d != "" {
		return d
	}
	return s.params["user"]
}

// logEnd logs a session's end: normal disconnects at Debug, the rest with their SQLSTATE.
func (s *session) logEnd(msg string, err error) {
	if err == nil || isClosed(err) {
		s.log.Debug(msg)
		return
	}
	var se *sqlstateError
	if errors.As(err, &se) {
		s.log.Warn(msg, "sqlstate", se.code, "err", err)
		return
	}
	s.log.Warn(msg, "err", err)
}

func isClosed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, errTerminate)
}

var errTerminate = errors.New("client sent Terminate")

func (s *session) cancelASK() {
	s.askMu.Lock()
	if s.askCancel != nil {
		s.askCancel()
	}
	s.askMu.Unlock()
}

// writeClient writes b to the client under the client write lock.
func (s *session) writeClient(b []byte) error {
	s.cmu.Lock()
	_, err := s.client.Write(b)
	s.cmu.Unlock()
	if err != nil {
		return &clientWriteError{err}
	}
	return nil
}

// clientWriteError is a failed write to the client: the client is gone or stopped reading.
type clientWriteError struct{ err error }

func (e *clientWriteError) Error() string { return "write to client: " + e.err.Error() }
func (e *clientWriteError) Unwrap() error { return e.err }

func isClientWriteError(err error) bool {
	var cw *clientWriteError
	return errors.As(err, &cw)
}
