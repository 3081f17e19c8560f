//go:build linux

package proxy

import (
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"strings"
	"syscall"

	"github.com/pgask/pgask/proxy/internal/evloop"
)

// The relay threads (package proxy/internal/evloop, whose comment says how they work) relay
// plain-TCP sessions the way PgBouncer does. The thread owns the sockets, epoll, the
// io_uring ring and the scheduling; the session keeps its buffers, its frame walk and its
// bookkeeping, which the thread reaches through loopSess, the session's evloop.Owner, once
// per read: loopSess.Walk walks the frames read with the same bookkeeping as the goroutine
// relay (walk.go).
//
// The loop only does the plain part of relaying. Everything else is handed back to the
// goroutine relay, which owns all the rest of a session's life: a Query or Parse that
// passes the ASK prefilter, EOF or an error on either side, a malformed or oversized
// message, Terminate, the idle timeout, Session.close and Server shutdown. A hand-back
// carries the bytes already walked but not yet written, and how much of a frame each
// direction had left to pass through, so the goroutine relay goes on at the same byte.
// A session never returns to the loop after a hand-back.

// eventLoop is one relay thread of a Server.
type eventLoop struct {
	loop *evloop.Loop
}

// loopSess is a session while its sockets belong to an event loop: its evloop.Owner, called
// on the loop's thread.
type loopSess struct {
	loop *eventLoop
	s    *session
	es   *evloop.Sess
	back chan handback
	m    [2]*msgReader // s.cr, s.ur
}

// startLoops starts n event loops; it returns the ones that started.
func startLoops(srv *Server, n int) ([]*eventLoop, error) {
	if strings.Contains(os.Getenv("GODEBUG"), "asyncpreemptoff=1") {
		// Without preemption signals a loop waiting in epoll_wait would hold up every GC
		// stop-the-world until its next event.
		return nil, errors.New("relay threads need asynchronous preemption, and GODEBUG has asyncpreemptoff=1")
	}
	// Each loop keeps a P. The proxy does not change GOMAXPROCS (a process-wide setting, the
	// program's to make: pgask serve raises it); it starts fewer loops instead.
	if p := runtime.GOMAXPROCS(0); p <= n {
		if p < 2 {
			return nil, fmt.Errorf("relay threads need GOMAXPROCS of at least 2 (it is %d) to leave a P for the rest", p)
		}
		srv.log.Warn("fewer relay threads than asked, so that they leave a P for the rest: raise GOMAXPROCS for more", "relay_threads", p-1, "asked", n, "gomaxprocs", p)
		n = p - 1
	}
	cfg := evloop.Config{
		Log:         srv.log,
		IdleTimeout: srv.opts.IdleTimeout,
		IdleErr:     errIdleTimeout,
		WriteErr:    loopWriteErr,
		NoIOURing:   srv.opts.RelayNoIOURing,
		Handoffs:    &srv.counters.loopHandoffs,
		RingBatches: &srv.counters.ringBatches,
		Hooks:       srv.opts.relayHooks,
	}
	var loops []*eventLoop
	for range n {
		l, err := evloop.Start(cfg)
		if err != nil {
			for _, l := range loops {
				l.stop()
			}
			return nil, err
		}
		loops = append(loops, &eventLoop{loop: l})
	}
	return loops, nil
}

// loopWriteErr is how direction d ends after a failed write of it (d 0: to the upstream).
func loopWriteErr(d int, errno syscall.Errno) error {
	if d == 0 {
		return &upstreamWriteError{errno}
	}
	return &clientWriteError{errno}
}

// stop makes the loop hand back its sessions and exit.
func (l *eventLoop) stop() { l.loop.Stop() }

