package proxy

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"
)

// startupResult is what the client's startup phase produced.
type startupResult struct {
	packet []byte // the StartupMessage, verbatim (length included), to forward upstream
	cancel bool   // the connection carried a CancelRequest (already handled)
}

// prefixConn replays bytes already read before handing over to the connection (direct TLS).
type prefixConn struct {
	net.Conn
	prefix []byte
}

func (c *prefixConn) Read(p []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(p, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// clientStartup negotiates encryption with the client and reads its StartupMessage, or
// handles a CancelRequest.
func (s *session) clientStartup(ctx context.Context) (startupResult, error) {
	sawSSL := false
	for {
		if !s.clientTLS && s.srv.clientTL != nil && !sawSSL {
			// Direct TLS (PostgreSQL 17's sslnegotiation=direct) starts with a handshake record.
			if err := s.cr.fill(1); err != nil {
				return startupResult{}, err
			}
			if s.cr.buf[s.cr.r] == 0x16 {
				if err := s.startTLS(ctx, s.cr.buf[s.cr.r:s.cr.w]); err != nil {
					return startupResult{}, fmt.Errorf("direct TLS handshake: %w", err)
				}
				sawSSL = true
				continue
			}
		}
		pkt, err := s.cr.readStartup()
		if err != nil {
			if s.srv.clientTL == nil && s.cr.buffered() > 0 && s.cr.buf[s.cr.r] == 0x16 {
				return startupResult{}, errors.New("client attempted direct TLS but no certificate is configured")
			}
			return startupResult{}, fmt.Errorf("read startup packet: %w", err)
		}
		code := binary.BigEndian.Uint32(pkt[4:8])
		switch {
		case code == sslRequestCode:
			if sawSSL {
				return startupResult{}, s.fatal(errors.New("SSLRequest after encryption was negotiated"), "08P01", "unsupported frontend protocol: duplicate SSLRequest")
			}
			sawSSL = true
			if s.srv.clientTL == nil {
				if _, err := s.client.Write([]byte{'N'}); err != nil {
					return startupResult{}, err
				}
				continue
			}
			if s.cr.buffered() > 0 {
				// Plain bytes pipelined behind SSLRequest could be injected by a man in the middle.
				return startupResult{}, s.fatal(errors.New("unencrypted data after SSLRequest"), "08P01", "received unencrypted data after SSL request")
			}
			if _, err := s.client.Write([]byte{'S'}); err != nil {
				return startupResult{}, err
			}
			if err := s.startTLS(ctx, nil); err != nil {
				return startupResult{}, fmt.Errorf("TLS handshake: %w", err)
			}
		case code == gssEncRequestCode:
			if _, err := s.client.Write([]byte{'N'}); err != nil {
				return startupResult{}, err
			}
		case code == cancelRequestCode:
			s.handleCancel(ctx, pkt)
			return startupResult{cancel: true}, nil
		case code>>16 == 3:
			params, err := parseStartupParams(pkt[8:])
			if err != nil {
				return startupResult{}, s.fatal(err, "08P01", "invalid startup packet layout")
			}
			if params["user"] == "" {
				return startupResult{}, s.fatal(errors.New("no user in startup"), "28000", "no PostgreSQL user name specified in startup packet")
			}
			s.params = params
			s.protoMinor = uint16(code)
			return startupResult{packet: bytes.Clone(pkt)}, nil
		default:
			return startupResult{}, s.fatal(fmt.Errorf("protocol %d.%d", code>>16, code&0xffff), "0A000",
				fmt.Sprintf("unsupported frontend protocol %d.%d: server supports 3.0 to 3.2", code>>16, code&0xffff))
		}
	}
}

// startTLS switches the client connection to TLS; prefix holds bytes already read.
func (s *session) startTLS(ctx context.Context, prefix []byte) error {
	var raw net.Conn = s.client
	if len(prefix) > 0 {
		raw = &prefixConn{Conn: s.client, prefix: bytes.Clone(prefix)}
	}
	tc := tls.Server(raw, s.srv.clientTL)
	if err := tc.HandshakeContext(ctx); err != nil {
		return err
	}
	s.client = tc
	s.clientTLS = true
	s.cr = newMsgReader(tc)
	return nil
}

// fatal sends a FATAL ErrorResponse to the client (session.final) and returns err for the log.
func (s *session) fatal(err error, code, msg string) error {
	s.final(code, msg, "")
	return &sqlstateError{code: code, err: err}
}

type sqlstateError struct {
	code string
	err  error
}

func (e *sqlstateError) Error() string { return e.err.Error() }
func (e *sqlstateError) Unwrap() error { return e.err }

// dialUpstream connects to the upstream and negotiates TLS per its sslmode.
func (srv *Server) dialUpstream(ctx context.Context) (_ net.Conn, err error) {
	defer func() {
		if err != nil {
			srv.counters.connectErrs.Add(1)
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, srv.opts.ConnectTimeout)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", srv.opts.Upstream.Addr)
	if err != nil {
		return nil, fmt.Errorf("connect to upstream %s: %w", srv.opts.Upstream.Addr, err)
	}
	if srv.upTLS == nil {
		return c, nil
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	var req [8]byte
	binary.BigEndian.PutUint32(req[0:], 8)
	binary.BigEndian.PutUint32(req[4:], sslRequestCode)
	if _, err := c.Write(req[:]); err != nil {
		c.Close()
		return nil, fmt.Errorf("upstream %s: send SSLRequest: %w", srv.opts.Upstream.Addr, err)
	}
	// Read exactly one byte from the raw connection: anything more would belong to TLS.
	var resp [1]byte
	if _, err := io.ReadFull(c, resp[:]); err != nil {
		c.Close()
		return nil, fmt.Errorf("upstream %s: read SSLRequest reply: %w", srv.opts.Upstream.Addr, err)
	}
	switch resp[0] {
	case 'S':
		tc := tls.Client(c, srv.upTLS)
		if err := tc.HandshakeContext(ctx); err != nil {
			c.Close()
			return nil, fmt.Errorf("upstream %s: TLS handshake: %w", srv.opts.Upstream.Addr, err)
		}
		_ = c.SetDeadline(time.Time{})
		return tc, nil
	case 'N':
		if srv.opts.Upstream.mode() != TLSPrefer {
			c.Close()
			return nil, fmt.Errorf("upstream %s: server does not support TLS (sslmode=%s)", srv.opts.Upstream.Addr, srv.opts.Upstream.mode())
		}
		_ = c.SetDeadline(time.Time{})
		return c, nil
	default:
		c.Close()
		return nil, fmt.Errorf("upstream %s: unexpected reply %q to SSLRequest", srv.opts.Upstream.Addr, resp[0])
	}
}

// relayAuth forwards the startup message and relays authentication until the first
// ReadyForQuery. It replaces the upstream's BackendKeyData with a key of pgask's own.
func (s *session) relayAuth(startup []byte) error {
	if _, err := s.upstream.Write(startup); err != nil {
		return fmt.Errorf("send startup to upstream: %w", err)
	}
	var out []byte
	flush := func() error {
		if len(out) == 0 {
			return nil
		}
		_, err := s.client.Write(out)
		out = out[:0]
		return err
	}
	for {
		typ, body, err := s.ur.readMsg(maxAuthLen)
		if err != nil {
			return fmt.Errorf("read from upstream during startup: %w", err)
		}
		switch typ {
		case 'R':
			if len(body) < 4 {
				return fmt.Errorf("%w: short Authentication message", errProtocol)
			}
			code := binary.BigEndian.Uint32(body)
			if code == 10 && !s.channelBindingPasses() {
				out = appendSASLWithoutPlus(out, body)
			} else {
				out = appendFrame(out, typ, body)
			}
			switch code {
			case 0, 12: // AuthenticationOk, SASLFinal: no response
				continue
			}
			// Every other request expects one response message ('p') from the client.
			if err := flush(); err != nil {
				return err
			}
			ptyp, pbody, err := s.cr.readMsg(maxAuthLen)
			if err != nil {
				return fmt.Errorf("read authentication response from client: %w", err)
			}
			if ptyp != 'p' {
				return fmt.Errorf("%w: client sent %q during authentication", errProtocol, ptyp)
			}
			if _, err := s.upstream.Write(appendFrame(nil, ptyp, pbody)); err != nil {
				return fmt.Errorf("send authentication response upstream: %w", err)
			}
		case 'K':
			if len(body) < 8 {
				return fmt.Errorf("%w: short BackendKeyData", errProtocol)
			}
			s.pid = binary.BigEndian.Uint32(body)
			s.upKey = bytes.Clone(body[4:])
			secret := s.srv.registerCancel(s, s.pid, s.upKey)
			k := make([]byte, 0, 4+len(secret))
			k = binary.BigEndian.AppendUint32(k, s.pid)
			out = appendFrame(out, 'K', append(k, secret...))
		case 'Z':
			if len(body) != 1 {
				return fmt.Errorf("%w: bad ReadyForQuery", errProtocol)
			}
			s.tx.Store(uint32(body[0]))
			out = appendFrame(out, typ, body)
			return flush()
		case 'E':
			pe := parseErrorResponse(body)
			out = appendFrame(out, typ, body)
			_ = flush()
			return &sqlstateError{code: pe.Code, err: fmt.Errorf("upstream refused the session: %s", pe.Message)}
		default: // ParameterStatus, NegotiateProtocolVersion, NoticeResponse
			out = appendFrame(out, typ, body)
		}
	}
}

// channelBindingPasses reports whether SCRAM-SHA-256-PLUS can be relayed: tls-server-end-point
// binds to the hash of the server certificate, so it only verifies when the client's TLS
// ends at pgask with the very certificate the upstream presents to pgask.
func (s *session) channelBindingPasses() bool {
	if !s.clientTLS {
		return false
	}
	ut, ok := s.upstream.(*tls.Conn)
	if !ok {
		return false
	}
	peer := ut.ConnectionState().PeerCertificates
	cfg := s.srv.clientTL
	if len(peer) == 0 || cfg == nil || cfg.GetCertificate != nil || len(cfg.Certificates) != 1 || len(cfg.Certificates[0].Certificate) == 0 {
		return false
	}
	return bytes.Equal(cfg.Certificates[0].Certificate[0], peer[0].Raw)
}

func appendFrame(dst []byte, typ byte, body []byte) []byte {
	dst = append(dst, typ)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(body)+4))
	return append(dst, body...)
}

// appendSASLWithoutPlus re-encodes AuthenticationSASL without SCRAM-SHA-256-PLUS: the client's
// TLS (if any) ends at pgask, so channel binding to the upstream's certificate cannot succeed.
func appendSASLWithoutPlus(dst, body []byte) []byte {
	mechs := body[4:]
	nb := make([]byte, 4, len(body))
	copy(nb, body[:4])
	for len(mechs) > 0 {
		m, rest, ok := cstring(mechs)
		if !ok || len(m) == 0 {
			break
		}
		mechs = rest
		if strings.HasSuffix(string(m), "-PLUS") {
			continue
		}
		nb = append(nb, m...)
		nb = append(nb, 0)
	}
	nb = append(nb, 0)
	return appendFrame(dst, 'R', nb)
}

// handleCancel forwards a CancelRequest to the upstream backend the key belongs to. Unknown
// keys are dropped silently, as PostgreSQL does.
func (s *session) handleCancel(ctx context.Context, pkt []byte) {
	if len(pkt) < 16 {
		return
	}
	pid := binary.BigEndian.Uint32(pkt[8:])
	target := s.srv.lookupCancel(pid, pkt[12:])
	if target == nil {
		s.log.Debug("cancel request with unknown key")
		return
	}
	target.cancelASK()
	if err := s.srv.sendCancel(ctx, target.pid, target.upKey); err != nil {
		s.log.Warn("forward cancel request", "err", err)
		return
	}
	s.log.Debug("cancel request forwarded", "pid", pid)
}

func (srv *Server) sendCancel(ctx context.Context, pid uint32, key []byte) error {
	c, err := srv.dialUpstream(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	pkt := make([]byte, 0, 12+len(key))
	pkt = binary.BigEndian.AppendUint32(pkt, uint32(12+len(key)))
	pkt = binary.BigEndian.AppendUint32(pkt, cancelRequestCode)
	pkt = binary.BigEndian.AppendUint32(pkt, pid)
	pkt = append(pkt, key...)
	_ = c.SetDeadline(time.Now().Add(srv.opts.ConnectTimeout))
	if _, err := c.Write(pkt); err != nil {
		return fmt.Errorf("send cancel request: %w", err)
	}
	// The server closes the connection when done; wait for that so the cancel is delivered.
	var b [1]byte
	_, _ = c.Read(b[:])
	return nil
}
