//go:build linux

package proxy

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"github.com/pgask/pgask/proxy/internal/uring"
)

// The event loop relays plain-TCP sessions the way PgBouncer does: one OS thread waits in
// epoll_wait (level-triggered) on the raw sockets of many sessions, reads what a socket
// has, walks the frame headers with the same bookkeeping as the goroutine relay, and writes
// the run of frames to the other side with one non-blocking write. Per transaction that is
// a read and a write per direction plus a share of one epoll_wait: no EAGAIN read before
// parking, no netpoller wake-up, no goroutine hand-off (bench/proxy/run.sh measures it).
// Where the kernel has io_uring, the reads of one batch of events go to the kernel in one
// io_uring_enter, and the writes they lead to in a second (runQueue; the ring is package
// proxy/internal/uring): about one system call per transaction instead of four and a half.
//
// The loop only does the plain part of relaying. Everything else is handed back to the
// goroutine relay, which owns all the rest of a session's life: a Query or Parse that
// passes the ASK prefilter, EOF or an error on either side, a malformed or oversized
// message, Terminate, the idle timeout, Session.close and Server shutdown. A hand-back
// carries the bytes already walked but not yet written, and how much of a frame each
// direction had left to pass through, so the goroutine relay goes on at the same byte.
// A session never returns to the loop after a hand-back.
//
// The sockets. Sockets registered with Go's netpoller wake it on every edge, which more than
// doubled the CPU per transaction in a prototype, so attach takes a dup of each socket's descriptor (not
// net.Conn.File, which registers the dup with the netpoller again) and closes the net.Conns;
// the hand-back makes new net.Conns from the dups. Only the loop thread closes or converts a
// descriptor it owns, so a descriptor number is never reused under it.
//
// The thread. epoll_wait and the non-blocking reads and writes are raw system calls: a
// blocking system call made the normal way lets sysmon take the P away and then wake itself
// every 20 µs, which cost about 8 µs more CPU per transaction. A raw call keeps the P, so
// the loop is one P out of GOMAXPROCS (startLoops raises GOMAXPROCS when it would leave
// none). The Go scheduler still preempts the loop, every 10-20 ms and for GC: its signal
// ends epoll_wait with EINTR, and the loop yields. A wait that ends without an event (that
// signal, or the timeout) means the loop has nothing to do, and the next wait is a normal
// blocking system call, which the scheduler leaves alone: a raw wait in an idle loop was
// woken every 10 ms for nothing, 300 thread switches and 1 % of a CPU a second in an idle
// pgask. The first event puts the loop back on raw calls.

type eventLoop struct {
	srv  *Server
	epfd int
	wake [2]int // pipe: a byte written to wake[1] wakes epoll_wait

	mu      sync.Mutex
	cmds    []loopCmd
	woken   bool // a wake-up byte is in the pipe
	stopped bool // no more attaches; the loop hands every session back and exits
	exited  bool // the loop's descriptors are closed

	// Owned by the loop thread.
	slots     []*loopSess
	free      []int32
	freeLater []int32 // slots freed during a batch of events, reusable after it

	// With a ring, the reads of a batch of events go to the kernel in one io_uring_enter,
	// and so do the writes they lead to (package uring says why); without one, each is a
	// system call of its own.
	ring       *uring.Ring
	ringFailed bool // io_uring_enter failed: the ring is dropped after this batch
	recvq      []loopIO
	sendq      []loopIO
	res        []int32
}

// loopIO is a read or a write of direction d of a session, queued for the ring.
type loopIO struct {
	ls *loopSess
	d  int
	n  int // bytes asked for; -1 when not submitted
}

// uringEntries bounds the requests of one io_uring_enter; a longer queue takes several.
const uringEntries = 256

// notRun marks a queued request the kernel did not run (io_uring_enter failed).
const notRun = -1 << 31

type loopCmd struct {
	attach  *loopSess
	release *loopSess
}

