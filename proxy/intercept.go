package proxy

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
)

// Interceptor handles client statements that pass the ASK prefilter (MayBeAsk). Its methods
// run on the session's client→server goroutine: while one runs, the client's later messages
// wait, in order. Returning ErrPassThrough relays the original message untouched.
type Interceptor interface {
	// Query handles a simple-protocol Query. It answers the client itself through s (Send,
	// RelayQuery) with everything but the final ReadyForQuery, which the proxy sends with the
	// upstream's transaction status once Query returns. A returned error is sent to the
	// client as an ErrorResponse first: a *pgconn.PgError keeps its SQLSTATE and fields,
	// anything else becomes XX000. To make a client's transaction block fail as PostgreSQL
	// would ('E'), put the upstream session in the failed state (run a failing statement
	// through s) — the status shown is always the upstream's.
	Query(ctx context.Context, s *Session, text string) error
	// Parse handles an extended-protocol Parse of statement name (empty: unnamed) and
	// returns the text to forward upstream in its place; the parameter types are kept. The
	// statement then runs read-only at each Bind and Execute of it (guard.go). A
	// returned error is sent to the client at the place PostgreSQL would report a failed
	// Parse, and the client's messages up to the next Sync are discarded (as PostgreSQL
	// does). s.QueryText works here only when the Parse is the first message after a
	// ReadyForQuery (the usual case for drivers); otherwise it returns ErrNotAtSyncPoint.
	Parse(ctx context.Context, s *Session, name, text string) (string, error)
}

// SessionCloser is implemented by an Interceptor that keeps per-session state: SessionClosed
// is called once when a session ends, after its last Interceptor call.
type SessionCloser interface {
	SessionClosed(s *Session)
}

// ErrPassThrough, returned by an Interceptor, relays the message unchanged.
var ErrPassThrough = errors.New("proxy: not intercepted")

// ErrNotAtSyncPoint is returned by Session methods when messages of the client's are still
// in flight in a way pgask cannot route around (an unfinished extended-protocol batch).
var ErrNotAtSyncPoint = errors.New("proxy: session is not at a sync point")

// Session is the per-connection handle given to an Interceptor. Its methods must be called
// from within the Interceptor call that received it, not concurrently and not after it
// returns.
type Session struct{ s *session }

// User is the user name from the client's startup message.
func (h *Session) User() string { return h.s.params["user"] }

// Database is the database from the client's startup message (the user name by default).
func (h *Session) Database() string { return h.s.database() }

// StartupParam returns a parameter of the client's startup message ("" when absent).
func (h *Session) StartupParam(name string) string { return h.s.params[name] }

// TxStatus is the transaction status of the upstream's latest ReadyForQuery: 'I' idle,
// 'T' in a transaction block, 'E' in a failed transaction block. Up to date at a sync point.
func (h *Session) TxStatus() byte { return byte(h.s.tx.Load()) }

// BackendPID is the upstream backend's process ID (also the one the client was given).
func (h *Session) BackendPID() uint32 { return h.s.pid }

// ParseParamTypes is, during Interceptor.Parse, the number of parameter types the Parse
// declares (a driver that means to bind parameters to the statement declares them); 0 at any
// other time is not meaningful.
func (h *Session) ParseParamTypes() int { return h.s.parseParams }

// Peer is the client's address.
func (h *Session) Peer() string { return h.s.peer }

// Logger is the session's logger (peer, user and database attached).
func (h *Session) Logger() *slog.Logger { return h.s.log }

// QueryText runs one SQL statement on the client's upstream session, as the client's user,
// over the simple query protocol, and returns its rows with every value in text format (nil
// for NULL). Nothing reaches the client. It first waits until all of the client's earlier
// messages are answered. A server error is returned as *pgconn.PgError. When ctx ends, the
// statement is cancelled upstream and QueryText still waits for its end, so the session stays
// in step. It satisfies introspect.Querier.
func (h *Session) QueryText(ctx context.Context, sql string) ([][][]byte, error) {
	s := h.s
	if err := s.waitSync(ctx); err != nil {
		return nil, err
	}
	own := &ownRoute{done: make(chan []byte, 1)}
	buf, err := s.ownQuery(ctx, own, sql)
	if err != nil {
		return nil, err
	}
	var rows [][][]byte
	var perr *pgconn.PgError
	for len(buf) >= 5 {
		typ := buf[0]
		n := int(binary.BigEndian.Uint32(buf[1:]))
		if n < 4 || 1+n > len(buf) {
			return nil, fmt.Errorf("query text: %w: truncated reply", errProtocol)
		}
		body := buf[5 : 1+n]
		buf = buf[1+n:]
		switch typ {
		case 'D':
			row, err := parseDataRow(body)
			if err != nil {
				return nil, fmt.Errorf("query text: %w", err)
			}
			rows = append(rows, row)
		case 'E':
			if perr == nil {
				perr = parseErrorResponse(body)
			}
		}
	}
	if perr != nil {
		return nil, perr
	}
	return rows, nil
}