// attach moves s's sockets into the loop. It returns the channel on which the session will
// be handed back, or nil when s stays with the goroutine relay.
func (l *eventLoop) attach(s *session) <-chan handback {
	cfd, err := evloop.DupSocket(s.client)
	if err != nil {
		s.log.Debug("session stays on the goroutine relay", "err", err)
		return nil
	}
	ufd, err := evloop.DupSocket(s.upstream)
	if err != nil {
		syscall.Close(cfd)
		s.log.Debug("session stays on the goroutine relay", "err", err)
		return nil
	}
	ls := &loopSess{loop: l, s: s, back: make(chan handback, 1), m: [2]*msgReader{s.cr, s.ur}}
	s.walk[0].m, s.walk[1].m = s.cr, s.ur
	s.upMu.Lock()
	defer s.upMu.Unlock()
	if !s.closed && !s.noLoop {
		ls.es = l.loop.Attach([2]int{cfd, ufd}, ls)
	}
	if ls.es == nil {
		syscall.Close(cfd)
		syscall.Close(ufd)
		return nil
	}
	// From here the dups are the sockets: closing the net.Conns only drops Go's descriptors.
	s.client.Close()
	s.upstream.Close()
	s.attached = ls
	s.backDone = make(chan struct{})
	s.srv.counters.loopSessions.Add(1)
	return ls.back
}

// release asks the loop to hand ls back; it returns at once.
func (l *eventLoop) release(ls *loopSess) { l.loop.Release(ls.es) }

// ReadBuf returns the free space a read of direction d goes into (evloop.Owner).
func (ls *loopSess) ReadBuf(d int) []byte {
	m := ls.m[d]
	m.makeRoom(ls.s.walk[d].need)
	return m.space()
}

// Read counts n bytes read into direction d's ReadBuf.
func (ls *loopSess) Read(d, n int) { ls.m[d].w += n }

// Walk walks the frames of direction d read since the last walk and returns them; it stops
// before a frame the loop must hand back.
func (ls *loopSess) Walk(d int) (out []byte, handoff bool, err error) {
	m := ls.m[d]
	if m.buffered() == 0 {
		return nil, false, nil
	}
	start := m.r
	if d == 0 {
		handoff, err = ls.walkClient()
	} else {
		err = ls.walkServer()
	}
	return m.buf[start:m.r], handoff, err
}

// Idle reports whether none of the session's queries runs.
func (ls *loopSess) Idle() bool { return ls.s.pending.Load() <= 0 }

// HandBack returns the session to its goroutine relay.
func (ls *loopSess) HandBack(conns [2]net.Conn, errs [2]error, pend [2][]byte) {
	ls.back <- handback{conns: conns, errs: errs, resumeState: resumeState{pend: pend}}
}

// walkClient walks client frames as clientToServer does when nothing is intercepted, and
// stops before a Query or Parse that the Interceptor must see (handoff) or after a
// Terminate (errTerminate).
func (ls *loopSess) walkClient() (handoff bool, err error) {
	s := ls.s
	w := &s.walk[0]
	ic := s.srv.opts.Interceptor != nil
	w.need = 0
	for {
		typ, total, ok, herr := w.next("client")
		if herr != nil {
			err = herr
			break
		}
		if !ok {
			break
		}
		if ic && (typ == 'Q' || typ == 'P') {
			if !w.whole(total) {
				break
			}
			if MayBeAsk(queryText(typ, w.body(total))) {
				w.uncount(total) // the goroutine relay walks it
				handoff = true
				break
			}
		}
		terminate := s.account(typ)
		w.advance(total)
		if terminate {
			err = errTerminate
			break
		}
	}
	s.clientDone(w)
	return handoff, err
}

// walkServer walks upstream frames as serverToClient does while pgask runs no query of its
// own (the loop never has one: those run on the goroutine relay).
func (ls *loopSess) walkServer() error {
	s := ls.s
	w := &s.walk[1]
	var err error
	w.need = 0
frames:
	for {
		typ, total, ok, herr := w.next("upstream")
		if herr != nil {
			err = herr
			break
		}
		if !ok {
			break
		}
		switch typ {
		case 'Z':
			if !s.readyForQuery(w, total) {
				break frames
			}
		case 'G':
			s.copyIn()
		case 'C':
			s.commandComplete(w)
		case 'E':
			s.errorResponse(w, total)
		}
		w.advance(total)
	}
	s.serverDone(w)
	return err
}
