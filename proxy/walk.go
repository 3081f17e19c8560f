package proxy

import "encoding/binary"

// One protocol walker. Both relays, the goroutine relay (relay.go) and the relay thread
// (evloop_linux.go), walk the same frames with the same bookkeeping, which lives here once:
// frameWalk is where the walk of one direction stands (a frame passed through in part, the
// bytes the next one needs buffered, the batch's counts), and the session methods below keep
// the state the walk updates: the sync-point accounting and Terminate of the client's frames,
// the transaction status, ReadyForQuery count and FATAL detection of the upstream's, and the
// traffic counters. A session's two frameWalks (session.walk) belong to the relay thread while
// it carries the session and to the goroutine relay after the hand-back, which goes on where
// the thread left off. Nothing here allocates or calls through an interface.

// frameWalk is the walk over the frames of one direction, read into m.
type frameWalk struct {
	m    *msgReader
	skip int // rest of the current frame, passed through unwalked
	need int // bytes the frame at m.r needs buffered before it can be walked (0: any)

	// This batch's frames, counted when their header is read, and ReadyForQuery messages
	// (upstream); added to the session's counters once per batch (clientDone, serverDone).
	msgs, bytes uint64
	zs          int64
	wake        bool // an answer that a waitCopy may be waiting for (upstream)
}

// header reads and counts the header of the frame at m.r; ok is false when less than a
// header is buffered (need is then 5). It is msgReader.header, inlined but for its errors.
func (w *frameWalk) header(from string) (typ byte, total int, ok bool, err error) {
	m := w.m
	if m.w-m.r < 5 {
		w.need = 5
		return 0, 0, false, nil
	}
	n := int(binary.BigEndian.Uint32(m.buf[m.r+1:]))
	if n < 4 || n > m.max || n > maxMessageLen {
		return m.header(from)
	}
	w.msgs++
	w.bytes += uint64(1 + n)
	return m.buf[m.r], 1 + n, true, nil
}

// next passes over what is buffered of a frame being passed through, then reads the header
// of the frame at m.r as header does; ok is false when the buffer is used up.
func (w *frameWalk) next(from string) (typ byte, total int, ok bool, err error) {
	m := w.m
	if w.skip > 0 {
		k := min(w.skip, m.w-m.r)
		m.r += k
		w.skip -= k
		if w.skip > 0 {
			return 0, 0, false, nil
		}
	}
	if m.r == m.w {
		return 0, 0, false, nil
	}
	return w.header(from)
}

// whole reports whether the frame of total bytes at m.r is all buffered. When it is not, the
// walk stops before it: need is set, and the frame is uncounted until it is walked.
func (w *frameWalk) whole(total int) bool {
	if w.m.w-w.m.r >= total {
		return true
	}
	w.need = total
	w.uncount(total)
	return false
}

// uncount takes back the count of the frame of total bytes at m.r, which the walk leaves to
// be walked again (by the goroutine relay after a hand-back).
func (w *frameWalk) uncount(total int) {
	w.msgs--
	w.bytes -= uint64(total)
}

// advance passes over the frame of total bytes at m.r, as much of it as is buffered.
func (w *frameWalk) advance(total int) {
	m := w.m
	k := min(total, m.w-m.r)
	m.r += k
	w.skip = total - k
}

// body returns the body of the frame of total bytes at m.r, which must be whole.
func (w *frameWalk) body(total int) []byte { return w.m.buf[w.m.r+5 : w.m.r+total] }

// account keeps the bookkeeping of a client message sent upstream: the sync-point counts,
// and Terminate, for which it is true (the relay ends; the session knows that the client
// left before the Terminate reaches the upstream, whose EOF is then no loss: upstreamEnded).
func (s *session) account(typ byte) (terminate bool) {
	switch typ {
	case 'Q', 'F':
		if s.unitOpen {
			s.uncertain = true
		}
		s.unitOpen = false
		s.syncsSinceExec = 0
		s.execAt = s.copyMark()
		s.zSent++
		s.pending.Add(1)
	case 'S':
		s.unitOpen = false
		s.syncsSinceExec++
		s.zSent++
		s.pending.Add(1)
	case 'P', 'B', 'D', 'C':
		s.unitOpen = true
	case 'E':
		s.unitOpen = true
		s.syncsSinceExec = 0
		s.execAt = s.copyMark()
	case 'c', 'f':
		s.copyEnded()
	case 'X':
		s.clientEnd.Store(true)
		return true
	}
	return false
}

// clientDone adds the batch's client frames to the session's traffic.
func (s *session) clientDone(w *frameWalk) {
	s.traffic.cMsgs.Add(w.msgs)
	s.traffic.cBytes.Add(w.bytes)
	w.msgs, w.bytes = 0, 0
}

// readyForQuery keeps the bookkeeping of a ReadyForQuery at m.r that goes to the client: the
// transaction status, the count of ReadyForQuery messages, and the end of the error state. It
// is false, and does nothing, while the frame is not all buffered (whole).
func (s *session) readyForQuery(w *frameWalk, total int) bool {
	if !w.whole(total) {
		return false
	}
	s.tx.Store(uint32(w.m.buf[w.m.r+5]))
	s.zRecv++
	w.zs++
	s.errSinceZ = false
	return true
}

// errorResponse keeps the bookkeeping of an ErrorResponse at m.r that goes to the client: the
// server now skips to the next Sync, and a FATAL or PANIC (when the frame is all buffered,
// as it is but for the largest) means that the upstream ends the session.
func (s *session) errorResponse(w *frameWalk, total int) {
	s.errSinceZ = true
	s.copyEvent(w, false)
	if w.m.w-w.m.r >= total && isFatal(w.body(total)) {
		s.upFatal.Store(true)
	}
}

// serverDone adds the batch's upstream frames to the session's traffic and takes its
// ReadyForQuery messages off the pending count; it returns how many there were.
func (s *session) serverDone(w *frameWalk) int64 {
	s.traffic.sMsgs.Add(w.msgs)
	s.traffic.sBytes.Add(w.bytes)
	zs := w.zs
	if zs > 0 {
		s.pending.Add(-zs)
	}
	w.msgs, w.bytes, w.zs = 0, 0, 0
	return zs
}

// isFatal reports whether an ErrorResponse body has severity FATAL or PANIC.
// The non-localized severity (V) decides; the localized one (S) is used when V is missing.
func isFatal(body []byte) bool {
	var sev []byte
	for len(body) > 1 && body[0] != 0 {
		f := body[0]
		v, rest, ok := cstring(body[1:])
		if !ok {
			break
		}
		if f == 'V' {
			sev = v
			break
		}
		if f == 'S' {
			sev = v
		}
		body = rest
	}
	return string(sev) == "FATAL" || string(sev) == "PANIC"
}