// loopSess is a session while its sockets belong to an event loop.
type loopSess struct {
	loop *eventLoop
	s    *session
	back chan handback

	// Owned by the loop thread.
	slot       int32
	fd         [2]int    // client, upstream
	mask       [2]uint32 // epoll interest of each fd
	dir        [2]loopDir
	lastClient time.Time // last read from the client (kept only with an idle timeout)
	gone       bool
}

// loopDir is one direction: dir[0] reads the client and writes upstream, dir[1] the reverse.
type loopDir struct {
	m    *msgReader
	w    *frameWalk // the session's walk of this direction (walk.go)
	wpos int        // bytes before m.r were walked; m.buf[wpos:m.r] are not yet written

	queued bool // a write of wpos:m.r is in the loop's send queue
}

const (
	evIn  = syscall.EPOLLIN | syscall.EPOLLRDHUP
	evOut = syscall.EPOLLOUT
)

// startLoops starts n event loops; it returns the ones that started.
func startLoops(srv *Server, n int) ([]*eventLoop, error) {
	if strings.Contains(os.Getenv("GODEBUG"), "asyncpreemptoff=1") {
		// Without preemption signals a loop waiting in epoll_wait would hold up every GC
		// stop-the-world until its next event.
		return nil, errors.New("relay threads need asynchronous preemption, and GODEBUG has asyncpreemptoff=1")
	}
	if p := runtime.GOMAXPROCS(0); p <= n {
		runtime.GOMAXPROCS(n + 1)
		srv.log.Info("GOMAXPROCS raised so that relay threads leave a P for the rest", "gomaxprocs", n+1, "relay_threads", n)
	}
	var loops []*eventLoop
	for range n {
		l, err := newEventLoop(srv)
		if err != nil {
			for _, l := range loops {
				l.stop()
			}
			return nil, err
		}
		loops = append(loops, l)
		go l.run()
	}
	return loops, nil
}

func newEventLoop(srv *Server) (*eventLoop, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("start relay thread: epoll_create1: %w", err)
	}
	l := &eventLoop{srv: srv, epfd: epfd}
	if err := syscall.Pipe2(l.wake[:], syscall.O_NONBLOCK|syscall.O_CLOEXEC); err != nil {
		syscall.Close(epfd)
		return nil, fmt.Errorf("start relay thread: pipe2: %w", err)
	}
	if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, l.wake[0], &syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: -1}); err != nil {
		l.closeFds()
		return nil, fmt.Errorf("start relay thread: epoll_ctl: %w", err)
	}
	return l, nil
}

func (l *eventLoop) closeFds() {
	syscall.Close(l.epfd)
	syscall.Close(l.wake[0])
	syscall.Close(l.wake[1])
}

// stop makes the loop hand back its sessions and exit.
func (l *eventLoop) stop() {
	l.mu.Lock()
	l.stopped = true
	l.mu.Unlock()
	l.wakeup()
}

// wakeup makes epoll_wait return. The write happens under mu so that it never reaches a
// descriptor number the exited loop has closed and the process has reused.
func (l *eventLoop) wakeup() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.woken || l.exited {
		return
	}
	l.woken = true
	b := [1]byte{1}
	_, _ = syscall.Write(l.wake[1], b[:])
}

