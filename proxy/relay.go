package proxy

import (
	"errors"
	"net"
	"time"
)

// The relay moves raw frames: each direction reads as much as the socket has into one
// buffer, walks the 5-byte frame headers to keep the little state it needs, and writes the
// whole run of frames with one write. Only ReadyForQuery and ErrorResponse (upstream) and
// Query/Parse texts passing the ASK prefilter (client, when an Interceptor is set) are
// decoded; everything else, COPY data and large DataRows included, is passed through
// without being copied or decoded.
//
// Sync points. pgask's own queries (Session.QueryText, RelayQuery) may only run when
// nothing of the client's is in flight: c2s counts the messages that each produce one
// ReadyForQuery (Query, Sync, FunctionCall; Syncs sent during COPY FROM STDIN are ignored
// by the server and uncounted when the copy ends), s2c subtracts each ReadyForQuery once it
// has been written to the client. Interceptors run on the c2s goroutine, so while one runs
// the client sends nothing upstream; waitSync parks until the count is zero, then s2c's
// next replies are routed to pgask (own) by a pointer it checks per frame, until pgask's
// ReadyForQuery. A Query sent inside an open extended batch may be skipped by the server
// after an earlier error, which makes the count uncertain: from then on ASK is not
// intercepted on that session (ErrNotAtSyncPoint), which no real driver triggers. So do Syncs
// sent during a COPY FROM STDIN that failed, or is not yet known to have entered copy-in
// mode, when pgask needs the count (settleCopy): the server answered some of them.
//
// A session that holds statements translated from ASK (guard.go) also has its Parse, Bind,
// Describe, Close, Execute, Sync, Query and FunctionCall messages looked at by guardFrame, and
// the answers to them counted, so that pgask can run its own statements around them inside
// an extended batch. Other sessions pay for none of it.

// clientToServer relays client frames upstream until the client leaves.
func (s *session) clientToServer() error {
	w := &s.walk[0] // where the relay thread left off, if it carried the session
	w.m = s.cr
	m := w.m
	ic := s.srv.opts.Interceptor
	drop := false // the rest of the current frame is discarded (after a failed ASK Parse)
	var inject []byte
	idle := s.srv.opts.IdleTimeout
	for {
		seg := m.r
		w.need = 0
		terminate := false
		for m.r < m.w {
			if w.skip > 0 {
				k := min(w.skip, m.w-m.r)
				if drop {
					if err := s.writeUp(m.buf[seg:m.r]); err != nil {
						return err
					}
					m.r += k
					seg = m.r
				} else {
					m.r += k
				}
				w.skip -= k
				continue
			}
			typ, total, ok, err := w.header("client")
			if err != nil {
				return err
			}
			if !ok {
				break
			}
			if inject != nil { // discarding until Sync after a failed ASK Parse
				if typ != 'S' {
					if err := s.writeUp(m.buf[seg:m.r]); err != nil {
						return err
					}
					k := min(total, m.w-m.r)
					m.r += k
					seg = m.r
					w.skip, drop = total-k, true
					continue
				}
				if s.g != nil {
					if err := s.writeUp(m.buf[seg:m.r]); err != nil {
						return err
					}
					m.r += total
					seg = m.r
					err := s.guardSync(inject)
					inject = nil
					if err != nil {
						return err
					}
					s.syncAnswered()
					continue
				}
				s.account('S')
				s.addInjection(s.zSent, inject)
				s.syncAnswered()
				inject = nil
				m.r += total // a Sync is 5 bytes, and 5 bytes are buffered
				continue
			}
			// Query and Parse texts go through the ASK prefilter; a session with translated
			// statements has more of its messages looked at (guard.go).
			if ic != nil && (typ == 'Q' || typ == 'P' || s.g != nil && guardedType(typ)) {
				if !w.whole(total) {
					break
				}
				if s.g != nil || MayBeAsk(queryText(typ, w.body(total))) {
					if err := s.writeUp(m.buf[seg:m.r]); err != nil {
						return err
					}
					frame := m.buf[m.r : m.r+total]
					m.r += total
					seg = m.r
					var err error
					if s.g != nil {
						inject, err = s.guardFrame(ic, typ, frame, nil)
					} else {
						inject, err = s.intercept(ic, typ, frame)
					}
					if err != nil {
						return err
					}
					continue
				}
			}
			terminate = s.account(typ)
			w.advance(total)
			drop = false
			if terminate {
				break
			}
		}
		if m.r > seg {
			if err := s.writeUp(m.buf[seg:m.r]); err != nil {
				return err
			}
		}
		s.clientDone(w)
		if terminate {
			return errTerminate
		}
		m.makeRoom(w.need)
		if idle > 0 {
			if err := s.readClientIdle(idle); err != nil {
				return err
			}
			continue
		}
		if err := m.readMore(); err != nil {
			return err
		}
	}
}

// readClientIdle reads more from the client with Options.IdleTimeout as the read deadline. A
// timeout while a query of the client's is still running is not idleness: it reads on.
func (s *session) readClientIdle(idle time.Duration) error {
	for {
		_ = s.client.SetReadDeadline(time.Now().Add(idle))
		err := s.cr.readMore()
		if err == nil {
			return nil
		}
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			return err
		}
		if s.pending.Load() > 0 {
			continue
		}
		return errIdleTimeout
	}
}

// queryText returns the SQL text of a Query or Parse body, without its NUL terminator.
func queryText(typ byte, body []byte) []byte {
	if typ == 'P' {
		_, rest, ok := cstring(body) // the statement name
		if !ok {
			return nil
		}
		body = rest
	}
	text, _, ok := cstring(body)
	if !ok {
		return body
	}
	return text
}