// RelayQuery runs one SQL statement on the client's upstream session, as the client's user,
// and relays its replies (RowDescription, DataRows, CommandComplete, notices, or the
// ErrorResponse) to the client, except the ReadyForQuery. A server error is returned as
// *pgconn.PgError after it has been sent to the client (do not send it again).
func (h *Session) RelayQuery(ctx context.Context, sql string) error {
	s := h.s
	if err := s.waitSync(ctx); err != nil {
		return err
	}
	own := &ownRoute{toClient: true, done: make(chan []byte, 1)}
	buf, err := s.ownQuery(ctx, own, sql)
	if err != nil {
		return err
	}
	if len(buf) >= 5 && buf[0] == 'E' {
		return &relayedError{parseErrorResponse(buf[5:])}
	}
	return nil
}

// relayedError is a server error already sent to the client.
type relayedError struct{ *pgconn.PgError }

func (e *relayedError) Unwrap() error { return e.PgError }

// Send writes backend messages (RowDescription, DataRow, CommandComplete, NoticeResponse,
// ErrorResponse, ...) to the client, after all of the client's earlier messages are
// answered. Do not send ReadyForQuery from Query: the proxy does.
func (h *Session) Send(ctx context.Context, msgs ...pgproto3.BackendMessage) error {
	s := h.s
	if err := s.waitSync(ctx); err != nil {
		return err
	}
	buf := s.wbuf[:0]
	for _, m := range msgs {
		var err error
		if buf, err = m.Encode(buf); err != nil {
			return fmt.Errorf("send to client: encode %T: %w", m, err)
		}
	}
	s.wbuf = buf[:0]
	if err := s.writeClient(buf); err != nil {
		return fmt.Errorf("send to client: %w", err)
	}
	return nil
}

func parseDataRow(b []byte) ([][]byte, error) {
	if len(b) < 2 {
		return nil, fmt.Errorf("%w: short DataRow", errProtocol)
	}
	n := int(binary.BigEndian.Uint16(b))
	b = b[2:]
	row := make([][]byte, n)
	for i := range row {
		if len(b) < 4 {
			return nil, fmt.Errorf("%w: short DataRow", errProtocol)
		}
		l := int32(binary.BigEndian.Uint32(b))
		b = b[4:]
		if l < 0 {
			continue
		}
		if int(l) > len(b) {
			return nil, fmt.Errorf("%w: short DataRow value", errProtocol)
		}
		row[i] = b[:l:l]
		b = b[l:]
	}
	return row, nil
}

// waitSync returns once every client message sent upstream has been answered to the client.
func (s *session) waitSync(ctx context.Context) error {
	if s.unitOpen || s.uncertain {
		return ErrNotAtSyncPoint
	}
	if err := s.waitCopy(ctx); err != nil {
		return err
	}
	if s.uncertain {
		return ErrNotAtSyncPoint
	}
	return s.waitUntil(ctx, s.answered)
}

// answered reports whether every client message counted is answered.
func (s *session) answered() bool { return s.pending.Load() <= 0 }

// waitUntil returns once ready() holds, re-checking it whenever the server→client relay
// signals an answer (syncCh), or when ctx or the session ends.
func (s *session) waitUntil(ctx context.Context, ready func() bool) error {
	if c := s.resumeWrite; c != nil {
		select {
		case <-c:
			s.resumeWrite = nil
		case <-ctx.Done():
			return ctx.Err()
		case <-s.done:
			return net.ErrClosed
		}
	}
	if ready() {
		return nil
	}
	s.waiting.Store(true)
	defer s.waiting.Store(false)
	for !ready() {
		select {
		case <-s.syncCh:
		case <-ctx.Done():
			return ctx.Err()
		case <-s.done:
			return net.ErrClosed
		}
	}
	return nil
}