// attach moves s's sockets into the loop. It returns the channel on which the session will
// be handed back, or nil when s stays with the goroutine relay.
func (l *eventLoop) attach(s *session) <-chan handback {
	cfd, err := dupSocket(s.client)
	if err != nil {
		s.log.Debug("session stays on the goroutine relay", "err", err)
		return nil
	}
	ufd, err := dupSocket(s.upstream)
	if err != nil {
		syscall.Close(cfd)
		s.log.Debug("session stays on the goroutine relay", "err", err)
		return nil
	}
	ls := &loopSess{loop: l, s: s, back: make(chan handback, 1), fd: [2]int{cfd, ufd}}
	ls.dir[0].m, ls.dir[1].m = s.cr, s.ur
	s.walk[0].m, s.walk[1].m = s.cr, s.ur
	ls.dir[0].w, ls.dir[1].w = &s.walk[0], &s.walk[1]
	s.upMu.Lock()
	defer s.upMu.Unlock()
	l.mu.Lock()
	if s.closed || s.noLoop || l.stopped {
		l.mu.Unlock()
		syscall.Close(cfd)
		syscall.Close(ufd)
		return nil
	}
	// From here the dups are the sockets: closing the net.Conns only drops Go's descriptors.
	s.client.Close()
	s.upstream.Close()
	s.attached = ls
	s.backDone = make(chan struct{})
	l.cmds = append(l.cmds, loopCmd{attach: ls})
	l.mu.Unlock()
	l.srv.counters.loopSessions.Add(1)
	l.wakeup()
	return ls.back
}

// release asks the loop to hand ls back; it returns at once.
func (l *eventLoop) release(ls *loopSess) {
	l.mu.Lock()
	l.cmds = append(l.cmds, loopCmd{release: ls})
	l.mu.Unlock()
	l.wakeup()
}

// dupSocket returns a close-on-exec duplicate of c's socket descriptor, registered nowhere.
func dupSocket(c net.Conn) (int, error) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return -1, fmt.Errorf("%T has no socket", c)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return -1, err
	}
	nfd := -1
	var derr error
	if err := rc.Control(func(fd uintptr) {
		r, _, e := syscall.Syscall(syscall.SYS_FCNTL, fd, syscall.F_DUPFD_CLOEXEC, 0)
		if e != 0 {
			derr = e
			return
		}
		nfd = int(r)
	}); err != nil {
		return -1, err
	}
	if derr != nil {
		return -1, fmt.Errorf("dup socket: %w", derr)
	}
	return nfd, nil
}

// fdConn turns a socket descriptor owned by the loop into a net.Conn and closes fd.
func fdConn(fd int) (net.Conn, error) {
	f := os.NewFile(uintptr(fd), "pgask-socket")
	c, err := net.FileConn(f)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("resume session on goroutines: %w", err)
	}
	return c, nil
}

