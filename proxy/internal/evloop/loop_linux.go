//go:build linux

package evloop

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/pgask/pgask/proxy/internal/uring"
)

// The event loop relays plain-TCP sessions the way PgBouncer does: one OS thread waits in
// epoll_wait (level-triggered) on the raw sockets of many sessions, reads what a socket
// has, has the session's Owner walk the frame headers with the same bookkeeping as the
// goroutine relay, and writes the run of frames to the other side with one non-blocking write. Per transaction that is
// a read and a write per direction plus a share of one epoll_wait: no EAGAIN read before
// parking, no netpoller wake-up, no goroutine hand-off (bench/proxy/run.sh measures it).
// Where the kernel has io_uring, the reads of one batch of events go to the kernel in one
// io_uring_enter, and the writes they lead to in a second (runQueue; the ring is package
// proxy/internal/uring): about one system call per transaction instead of four and a half.
//
// The loop only does the plain part of relaying. Everything else is handed back to the
// goroutine relay (Owner.HandBack), which owns all the rest of a session's life: a Query or Parse that
// passes the ASK prefilter, EOF or an error on either side, a malformed or oversized
// message, Terminate, the idle timeout, Session.close and Server shutdown. A hand-back
// carries the bytes already walked but not yet written, and how much of a frame each
// direction had left to pass through, so the goroutine relay goes on at the same byte.
// A session never returns to the loop after a hand-back.
//
// The sockets. Sockets registered with Go's netpoller wake it on every edge, which more than
// doubled the CPU per transaction in a prototype, so the proxy's attach gives the loop a dup
// of each socket's descriptor (DupSocket; not net.Conn.File, which registers the dup with the
// netpoller again) and closes the net.Conns; the hand-back makes new net.Conns from the dups. Only the loop thread closes or converts a
// descriptor it owns, so a descriptor number is never reused under it.
//
// The thread. epoll_wait and the non-blocking reads and writes are raw system calls: a
// blocking system call made the normal way lets sysmon take the P away and then wake itself
// every 20 µs, which cost about 8 µs more CPU per transaction. A raw call keeps the P, so
// the loop is one P out of GOMAXPROCS (the proxy starts fewer loops when they would leave
// none, and never changes GOMAXPROCS itself). The Go scheduler still preempts the loop,
// every 10-20 ms and for GC: its signal ends epoll_wait with EINTR, and the loop yields. A
// wait that ends without an event (that signal, or the timeout) means the loop has nothing
// to do, and the next wait is a normal blocking system call, which the scheduler leaves
// alone: a raw wait in an idle loop was woken every 10 ms for nothing, 300 thread switches
// and 1 % of a CPU a second in an idle pgask. The first event puts the loop back on raw calls.

// Owner is the protocol side of a session on a Loop: its buffers, its frame walk and its
// bookkeeping (package proxy). The loop calls it on its own thread, once per read and never
// per frame, from Attach until HandBack.
type Owner interface {
	// ReadBuf returns the free space the next read of direction d (0: client to upstream,
	// 1: the reverse) goes into. Everything d's Walk returned has been written by then.
	ReadBuf(d int) []byte
	// Read counts n bytes read into d's last ReadBuf.
	Read(d, n int)
	// Walk walks the bytes of d read since its last Walk and returns those that go to the
	// other side, valid until d's next ReadBuf. handoff asks for the session back once they
	// are written; err ends direction d once they are written.
	Walk(d int) (out []byte, handoff bool, err error)
	// Idle reports whether none of the session's queries runs, so the idle timeout may end it.
	Idle() bool
	// HandBack returns the session: the sockets as net.Conns (nil where one could not be
	// converted), how each direction ended (nil: it goes on), and each direction's bytes
	// that Walk returned and the loop has not written.
	HandBack(conns [2]net.Conn, errs [2]error, pend [2][]byte)
}