// ownQuery sends sql as a simple Query whose replies go to own, and waits for them.
func (s *session) ownQuery(ctx context.Context, own *ownRoute, sql string) ([]byte, error) {
	if s.g != nil {
		delete(s.g.stmts, "") // a Query drops the unnamed statement
	}
	s.own.Store(own)
	s.wbuf = appendQuery(s.wbuf[:0], sql)
	if _, err := s.upstream.Write(s.wbuf); err != nil {
		return nil, fmt.Errorf("send query upstream: %w", err)
	}
	select {
	case b := <-own.done:
		return b, nil
	case <-s.done:
		return nil, net.ErrClosed
	case <-ctx.Done():
	}
	// Cancel the statement upstream, then still wait for its ReadyForQuery.
	go func() { _ = s.srv.sendCancel(s.ctx, s.pid, s.upKey) }()
	select {
	case <-own.done:
		return nil, ctx.Err()
	case <-s.done:
		return nil, net.ErrClosed
	}
}

// intercept offers an ASK candidate frame to ic. For a failed Parse it returns the
// ErrorResponse to report before the ReadyForQuery of the client's next Sync.
func (s *session) intercept(ic Interceptor, typ byte, frame []byte) ([]byte, error) {
	if !s.unitOpen && !s.uncertain {
		// Syncs sent during a COPY: settle the count before anything is intercepted.
		if err := s.waitCopy(s.ctx); err != nil {
			return nil, err
		}
	}
	if s.uncertain || (typ == 'Q' && s.unitOpen) {
		return nil, s.forward(typ, frame)
	}
	ctx, cancel := context.WithCancel(s.ctx)
	s.askMu.Lock()
	s.askCancel = cancel
	s.askMu.Unlock()
	defer func() {
		s.askMu.Lock()
		s.askCancel = nil
		s.askMu.Unlock()
		cancel()
	}()

	if typ == 'Q' {
		err := ic.Query(ctx, &s.handle, string(frame[5:len(frame)-1]))
		if errors.Is(err, ErrPassThrough) {
			return nil, s.forward(typ, frame)
		}
		if werr := s.waitSync(s.ctx); werr != nil {
			return nil, werr
		}
		out := s.wbuf[:0]
		var re *relayedError
		if err != nil && !errors.As(err, &re) {
			s.log.Debug("ASK failed", "err", err)
			out = appendInterceptError(out, err)
		}
		out = appendReadyForQuery(out, byte(s.tx.Load()))
		s.wbuf = out[:0]
		return nil, s.writeClient(out)
	}

	name, rest, ok := cstring(frame[5:])
	text, tail, ok2 := cstring(rest)
	if !ok || !ok2 {
		return nil, s.forward(typ, frame) // malformed: let the upstream say so
	}
	s.parseParams = 0
	if len(tail) >= 2 {
		s.parseParams = int(binary.BigEndian.Uint16(tail))
	}
	newText, err := ic.Parse(ctx, &s.handle, string(name), string(text))
	if errors.Is(err, ErrPassThrough) {
		return nil, s.forwardParse(string(name), frame)
	}
	if err == nil {
		err = s.startGuard(ctx) // the statement is to be run read-only (guard.go)
	}
	if err != nil {
		s.log.Debug("ASK failed", "err", err)
		s.unitOpen = true
		return appendInterceptError(nil, err), nil
	}
	nf := make([]byte, 5, 5+len(name)+len(newText)+2+len(tail))
	nf[0] = 'P'
	nf = append(nf, name...)
	nf = append(nf, 0)
	nf = append(nf, newText...)
	nf = append(nf, 0)
	nf = append(nf, tail...)
	binary.BigEndian.PutUint32(nf[1:], uint32(len(nf)-1))
	if err := s.forward(typ, nf); err != nil {
		return nil, err
	}
	return nil, s.parsedASK(string(name))
}

func appendInterceptError(dst []byte, err error) []byte {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return appendPgError(dst, pe)
	}
	return appendErrorResponse(dst, "ERROR", "XX000", "pgask: "+err.Error(), "")
}