func (l *eventLoop) run() {
	runtime.LockOSThread() // the thread ends with the loop
	if h := l.srv.opts.relayHooks; h != nil && h.started != nil {
		h.started(syscall.Gettid())
	}
	if !l.srv.opts.RelayNoIOURing {
		// The ring belongs to this thread (IORING_SETUP_SINGLE_ISSUER): it is made here.
		ring, err := uring.New(uringEntries)
		if err != nil {
			l.srv.log.Info("relay thread: io_uring unavailable, one system call per read and write", "err", err)
		} else {
			l.ring = ring
			defer func() {
				if l.ring != nil {
					l.ring.Close()
				}
			}()
		}
	}
	evs := make([]syscall.EpollEvent, 128)
	idle := l.srv.opts.IdleTimeout
	// epoll_wait returns at least once a second: a bound on how long the loop could hold up
	// the scheduler if a preemption signal were ever missed.
	timeout := 1000
	var now, nextSweep time.Time
	if idle > 0 {
		timeout = int(min(max(idle/10, time.Millisecond), time.Second) / time.Millisecond)
		now = time.Now()
		nextSweep = now.Add(idle / 10)
	}
	quiet := true // the last wait returned no event: the next one blocks the normal way
	for {
		t := timeout
		if quiet && idle == 0 {
			t = -1 // a blocking wait holds up no one: it can wait for the next event
		}
		n, errno := epollWait(l.epfd, evs, t, quiet)
		quiet = n <= 0
		if errno != 0 {
			n = 0
			if errno != syscall.EINTR {
				l.srv.log.Error("relay thread: epoll_wait", "err", errno)
				time.Sleep(10 * time.Millisecond)
			}
			// EINTR is how the scheduler asks the loop to yield (sysmon does so every 10-20 ms
			// while the loop waits, as it sees a goroutine that has run that long).
			runtime.Gosched()
		}
		if idle > 0 {
			now = time.Now()
		}
		for i := range evs[:n] {
			ev := &evs[i]
			if ev.Fd < 0 {
				if l.commands() {
					return
				}
				continue
			}
			ls := l.slots[ev.Fd]
			if ls == nil || ls.gone {
				continue
			}
			side := int(ev.Pad)
			if ev.Events&evOut != 0 {
				ls.flush(1 - side)
			}
			if ls.gone {
				continue
			}
			if ls.mask[side]&evIn == 0 {
				if ev.Events&(syscall.EPOLLHUP|syscall.EPOLLERR) != 0 {
					// A hang-up is reported even while this side is not read (level-triggered):
					// the goroutine relay finishes the blocked write and reads to the end.
					l.detach(ls, [2]error{})
				}
				continue
			}
			if ev.Events&(evIn|syscall.EPOLLHUP|syscall.EPOLLERR) != 0 {
				if side == 0 && idle > 0 {
					ls.lastClient = now
				}
				if l.ring != nil {
					l.recvq = append(l.recvq, loopIO{ls: ls, d: side})
				} else {
					ls.pump(side)
				}
			}
		}
		if l.ring != nil {
			l.runQueue(l.recvq, uring.Recv)
			clear(l.recvq)
			l.recvq = l.recvq[:0]
			// The reads queued the writes they lead to.
			l.runQueue(l.sendq, uring.Send)
			clear(l.sendq)
			l.sendq = l.sendq[:0]
			if l.ringFailed {
				l.ring.Close()
				l.ring = nil
				if h := l.srv.opts.relayHooks; h != nil && h.ringDropped != nil {
					h.ringDropped()
				}
			}
		}
		// A slot freed in this batch is reused only now, so that a later event of the batch
		// for the old session's socket never reaches a new session.
		l.free = append(l.free, l.freeLater...)
		l.freeLater = l.freeLater[:0]
		if idle > 0 && !now.Before(nextSweep) {
			nextSweep = now.Add(idle / 10)
			for _, ls := range l.slots {
				if ls != nil && !ls.gone && now.Sub(ls.lastClient) >= idle && ls.s.pending.Load() <= 0 {
					l.detach(ls, [2]error{errIdleTimeout, nil})
				}
			}
		}
	}
}

// commands runs the queued attaches and releases; true when the loop must exit.
func (l *eventLoop) commands() bool {
	var b [64]byte
	for {
		if n, _ := syscall.Read(l.wake[0], b[:]); n <= 0 {
			break
		}
	}
	l.mu.Lock()
	cmds := l.cmds
	l.cmds = nil
	l.woken = false
	stopped := l.stopped
	l.mu.Unlock()
	for _, c := range cmds {
		if c.attach != nil {
			l.add(c.attach)
		} else if !c.release.gone {
			l.detach(c.release, [2]error{})
		}
	}
	if !stopped {
		return false
	}
	for _, ls := range l.slots {
		if ls != nil && !ls.gone {
			l.detach(ls, [2]error{})
		}
	}
	l.mu.Lock()
	l.exited = true
	l.closeFds()
	l.mu.Unlock()
	return true
}

func (l *eventLoop) add(ls *loopSess) {
	if k := len(l.free); k > 0 {
		ls.slot = l.free[k-1]
		l.free = l.free[:k-1]
	} else {
		ls.slot = int32(len(l.slots))
		l.slots = append(l.slots, nil)
	}
	l.slots[ls.slot] = ls
	ls.lastClient = time.Now()
	for d := range 2 {
		ls.dir[d].wpos = ls.dir[d].m.r
	}
	for side := range 2 {
		ls.mask[side] = evIn
		if err := syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_ADD, ls.fd[side], &syscall.EpollEvent{Events: evIn, Fd: ls.slot, Pad: int32(side)}); err != nil {
			var errs [2]error
			errs[side] = fmt.Errorf("relay thread: epoll_ctl: %w", err)
			l.detach(ls, errs)
			return
		}
	}
	// Bytes the startup left buffered (a pipelined first query) are relayed now.
	for d := range 2 {
		if !ls.gone && ls.dir[d].m.buffered() > 0 {
			ls.process(d)
		}
	}
}

