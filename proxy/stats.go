package proxy

import "sync/atomic"

// Stats are a Server's counters since New, for metrics. Counters only grow; Open is a gauge.
type Stats struct {
	Open     int    // client sessions open now
	Accepted uint64 // client connections accepted (cancel requests included)

	// Sessions refused before their first ReadyForQuery, by reason.
	RejectedMaxConnections uint64 // over Options.MaxConnections (53300)
	RejectedStartup        uint64 // bad startup packet, TLS failure, startup timeout, client gone
	RejectedUpstream       uint64 // the upstream could not be reached (08006)
	RejectedAuth           uint64 // the upstream refused the session (authentication, unknown database…)

	UpstreamConnectErrors uint64 // failed upstream dials and TLS handshakes, cancel requests included

	// Relayed traffic: messages and bytes read from clients and from the upstream.
	ClientMessages, ClientBytes uint64
	ServerMessages, ServerBytes uint64

	// Sessions relayed by the relay threads (Options.RelayThreads), and those of them handed
	// to the goroutine relay before their end, for a statement that may be an ASK.
	RelayThreadSessions, RelayThreadHandoffs uint64
	// io_uring_enter calls of the relay threads, each for a batch of reads or of writes
	// (0 where io_uring is unavailable or Options.RelayNoIOURing is set).
	RelayThreadRingBatches uint64

	// Sessions ended by pgask after startup, by reason.
	IdleTimeouts   uint64 // Options.IdleTimeout (57P05)
	TooLarge       uint64 // a client message over Options.MaxMessageSize (54000)
	ProtocolErrors uint64 // malformed framing from the client or the upstream (08P01)
	UpstreamLost   uint64 // the upstream connection ended without a FATAL of its own (08006)
}

// serverCounters are the Server's atomics behind Stats.
type serverCounters struct {
	accepted, rejMax, rejStartup, rejUpstream, rejAuth, connectErrs atomic.Uint64
	idle, tooLarge, protocol, upLost                                atomic.Uint64
	loopSessions, loopHandoffs, ringBatches                         atomic.Uint64
	// traffic of sessions that have ended (live sessions are summed by Stats)
	cMsgs, cBytes, sMsgs, sBytes atomic.Uint64
}

// relayCounters are one session's traffic, added once per relayed batch. Stats reads them
// while the session runs.
type relayCounters struct {
	cMsgs, cBytes, sMsgs, sBytes atomic.Uint64
}

// Stats returns the counters so far.
func (s *Server) Stats() Stats {
	c := &s.counters
	st := Stats{
		Accepted:               c.accepted.Load(),
		RejectedMaxConnections: c.rejMax.Load(),
		RejectedStartup:        c.rejStartup.Load(),
		RejectedUpstream:       c.rejUpstream.Load(),
		RejectedAuth:           c.rejAuth.Load(),
		UpstreamConnectErrors:  c.connectErrs.Load(),
		IdleTimeouts:           c.idle.Load(),
		TooLarge:               c.tooLarge.Load(),
		ProtocolErrors:         c.protocol.Load(),
		UpstreamLost:           c.upLost.Load(),
		RelayThreadSessions:    c.loopSessions.Load(),
		RelayThreadHandoffs:    c.loopHandoffs.Load(),
		RelayThreadRingBatches: c.ringBatches.Load(),
	}
	s.mu.Lock()
	st.Open = len(s.sessions)
	st.ClientMessages, st.ClientBytes = c.cMsgs.Load(), c.cBytes.Load()
	st.ServerMessages, st.ServerBytes = c.sMsgs.Load(), c.sBytes.Load()
	for sess := range s.sessions {
		st.ClientMessages += sess.traffic.cMsgs.Load()
		st.ClientBytes += sess.traffic.cBytes.Load()
		st.ServerMessages += sess.traffic.sMsgs.Load()
		st.ServerBytes += sess.traffic.sBytes.Load()
	}
	s.mu.Unlock()
	return st
}

// retireTraffic moves an ending session's traffic into the server's totals; the caller holds
// s.mu so that Stats counts it exactly once.
func (s *Server) retireTraffic(sess *session) {
	c := &s.counters
	c.cMsgs.Add(sess.traffic.cMsgs.Load())
	c.cBytes.Add(sess.traffic.cBytes.Load())
	c.sMsgs.Add(sess.traffic.sMsgs.Load())
	c.sBytes.Add(sess.traffic.sBytes.Load())
}
