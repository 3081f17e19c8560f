package proxy

import (
	"context"
	"sync"
	"sync/atomic"
)

// Syncs during COPY FROM STDIN. The server ignores a Sync that arrives while it is in copy-in
// mode (libpq sends one right after an extended-protocol COPY's Execute), so when the client
// ends a COPY (CopyDone, CopyFail) the Syncs it sent since the COPY statement are taken off the
// sync-point count (copyEnded). That holds only if the COPY entered copy-in mode and completed
// there. One that failed (a missing table, an aborted transaction, a bad row, an error earlier
// in its batch) left the server answering those Syncs, and the count is then short: it could
// read zero while answers are still on their way, and pgask would answer an ASK ahead of them.
//
// Which it was shows in the server's answers. The server→client walk logs, in the order they
// come, each COPY that completed in copy-in mode and each error, with the unit they came in
// (the number of ReadyForQuery messages before them). The client→server side knows the unit
// of each COPY statement it sent (the count of ReadyForQuery messages expected before it). At
// a point where pgask needs the count (waitSync, barrier, an ASK), waitCopy waits until the
// log shows the fate of every such COPY, and settleCopy decides: all completed first in
// their units, or else the session is marked uncertain, and ASK is no longer intercepted on
// it. Real drivers do not send Syncs into a COPY that failed; the rule keeps a client that
// does from getting answers out of order.

// copyLogSize is how many events the log keeps; a COPY whose events were pushed out by
// later ones before it was settled counts as failed.
const copyLogSize = 64

// copyLog is written by the server→client walk and read by the client→server side.
type copyLog struct {
	mu sync.Mutex
	ev [copyLogSize]copyEv
	n  atomic.Uint64 // events logged, ever
}

type copyEv struct {
	unit  int64 // ReadyForQuery messages received before it
	clean bool  // a COPY completed in copy-in mode (else an error)
}

func (l *copyLog) add(e copyEv) {
	l.mu.Lock()
	n := l.n.Load()
	l.ev[n%copyLogSize] = e
	l.n.Store(n + 1)
	l.mu.Unlock()
}

// copyAt is where a COPY statement was sent: its unit, and the log's length then (its events
// come later).
type copyAt struct {
	unit int64
	logN uint64
}

func (s *session) copyMark() copyAt { return copyAt{unit: s.zSent, logN: s.copies.n.Load()} }

// copyRisk is the COPYs whose Syncs were taken off the count and are not yet settled.
type copyRisk struct {
	from  uint64  // the log's length when the first of them was sent
	units []int64 // the unit of each
}

// copyEnded keeps the bookkeeping of a CopyDone or CopyFail.
func (s *session) copyEnded() {
	n := s.syncsSinceExec
	s.syncsSinceExec = 0
	if n == 0 && len(s.copyRisk.units) == 0 {
		return
	}
	if n > 0 {
		s.zSent -= n
		s.pending.Add(-n)
	}
	if len(s.copyRisk.units) == 0 {
		s.copyRisk.from = s.execAt.logN
	}
	s.copyRisk.units = append(s.copyRisk.units, s.execAt.unit)
}

// syncAnswered records that the Sync just accounted is answered for certain, whatever
// follows: the one that ends pgask's discarding after a failed ASK Parse, which dropped the
// client's messages before it (a COPY among them), so a CopyDone that follows must not take
// it off the count.
func (s *session) syncAnswered() {
	s.syncsSinceExec = 0
	if s.g != nil {
		s.g.syncs = s.g.syncs[:0]
	}
}

// copyVerdict reads the log for the COPYs at risk: known once each one's unit shows its first
// event, or the log lost events it needed; clean when each first event is a completed COPY.
func (s *session) copyVerdict() (known, clean bool) {
	r := &s.copyRisk
	l := &s.copies
	l.mu.Lock()
	defer l.mu.Unlock()
	n := l.n.Load()
	if n-r.from > copyLogSize {
		return true, false
	}
	clean = true
	for i, u := range r.units {
		// The i-th COPY of its unit needs as many completed COPYs first in that unit.
		need := 1
		for _, v := range r.units[:i] {
			if v == u {
				need++
			}
		}
		got, decided := 0, false
		for k := r.from; k < n && !decided; k++ {
			e := l.ev[k%copyLogSize]
			if e.unit != u {
				continue
			}
			if !e.clean {
				clean, decided = false, true
			} else if got++; got == need {
				decided = true
			}
		}
		if !decided {
			return false, false
		}
	}
	return true, clean
}

// copyKnown reports whether the fate of the COPYs at risk is known; a count below zero (more
// ReadyForQuery messages than counted) tells that some Sync was answered.
func (s *session) copyKnown() bool {
	if s.pending.Load() < 0 {
		return true
	}
	known, _ := s.copyVerdict()
	return known
}

// settleCopy decides, once copyKnown, whether the Syncs taken off the count were ignored by
// the server; when not, the count is wrong and cannot be put right, and the session is
// marked uncertain.
func (s *session) settleCopy() {
	if len(s.copyRisk.units) == 0 {
		return
	}
	if _, clean := s.copyVerdict(); !clean || s.pending.Load() < 0 {
		s.uncertain = true
	}
	s.copyRisk = copyRisk{units: s.copyRisk.units[:0]}
}

// waitCopy waits until the fate of the COPYs at risk is known and settles it. The answers it
// needs come without more from the client: each COPY at risk has had its CopyDone or
// CopyFail sent, and a statement taken for a COPY that was none leaves its Sync answered,
// which puts the count below zero.
func (s *session) waitCopy(ctx context.Context) error {
	if len(s.copyRisk.units) == 0 {
		return nil
	}
	if !s.copyKnown() {
		// The server may hold a COPY's CommandComplete until a Sync or Flush.
		if err := s.writeUp(flushMsg); err != nil {
			return err
		}
	}
	if err := s.waitUntil(ctx, s.copyKnown); err != nil {
		return err
	}
	s.settleCopy()
	return nil
}

// copyIn, commandComplete and copyEvent keep the server→client side's part: a CopyInResponse,
// a CommandComplete and an ErrorResponse that go to the client.
func (s *session) copyIn() { s.inCopy = true }

func (s *session) commandComplete(w *frameWalk) {
	if s.inCopy {
		s.copyEvent(w, true)
	}
}

func (s *session) copyEvent(w *frameWalk, clean bool) {
	s.inCopy = false
	s.copies.add(copyEv{unit: s.zRecv, clean: clean})
	w.wake = true
}