// pump reads what the socket of direction d has and relays it.
func (ls *loopSess) pump(d int) {
	n, errno := rawIO(syscall.SYS_READ, ls.fd[d], ls.dir[d].readBuf())
	ls.dir[d].m.w += n
	ls.readDone(d, n, errno)
}

// readBuf returns the free space a read of this direction goes into. Everything walked
// has been written by then (reading stops while a write waits), so wpos restarts at m.r.
func (dd *loopDir) readBuf() []byte {
	m := dd.m
	m.makeRoom(dd.w.need)
	b := m.space()
	dd.wpos = m.r
	return b
}

// readDone acts on a read of direction d that brought n bytes, already counted in m.w, or
// failed with errno.
func (ls *loopSess) readDone(d, n int, errno syscall.Errno) {
	switch {
	case errno == syscall.EAGAIN || errno == syscall.EINTR:
	case errno != 0:
		ls.endDir(d, errno)
	case n == 0:
		ls.endDir(d, io.EOF)
	default:
		ls.process(d)
	}
}

// endDir hands the session back because direction d's source ended with err.
func (ls *loopSess) endDir(d int, err error) {
	var errs [2]error
	errs[d] = err
	ls.loop.detach(ls, errs)
}

const (
	actNone = iota
	actHandoff
	actTerminate
)

// process walks the new frames of direction d, writes them, and hands the session back when
// the walk found something the loop does not do.
func (ls *loopSess) process(d int) {
	var act int
	var err error
	if d == 0 {
		act, err = ls.walkClient()
	} else {
		err = ls.walkServer()
	}
	if act == actNone && err == nil && ls.loop.ring != nil {
		// The common case: the write goes with the batch's others (runQueue).
		if dd := &ls.dir[d]; dd.wpos < dd.m.r && !dd.queued {
			dd.queued = true
			ls.loop.sendq = append(ls.loop.sendq, loopIO{ls: ls, d: d})
		}
		return
	}
	if !ls.flush(d) {
		return
	}
	switch {
	case err != nil:
		ls.endDir(d, err)
	case act == actTerminate:
		ls.endDir(0, errTerminate)
	case act == actHandoff:
		ls.loop.srv.counters.loopHandoffs.Add(1)
		ls.loop.detach(ls, [2]error{})
	}
}

// flush writes direction d's walked bytes; false when the session was handed back.
func (ls *loopSess) flush(d int) bool {
	dd := &ls.dir[d]
	m := dd.m
	for dd.wpos < m.r {
		n, errno := rawIO(syscall.SYS_WRITE, ls.fd[1-d], m.buf[dd.wpos:m.r])
		if errno == syscall.EINTR {
			continue
		}
		if errno == syscall.EAGAIN {
			// The receiver is slow: stop reading this direction until it takes the rest.
			ls.setMask(d, ls.mask[d]&^evIn)
			ls.setMask(1-d, ls.mask[1-d]|evOut)
			return true
		}
		if errno != 0 {
			ls.writeFailed(d, errno)
			return false
		}
		dd.wpos += n
	}
	ls.written(d)
	return true
}

// written resumes reading direction d once its walked bytes are all written.
func (ls *loopSess) written(d int) {
	if ls.mask[d]&evIn == 0 {
		ls.setMask(d, ls.mask[d]|evIn)
		ls.setMask(1-d, ls.mask[1-d]&^evOut)
	}
}