func (s *session) writeUp(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	if _, err := s.upstream.Write(b); err != nil {
		return &upstreamWriteError{err}
	}
	return nil
}

// upstreamWriteError is a failed write to the upstream: the upstream connection is gone.
type upstreamWriteError struct{ err error }

func (e *upstreamWriteError) Error() string { return "write to upstream: " + e.err.Error() }
func (e *upstreamWriteError) Unwrap() error { return e.err }

func (s *session) addInjection(at int64, msg []byte) {
	s.injMu.Lock()
	s.injects = append(s.injects, injection{at: at, msg: msg})
	s.injMu.Unlock()
	s.injCount.Add(1)
}

// takeInjection returns the message to write before the ReadyForQuery numbered z.
func (s *session) takeInjection(z int64) []byte {
	s.injMu.Lock()
	defer s.injMu.Unlock()
	for i, in := range s.injects {
		if in.at == z {
			s.injects = append(s.injects[:i], s.injects[i+1:]...)
			s.injCount.Add(-1)
			return in.msg
		}
	}
	return nil
}

// serverToClient relays upstream frames to the client (or to pgask's own consumer) until
// the upstream closes.
func (s *session) serverToClient() error {
	w := &s.walk[1] // where the relay thread left off, if it carried the session
	w.m = s.ur
	m := w.m
	skipOwn := false // the rest of the current frame goes to the own route's buffer
	var skipRoute *ownRoute
	for {
		seg := m.r
		w.need = 0
		track := s.gTrack.Load() // count answers for the read-only guard (guard.go)
		flushSeg := func() error {
			if m.r > seg {
				if err := s.writeClient(m.buf[seg:m.r]); err != nil {
					return err
				}
			}
			seg = m.r
			return nil
		}
	frames:
		for m.r < m.w {
			if w.skip > 0 {
				k := min(w.skip, m.w-m.r)
				if skipOwn {
					if err := flushSeg(); err != nil {
						return err
					}
					skipRoute.buf = append(skipRoute.buf, m.buf[m.r:m.r+k]...)
					m.r += k
					seg = m.r
				} else {
					m.r += k
				}
				w.skip -= k
				continue
			}
			typ, total, ok, err := w.header("upstream")
			if err != nil {
				return err
			}
			if !ok {
				break
			}
			if own := s.own.Load(); own != nil && typ != 'A' && typ != 'S' {
				if !own.toClient || typ == 'Z' {
					if err := flushSeg(); err != nil {
						return err
					}
					if own.terms > 0 && (typ == 'E' || answerEnd(typ)) {
						if !w.whole(total) {
							break
						}
						own.buf = append(own.buf, m.buf[m.r:m.r+total]...)
						m.r += total
						seg = m.r
						own.got++
						if typ == 'E' {
							s.gErr.Store(true) // the server now skips to the client's Sync
						}
						if typ == 'E' || own.got == own.terms {
							s.own.Store(nil)
							own.done <- own.buf
						}
						continue
					}
					if typ == 'Z' {
						if !w.whole(total) {
							break
						}
						s.tx.Store(uint32(m.buf[m.r+5]))
						s.errSinceZ = false // the client's Sync that pgask answered itself (guard.go fixSync)
						own.buf = append(own.buf, m.buf[m.r:m.r+total]...)
						m.r += total
						seg = m.r
						s.own.Store(nil)
						own.done <- own.buf
						continue
					}
					k := min(total, m.w-m.r)
					own.buf = append(own.buf, m.buf[m.r:m.r+k]...)
					m.r += k
					seg = m.r
					w.skip, skipOwn, skipRoute = total-k, true, own
					continue
				}
				if typ == 'E' { // RelayQuery: the client sees the error, pgask learns of it
					if !w.whole(total) {
						break
					}
					own.buf = append(own.buf, m.buf[m.r:m.r+total]...)
				}
			} else {
				switch typ {
				case 'Z':
					errBefore := s.errSinceZ
					if !s.readyForQuery(w, total) {
						break frames
					}
					if track {
						s.resetBatchCounts()
					}
					if s.injCount.Load() > 0 {
						if msg := s.takeInjection(s.zRecv); msg != nil && !errBefore {
							if err := flushSeg(); err != nil {
								return err
							}
							if err := s.writeClient(msg); err != nil {
								return err
							}
						}
					}
				case 'G':
					s.copyIn()
				case 'E':
					s.errorResponse(w, total)
					if track {
						s.gErr.Store(true)
					}
				case 'C':
					s.commandComplete(w)
					if track {
						if !w.whole(total) {
							break frames
						}
						if t := txnTag(m.buf[m.r+5 : m.r+total-1]); t != 0 {
							s.gTags.Or(t)
						}
						s.gLast.Store('C')
						s.gGot.Add(1)
					}
				default:
					if track && answerEnd(typ) {
						s.gLast.Store(uint32(typ))
						s.gGot.Add(1)
					}
				}
			}
			w.advance(total)
			skipOwn = false
		}
		if err := flushSeg(); err != nil {
			return err
		}
		wake := w.wake
		w.wake = false
		zs := s.serverDone(w)
		if (zs > 0 || track || wake) && s.waiting.Load() { // waitSync and barrier check their own conditions
			select {
			case s.syncCh <- struct{}{}:
			default:
			}
		}
		m.makeRoom(w.need)
		if err := m.readMore(); err != nil {
			return err
		}
	}
}
