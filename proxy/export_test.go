package proxy

import "fmt"

// relayState is the bookkeeping of a session that both relays keep, as the differential
// test compares it.
type relayState struct {
	Tx                        byte
	Pending, ZSent, SyncsExec int64
	UnitOpen, Uncertain       bool
	CopyRisk                  int
}

// onlySession returns the Server's one open session.
func (srv *Server) onlySession() (*session, error) {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if len(srv.sessions) != 1 {
		return nil, fmt.Errorf("%d open sessions, want 1", len(srv.sessions))
	}
	for s := range srv.sessions {
		return s, nil
	}
	return nil, nil
}

// state reads s's bookkeeping. pending is loaded first: its atomic orders the reads of the
// relay-owned fields after their last writes.
func (s *session) state() relayState {
	p := s.pending.Load()
	return relayState{
		Tx: byte(s.tx.Load()), Pending: p, ZSent: s.zSent, SyncsExec: s.syncsSinceExec,
		UnitOpen: s.unitOpen, Uncertain: s.uncertain, CopyRisk: len(s.copyRisk.units),
	}
}