// writeFailed hands the session back after a failed write of direction d.
func (ls *loopSess) writeFailed(d int, errno syscall.Errno) {
	var err error = &clientWriteError{errno}
	if d == 0 {
		err = &upstreamWriteError{errno}
	}
	ls.endDir(d, err)
}

// results returns a slice of n results set to notRun.
func (l *eventLoop) results(n int) []int32 {
	if cap(l.res) < n {
		l.res = make([]int32, n)
	}
	res := l.res[:n]
	for i := range res {
		res[i] = notRun
	}
	return res
}

// submit runs the prepared requests; one that did not run keeps notRun in res and is then
// made as a system call of its own.
func (l *eventLoop) submit(res []int32) {
	var err error
	if h := l.srv.opts.relayHooks; h != nil && h.submit != nil {
		err = h.submit()
	}
	if err == nil {
		err = l.ring.Submit(res)
	}
	if err != nil {
		// What the kernel did not take stays in the ring: the ring cannot be used again.
		l.srv.log.Error("relay thread: io_uring_enter failed, going on with one system call per read and write", "err", err)
		l.ringFailed = true
		return
	}
	l.srv.counters.ringBatches.Add(1)
}

// runQueue makes the reads (uring.Recv) or the writes (uring.Send) queued in q, through
// the ring uringEntries at a time, or as system calls of their own when q holds one (a
// request alone costs more than the call) or the ring has failed. Every result of a chunk is
// accounted before any is acted on: acting on one may hand its session back, and the
// hand-back must carry what the chunk's other requests moved for that session.
func (l *eventLoop) runQueue(q []loopIO, op uring.Op) {
	alone := len(q) == 1
	for len(q) > 0 {
		if alone || l.ringFailed {
			for _, e := range q {
				e.plain(op)
			}
			return
		}
		batch := q[:min(len(q), l.ring.Space())]
		q = q[len(batch):]
		res := l.results(len(batch))
		for i := range batch {
			e := &batch[i]
			e.n = -1
			if fd, b := e.buffer(op); len(b) > 0 {
				l.ring.Prep(op, fd, b, uint64(i))
				e.n = len(b)
			}
		}
		l.submit(res)
		for i, e := range batch {
			if e.n >= 0 && res[i] > 0 {
				e.account(op, int(res[i]))
			}
		}
		for i, e := range batch {
			if e.n >= 0 && !e.ls.gone {
				e.finish(op, res[i])
			}
		}
	}
}

// plain makes e's read or write without the ring.
func (e *loopIO) plain(op uring.Op) {
	if op == uring.Send {
		e.ls.dir[e.d].queued = false
	}
	if e.ls.gone {
		return
	}
	if op == uring.Recv {
		e.ls.pump(e.d)
	} else {
		e.ls.flush(e.d)
	}
}

// buffer prepares e's read or write: the socket and the bytes to read into or write, none
// when the session is gone or has nothing left to write.
func (e *loopIO) buffer(op uring.Op) (int, []byte) {
	dd := &e.ls.dir[e.d]
	m := dd.m
	if op == uring.Send {
		dd.queued = false
		if e.ls.gone || dd.wpos >= m.r {
			return -1, nil
		}
		return e.ls.fd[1-e.d], m.buf[dd.wpos:m.r]
	}
	if e.ls.gone {
		return -1, nil
	}
	return e.ls.fd[e.d], dd.readBuf()
}

// account records the n bytes e's request moved.
func (e *loopIO) account(op uring.Op, n int) {
	if op == uring.Recv {
		e.ls.dir[e.d].m.w += n
	} else {
		e.ls.dir[e.d].wpos += n
	}
}