// Config is what a Loop needs of the proxy.
type Config struct {
	Log         *slog.Logger
	IdleTimeout time.Duration // 0: never
	IdleErr     error         // how a session that timed out ends (its client direction)
	// WriteErr is how direction d ends when a write of it to the other side failed.
	WriteErr  func(d int, errno syscall.Errno) error
	NoIOURing bool // one system call per read and write, never a ring
	// Counters the loop adds to: hand-offs that Walk asked for, io_uring batches.
	Handoffs, RingBatches *atomic.Uint64
	Hooks                 *Hooks // nil outside tests
}

// Loop is one relay thread.
type Loop struct {
	cfg  Config
	epfd int
	wake [2]int // pipe: a byte written to wake[1] wakes epoll_wait

	mu      sync.Mutex
	cmds    []loopCmd
	woken   bool // a wake-up byte is in the pipe
	stopped bool // no more attaches; the loop hands every session back and exits
	exited  bool // the loop's descriptors are closed

	// Owned by the loop thread.
	slots     []*Sess
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
	ls *Sess
	d  int
	n  int // bytes asked for; -1 when not submitted
}

// uringEntries bounds the requests of one io_uring_enter; a longer queue takes several.
const uringEntries = 256

// notRun marks a queued request the kernel did not run (io_uring_enter failed).
const notRun = -1 << 31

type loopCmd struct {
	attach  *Sess
	release *Sess
}

// Sess is a session while its sockets belong to a Loop.
type Sess struct {
	loop  *Loop
	owner Owner

	// Owned by the loop thread.
	slot       int32
	fd         [2]int    // client, upstream
	mask       [2]uint32 // epoll interest of each fd
	out        [2][]byte // per direction: walked, not yet written
	queued     [2]bool   // a write of out[d] is in the loop's send queue
	lastClient time.Time // last read from the client (kept only with an idle timeout)
	gone       bool
}

const (
	evIn  = syscall.EPOLLIN | syscall.EPOLLRDHUP
	evOut = syscall.EPOLLOUT
)

// Start makes a loop and runs it on a goroutine locked to its own OS thread.
func Start(cfg Config) (*Loop, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("start relay thread: epoll_create1: %w", err)
	}
	l := &Loop{cfg: cfg, epfd: epfd}
	if err := syscall.Pipe2(l.wake[:], syscall.O_NONBLOCK|syscall.O_CLOEXEC); err != nil {
		syscall.Close(epfd)
		return nil, fmt.Errorf("start relay thread: pipe2: %w", err)
	}
	if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, l.wake[0], &syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: -1}); err != nil {
		l.closeFds()
		return nil, fmt.Errorf("start relay thread: epoll_ctl: %w", err)
	}
	go l.run()
	return l, nil
}

func (l *Loop) closeFds() {
	syscall.Close(l.epfd)
	syscall.Close(l.wake[0])
	syscall.Close(l.wake[1])
}

// Stop makes the loop hand back its sessions and exit.
func (l *Loop) Stop() {
	l.mu.Lock()
	l.stopped = true
	l.mu.Unlock()
	l.wakeup()
}

// wakeup makes epoll_wait return. The write happens under mu so that it never reaches a
// descriptor number the exited loop has closed and the process has reused.
func (l *Loop) wakeup() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.woken || l.exited {
		return
	}
	l.woken = true
	b := [1]byte{1}
	_, _ = syscall.Write(l.wake[1], b[:])
}

// Attach gives the loop a session's sockets, fd[0] the client's and fd[1] the upstream's,
// which it owns from then on, and o, which it calls from its thread until o.HandBack. It
// returns nil, and owns nothing, when the loop is stopped.
func (l *Loop) Attach(fd [2]int, o Owner) *Sess {
	ls := &Sess{loop: l, owner: o, fd: fd}
	l.mu.Lock()
	if l.stopped {
		l.mu.Unlock()
		return nil
	}
	l.cmds = append(l.cmds, loopCmd{attach: ls})
	l.mu.Unlock()
	l.wakeup()
	return ls
}