// finish acts on the result r of e's request (bytes, -errno or notRun) as pump and flush do
// on theirs.
func (e *loopIO) finish(op uring.Op, r int32) {
	ls := e.ls
	if r == notRun {
		e.plain(op)
		return
	}
	n, errno := int(r), syscall.Errno(0)
	if r < 0 {
		n, errno = 0, syscall.Errno(-r)
	}
	switch {
	case op == uring.Recv:
		ls.readDone(e.d, n, errno)
	case n == e.n:
		ls.written(e.d)
	case errno == 0 || errno == syscall.EAGAIN || errno == syscall.EINTR:
		ls.flush(e.d) // the rest, as without the ring
	default:
		ls.writeFailed(e.d, errno)
	}
}

func (ls *loopSess) setMask(side int, mask uint32) {
	if ls.mask[side] == mask || ls.gone {
		return
	}
	ls.mask[side] = mask
	if err := syscall.EpollCtl(ls.loop.epfd, syscall.EPOLL_CTL_MOD, ls.fd[side], &syscall.EpollEvent{Events: mask, Fd: ls.slot, Pad: int32(side)}); err != nil {
		ls.endDir(side, fmt.Errorf("relay thread: epoll_ctl: %w", err))
	}
}

// walkClient walks client frames as clientToServer does when nothing is intercepted, and
// stops before a Query or Parse that the Interceptor must see.
func (ls *loopSess) walkClient() (act int, err error) {
	s := ls.s
	w := ls.dir[0].w
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
				act = actHandoff
				break
			}
		}
		terminate := s.account(typ)
		w.advance(total)
		if terminate {
			act = actTerminate
			break
		}
	}
	s.clientDone(w)
	return act, err
}

// walkServer walks upstream frames as serverToClient does while pgask runs no query of its
// own (the loop never has one: those run on the goroutine relay).
func (ls *loopSess) walkServer() error {
	s := ls.s
	w := ls.dir[1].w
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
		case 'E':
			s.errorResponse(w, total)
		}
		w.advance(total)
	}
	s.serverDone(w)
	return err
}

// detach hands ls back to its session's goroutine relay.
func (l *eventLoop) detach(ls *loopSess, errs [2]error) {
	if ls.gone {
		return
	}
	ls.gone = true
	l.slots[ls.slot] = nil
	l.freeLater = append(l.freeLater, ls.slot)
	hb := handback{errs: errs}
	for side := range 2 {
		_ = syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_DEL, ls.fd[side], nil)
		d := &ls.dir[side]
		hb.pend[side] = d.m.buf[d.wpos:d.m.r] // the walk itself goes on in s.walk[side]
		c, err := fdConn(ls.fd[side])
		if err != nil {
			syscall.Close(ls.fd[side])
			if hb.errs[side] == nil {
				hb.errs[side] = err
			}
		}
		hb.conns[side] = c
	}
	ls.back <- hb
}

// epollWait is epoll_wait as a raw system call, or as a normal blocking one when the loop
// is idle (see the comment on the thread): epoll_pwait with no signal mask, which every
// Linux architecture has (arm64 has no epoll_wait).
func epollWait(epfd int, evs []syscall.EpollEvent, msec int, blocking bool) (int, syscall.Errno) {
	// Direct calls: the pointer's conversion must be in the call itself to keep evs in place.
	if blocking {
		r, _, e := syscall.Syscall6(syscall.SYS_EPOLL_PWAIT, uintptr(epfd), uintptr(unsafe.Pointer(&evs[0])), uintptr(len(evs)), uintptr(msec), 0, 0)
		return int(r), e
	}
	r, _, e := syscall.RawSyscall6(syscall.SYS_EPOLL_PWAIT, uintptr(epfd), uintptr(unsafe.Pointer(&evs[0])), uintptr(len(evs)), uintptr(msec), 0, 0)
	return int(r), e
}

// rawIO is a raw read(2) or write(2) on a non-blocking socket.
func rawIO(trap uintptr, fd int, b []byte) (int, syscall.Errno) {
	if len(b) == 0 {
		return 0, 0
	}
	r, _, e := syscall.RawSyscall(trap, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	if e != 0 {
		return 0, e
	}
	return int(r), 0
}