// Release asks the loop to hand ls back; it returns at once.
func (l *Loop) Release(ls *Sess) {
	l.mu.Lock()
	l.cmds = append(l.cmds, loopCmd{release: ls})
	l.mu.Unlock()
	l.wakeup()
}

// DupSocket returns a close-on-exec duplicate of c's socket descriptor, registered nowhere.
func DupSocket(c net.Conn) (int, error) {
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

func (l *Loop) run() {
	runtime.LockOSThread() // the thread ends with the loop
	if h := l.cfg.Hooks; h != nil && h.Started != nil {
		h.Started(Thread{TID: syscall.Gettid(), Epfd: l.epfd, Wake: l.wakeup})
	}
	if !l.cfg.NoIOURing {
		// The ring belongs to this thread (IORING_SETUP_SINGLE_ISSUER): it is made here.
		ring, err := uring.New(uringEntries)
		if err != nil {
			l.cfg.Log.Info("relay thread: io_uring unavailable, one system call per read and write", "err", err)
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
	idle := l.cfg.IdleTimeout
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
				l.cfg.Log.Error("relay thread: epoll_wait", "err", errno)
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
				if h := l.cfg.Hooks; h != nil && h.RingDropped != nil {
					h.RingDropped()
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
				if ls != nil && !ls.gone && now.Sub(ls.lastClient) >= idle && ls.owner.Idle() {
					l.detach(ls, [2]error{l.cfg.IdleErr, nil})
				}
			}
		}
	}
}

// commands runs the queued attaches and releases; true when the loop must exit.
func (l *Loop) commands() bool {
	var b [64]byte
	for {
		if n, _ := syscall.Read(l.wake[0], b[:]); n <= 0 {
			break
		}
	}
	if h := l.cfg.Hooks; h != nil && h.Commands != nil {
		h.Commands()
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

func (l *Loop) add(ls *Sess) {
	if k := len(l.free); k > 0 {
		ls.slot = l.free[k-1]
		l.free = l.free[:k-1]
	} else {
		ls.slot = int32(len(l.slots))
		l.slots = append(l.slots, nil)
	}
	l.slots[ls.slot] = ls
	ls.lastClient = time.Now()
	for side := range 2 {
		ls.mask[side] = evIn
		if err := syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_ADD, ls.fd[side], &syscall.EpollEvent{Events: evIn, Fd: ls.slot, Pad: int32(side)}); err != nil {
			var errs [2]error
			errs[side] = fmt.Errorf("relay thread: epoll_ctl: %w", err)
			l.detach(ls, errs)
			return
		}
	}
	// Bytes the startup left buffered (a pipelined first query) are relayed now (Walk finds
	// nothing to do where there are none).
	for d := range 2 {
		if !ls.gone {
			ls.process(d)
		}
	}
}

// pump reads what the socket of direction d has and relays it.
func (ls *Sess) pump(d int) {
	n, errno := rawIO(syscall.SYS_READ, ls.fd[d], ls.owner.ReadBuf(d))
	if n > 0 {
		ls.owner.Read(d, n)
	}
	ls.readDone(d, n, errno)
}

// readDone acts on a read of direction d that brought n bytes, already counted in m.w, or
// failed with errno.
func (ls *Sess) readDone(d, n int, errno syscall.Errno) {
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
func (ls *Sess) endDir(d int, err error) {
	var errs [2]error
	errs[d] = err
	ls.loop.detach(ls, errs)
}

// process has the Owner walk the new frames of direction d, writes them, and hands the
// session back when the walk found something the loop does not do.
func (ls *Sess) process(d int) {
	out, handoff, err := ls.owner.Walk(d)
	ls.out[d] = out
	if !handoff && err == nil && ls.loop.ring != nil {
		// The common case: the write goes with the batch's others (runQueue).
		if len(out) > 0 && !ls.queued[d] {
			ls.queued[d] = true
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
	case handoff:
		ls.loop.cfg.Handoffs.Add(1)
		ls.loop.detach(ls, [2]error{})
	}
}

// flush writes direction d's walked bytes; false when the session was handed back.
func (ls *Sess) flush(d int) bool {
	for len(ls.out[d]) > 0 {
		n, errno := rawIO(syscall.SYS_WRITE, ls.fd[1-d], ls.out[d])
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
		ls.out[d] = ls.out[d][n:]
	}
	ls.written(d)
	return true
}

// written resumes reading direction d once its walked bytes are all written.
func (ls *Sess) written(d int) {
	if ls.mask[d]&evIn == 0 {
		ls.setMask(d, ls.mask[d]|evIn)
		ls.setMask(1-d, ls.mask[1-d]&^evOut)
	}
}

// writeFailed hands the session back after a failed write of direction d.
func (ls *Sess) writeFailed(d int, errno syscall.Errno) {
	ls.endDir(d, ls.loop.cfg.WriteErr(d, errno))
}

// results returns a slice of n results set to notRun.
func (l *Loop) results(n int) []int32 {
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
func (l *Loop) submit(res []int32) {
	var err error
	if h := l.cfg.Hooks; h != nil && h.Submit != nil {
		err = h.Submit()
	}
	if err == nil {
		err = l.ring.Submit(res)
	}
	if err != nil {
		// What the kernel did not take stays in the ring: the ring cannot be used again.
		l.cfg.Log.Error("relay thread: io_uring_enter failed, going on with one system call per read and write", "err", err)
		l.ringFailed = true
		return
	}
	l.cfg.RingBatches.Add(1)
}

// runQueue makes the reads (uring.Recv) or the writes (uring.Send) queued in q, through
// the ring uringEntries at a time, or as system calls of their own when q holds one (a
// request alone costs more than the call) or the ring has failed. Every result of a chunk is
// accounted before any is acted on: acting on one may hand its session back, and the
// hand-back must carry what the chunk's other requests moved for that session.
func (l *Loop) runQueue(q []loopIO, op uring.Op) {
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
		e.ls.queued[e.d] = false
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
	if op == uring.Send {
		e.ls.queued[e.d] = false
		if e.ls.gone || len(e.ls.out[e.d]) == 0 {
			return -1, nil
		}
		return e.ls.fd[1-e.d], e.ls.out[e.d]
	}
	if e.ls.gone {
		return -1, nil
	}
	return e.ls.fd[e.d], e.ls.owner.ReadBuf(e.d)
}

// account records the n bytes e's request moved.
func (e *loopIO) account(op uring.Op, n int) {
	if op == uring.Recv {
		e.ls.owner.Read(e.d, n)
	} else {
		e.ls.out[e.d] = e.ls.out[e.d][n:]
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

func (ls *Sess) setMask(side int, mask uint32) {
	if ls.mask[side] == mask || ls.gone {
		return
	}
	ls.mask[side] = mask
	if err := syscall.EpollCtl(ls.loop.epfd, syscall.EPOLL_CTL_MOD, ls.fd[side], &syscall.EpollEvent{Events: mask, Fd: ls.slot, Pad: int32(side)}); err != nil {
		ls.endDir(side, fmt.Errorf("relay thread: epoll_ctl: %w", err))
	}
}

// detach hands ls back to its session's goroutine relay.
func (l *Loop) detach(ls *Sess, errs [2]error) {
	if ls.gone {
		return
	}
	ls.gone = true
	l.slots[ls.slot] = nil
	l.freeLater = append(l.freeLater, ls.slot)
	var conns [2]net.Conn
	for side := range 2 {
		_ = syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_DEL, ls.fd[side], nil)
		c, err := fdConn(ls.fd[side])
		if err != nil {
			syscall.Close(ls.fd[side])
			if errs[side] == nil {
				errs[side] = err
			}
		}
		conns[side] = c
	}
	ls.owner.HandBack(conns, errs, ls.out) // the walk itself goes on in the Owner
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
