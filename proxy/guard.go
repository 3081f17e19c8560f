package proxy

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
)

// The read-only guard of statements an Interceptor translated (extended protocol).
//
// A translated statement runs at messages of the client's own batch: the planner runs at
// Bind (and may run functions while it folds constants and estimates), the executor at each
// Execute of the portal. So the first Bind of a translated statement opens a read-only
// scope at its place in the batch, with pgask's own statements sent there (reserved names,
// their replies consumed, Flush instead of Sync):
//
//   - in the client's transaction block ('T'): SAVEPOINT pgask_ro, then set_config of
//     transaction_read_only (and statement_timeout) local to it; the scope ends with
//     ROLLBACK TO SAVEPOINT pgask_ro and RELEASE SAVEPOINT pgask_ro, which restore both;
//   - in an implicit transaction (autocommit, 'I'): BEGIN READ ONLY, which turns the
//     implicit transaction into pgask's own block; the scope ends with ROLLBACK.
//
// The scope holds the Bind and the client's later messages about translated statements and
// the scope's portals (Describe, Execute, also in parts, Close) and messages that run
// nothing (Parse, Describe, Close, Flush). It ends as soon as its portals have run to
// completion (or failed), and before any other message (a Bind or Execute of anything else,
// Query, FunctionCall) goes upstream; an implicit transaction's scope also ends at Sync. A
// block's scope outlasts a Sync only while a portal is suspended (fetched in parts), until
// the client's next other message. Nothing the translated SQL did survives the scope:
// PostgreSQL refuses its writes, and the rollback undoes what a read-only transaction still
// allows (temporary tables, large objects, settings changed by functions).
//
// pgask's own statements need the upstream's state at that place of the batch, which it
// learns by waiting until every earlier message of the client is answered (barrier) and
// counting those answers (the server→client relay counts the replies that end each
// message's answer, notes ErrorResponse and the CommandComplete tags that change the
// transaction state). Where the state cannot be known for sure, or where pgask's own block
// would change what the client's other statements of the batch see, the Bind is refused
// with an error in its place, and the server skips the rest of the batch as after any
// error (scopeMode). A failure inside pgask's own block leaves PostgreSQL's block failed;
// at the client's Sync pgask rolls it back, as the implicit transaction would have been
// (fixSync).
//
// Which statements are translated is known exactly: a name becomes one when the server
// accepted the Parse that pgask rewrote, and stops being one when the server processed a
// Close of it, another Parse under that name, or (unnamed) a Query. Sessions without
// translated statements never reach this code.

// StatementTimeouter is implemented by an Interceptor whose translated statements run with a
// statement timeout (SET LOCAL statement_timeout inside the read-only scope); 0 keeps the
// session's own.
type StatementTimeouter interface {
	StatementTimeout() time.Duration
}

// roSavepoint is the savepoint of a read-only scope inside the client's transaction block.
const roSavepoint = "pgask_ro"

// guard is a session's read-only guard state, owned by the client→server goroutine.
type guard struct {
	stmts    map[string]bool // the client's statement names that hold translated SQL
	scope    *roScope        // the open read-only scope, nil when none
	dead     map[string]bool // the client's portals that the end of a scope dropped
	timeout  time.Duration
	seq      uint64   // for pgask's own statement names
	leftover []string // pgask's own statements and portals a failed step may have left

	// The client's batch since the last Sync.
	sent     int64 // messages forwarded that each get one answer (Parse, Bind, Describe, Close, Execute)
	bound    bool  // a Bind or Execute of the client's own statements was forwarded
	executed bool  // an Execute of the client's own statements was forwarded
	fixSync  bool  // pgask's own block failed: the Sync must roll it back
	// The batch state at each Sync since the last Execute or Query: the server ignores Syncs
	// sent during COPY FROM STDIN, so those batches go on (restored at CopyDone/CopyFail).
	syncs []batchState
}

type batchState struct {
	sent            int64
	bound, executed bool
}

// roScope is an open read-only scope.
type roScope struct {
	mode byte // 'T': a savepoint in the client's block; 'I': pgask's own block
	// The client's portals bound in the scope; true while one has not run to completion.
	portals map[string]bool
}

// Tags of CommandComplete that change the transaction state, noted per batch.
const (
	tagBegin uint32 = 1 << iota // BEGIN, START TRANSACTION
	tagEnd                      // COMMIT, ROLLBACK (also TO SAVEPOINT, AND CHAIN), PREPARE TRANSACTION
)

func txnTag(tag []byte) uint32 {
	switch string(tag) {
	case "BEGIN", "START TRANSACTION":
		return tagBegin
	case "COMMIT", "ROLLBACK", "PREPARE TRANSACTION":
		return tagEnd
	}
	return 0
}

// answerEnd reports whether a backend message ends the answer to one extended-protocol
// message: ParseComplete, BindComplete, CloseComplete, NoData, RowDescription (Describe),
// CommandComplete, PortalSuspended, EmptyQueryResponse (Execute). ErrorResponse ends the
// batch instead.
func answerEnd(typ byte) bool {
	switch typ {
	case '1', '2', '3', 'n', 'T', 'C', 's', 'I':
		return true
	}
	return false
}

// guardedType reports whether the client→server relay hands a message of a guarded session
// to guardFrame.
func guardedType(typ byte) bool {
	switch typ {
	case 'P', 'B', 'D', 'C', 'E', 'S', 'Q', 'F', 'c', 'f':
		return true
	}
	return false
}

// note updates the batch state for one client message forwarded upstream.
func (g *guard) note(typ byte) {
	switch typ {
	case 'P', 'B', 'D', 'C':
		g.sent++
	case 'E':
		g.sent++
		g.syncs = g.syncs[:0]
	case 'Q', 'F':
		g.syncs = g.syncs[:0]
	case 'S':
		g.syncs = append(g.syncs, batchState{g.sent, g.bound, g.executed})
		g.sent, g.bound, g.executed = 0, false, false
	case 'c', 'f':
		for _, b := range g.syncs {
			g.sent += b.sent
			g.bound = g.bound || b.bound
			g.executed = g.executed || b.executed
		}
		g.syncs = g.syncs[:0]
	}
}

// forward sends one client message upstream with the bookkeeping of both relays.
func (s *session) forward(typ byte, frame []byte) error {
	if g := s.g; g != nil {
		if typ == 'Q' && !s.unitOpen {
			delete(g.stmts, "") // a Query drops the unnamed statement
		}
		g.note(typ)
	}
	s.account(typ)
	return s.writeUp(frame)
}

// startGuard starts counting answers for a session about to get its first translated
// statement. Only at a sync point, where nothing is in flight in either direction.
func (s *session) startGuard(ctx context.Context) error {
	if s.g != nil {
		return nil
	}
	if err := s.waitSync(ctx); err != nil {
		return &pgconn.PgError{Code: "0A000", Message: "pgask: the first ASK of a session in the extended protocol must begin its batch",
			Hint: "Send Sync before the Parse of the ASK."}
	}
	g := &guard{stmts: map[string]bool{}, dead: map[string]bool{}}
	if t, ok := s.srv.opts.Interceptor.(StatementTimeouter); ok {
		g.timeout = t.StatementTimeout()
	}
	s.g = g
	s.gTrack.Store(true)
	return nil
}

// guardFrame relays one client message of a session with translated statements (see the
// comment at the top). inject is the ErrorResponse owed to the client at a Sync after a
// failed ASK Parse. It returns such an error for the messages up to the next Sync to be
// discarded, as intercept does.
func (s *session) guardFrame(ic Interceptor, typ byte, frame, inject []byte) ([]byte, error) {
	g := s.g
	if !s.uncertain {
		// Syncs sent during a COPY: settled first, so that what follows sees the session
		// uncertain when they were answered (the outcome comes without more from the client).
		if err := s.waitCopy(s.ctx); err != nil {
			return nil, err
		}
	}
	if !s.unitOpen && len(g.dead) > 0 && s.tx.Load() == 'I' {
		clear(g.dead) // outside a block every portal is gone anyway
	}
	body := frame[5:]
	switch typ {
	case 'P':
		if ic != nil && MayBeAsk(queryText('P', body)) {
			if err := s.endScope(); err != nil {
				return nil, err
			}
			return s.intercept(ic, typ, frame)
		}
		name, _, _ := cstring(body)
		return nil, s.forwardParse(string(name), frame)
	case 'B':
		portal, rest, _ := cstring(body)
		stmt, _, _ := cstring(rest)
		return s.guardBind(string(portal), string(stmt), frame)
	case 'E':
		portal, _, _ := cstring(body)
		return nil, s.guardExecute(string(portal), frame)
	case 'C':
		return nil, s.guardClose(body, frame)
	case 'S':
		return nil, s.guardSync(inject)
	case 'Q':
		if err := s.endScope(); err != nil {
			return nil, err
		}
		if ic != nil && MayBeAsk(queryText('Q', body)) {
			return s.intercept(ic, typ, frame)
		}
	case 'F':
		if err := s.endScope(); err != nil {
			return nil, err
		}
	}
	return nil, s.forward(typ, frame)
}

// forwardParse forwards a Parse that is not an ASK. When it replaces a translated
// statement, the name stops being one once the server has processed it.
func (s *session) forwardParse(name string, frame []byte) error {
	g := s.g
	if g == nil || !g.stmts[name] {
		return s.forward('P', frame)
	}
	if err := s.forward('P', frame); err != nil {
		return err
	}
	if s.uncertain {
		return nil // kept: its Binds are refused anyway
	}
	if err := s.barrier(s.ctx); err != nil {
		return err
	}
	// Processed, it replaced the statement (an unnamed Parse drops the old one even when it
	// fails); after an error it may have been skipped, or refused as a duplicate name.
	if !s.gErr.Load() {
		delete(g.stmts, name)
	}
	return nil
}

// parsedASK records a translated statement once the server has accepted its Parse.
func (s *session) parsedASK(name string) error {
	if err := s.barrier(s.ctx); err != nil {
		return err
	}
	if !s.gErr.Load() {
		s.g.stmts[name] = true
	}
	return nil
}

func (s *session) guardBind(portal, stmt string, frame []byte) ([]byte, error) {
	g := s.g
	if !g.stmts[stmt] {
		if err := s.endScope(); err != nil {
			return nil, err
		}
		delete(g.dead, portal)
		g.bound = true
		return nil, s.forward('B', frame)
	}
	delete(g.dead, portal)
	if n := bindParams(frame); n > 0 && !s.uncertain {
		// The translated SQL has no parameters: a driver bound values it found in the
		// question (node-postgres with values, say). The server would answer with a protocol
		// violation (08P01) that names neither ASK nor the cure.
		if err := s.endScope(); err != nil {
			return nil, err
		}
		if err := s.barrier(s.ctx); err != nil {
			return nil, err
		}
		return nil, s.refuse(&pgconn.PgError{Severity: "ERROR", Code: "42P02",
			Message: fmt.Sprintf("pgask: an ASK takes no parameters, and its Bind carries %d", n),
			Hint:    "Write the values into the question and send it without parameters, quoted: ASK $$…$$, or ASK '…' with each ' doubled."})
	}
	if g.scope == nil {
		if s.uncertain {
			// pgask cannot place its own statements: refused, the batch discarded to Sync.
			s.unitOpen = true
			return appendPgError(nil, refusal("the session's protocol state is unknown (a Query was sent inside an extended-protocol batch)",
				"Send Sync before the Query.")), nil
		}
		if err := s.openScope(); err != nil {
			return nil, err
		}
	}
	if g.scope != nil {
		g.scope.portals[portal] = true
	}
	// Without a scope the batch has failed: the server skips this Bind (or, in a failed
	// block, refuses it with 25P02).
	return nil, s.forward('B', frame)
}

func (s *session) guardExecute(portal string, frame []byte) error {
	g := s.g
	if sc := g.scope; sc != nil {
		if _, ok := sc.portals[portal]; ok {
			if err := s.forward('E', frame); err != nil {
				return err
			}
			return s.afterExecute(sc, portal)
		}
	}
	if err := s.endScope(); err != nil {
		return err
	}
	if g.dead[portal] && !s.uncertain {
		if err := s.barrier(s.ctx); err != nil {
			return err
		}
		return s.refuse(refusal(fmt.Sprintf("the portal %q of an ASK was closed when another statement ran", portal),
			"Fetch all of an ASK's rows before running other statements, or bind it again."))
	}
	g.bound, g.executed = true, true
	return s.forward('E', frame)
}

// afterExecute waits for the answer to an Execute in the scope sc and ends the scope once
// none of its portals is left to run: each run of translated SQL is undone before anything
// else of the client's runs. A portal suspended after a row limit keeps the scope open for
// its next Execute.
func (s *session) afterExecute(sc *roScope, portal string) error {
	if err := s.barrier(s.ctx); err != nil {
		return err
	}
	if !s.gErr.Load() {
		if byte(s.gLast.Load()) == 's' {
			return nil
		}
		sc.portals[portal] = false
		for _, open := range sc.portals {
			if open {
				return nil
			}
		}
	}
	return s.endScope()
}

func (s *session) guardClose(body, frame []byte) error {
	g := s.g
	if len(body) < 2 {
		return s.forward('C', frame)
	}
	name, _, _ := cstring(body[1:])
	if body[0] == 'P' {
		delete(g.dead, string(name))
		if g.scope != nil {
			delete(g.scope.portals, string(name))
		}
		return s.forward('C', frame)
	}
	if !g.stmts[string(name)] {
		return s.forward('C', frame)
	}
	if err := s.forward('C', frame); err != nil {
		return err
	}
	if s.uncertain {
		return nil
	}
	if err := s.barrier(s.ctx); err != nil {
		return err
	}
	if !s.gErr.Load() { // processed (a Close cannot fail), not skipped
		delete(g.stmts, string(name))
	}
	return nil
}

// guardSync ends an implicit transaction's scope and forwards the client's Sync (with the
// error owed to the client, inject, shown before its ReadyForQuery).
func (s *session) guardSync(inject []byte) error {
	g := s.g
	if g.scope != nil && g.scope.mode == 'I' {
		if err := s.endScope(); err != nil {
			return err
		}
	}
	g.note('S')
	if g.fixSync {
		g.fixSync = false
		return s.fixSync()
	}
	s.account('S')
	if inject != nil {
		s.addInjection(s.zSent, inject)
	}
	return s.writeUp(syncMsg)
}

var (
	syncMsg  = []byte{'S', 0, 0, 0, 4}
	flushMsg = []byte{'H', 0, 0, 0, 4}
)

// refusal is the error of an ASK that pgask will not run where the client put it.
func refusal(why, hint string) *pgconn.PgError {
	return &pgconn.PgError{Severity: "ERROR", Code: "0A000", Message: "pgask: cannot run an ASK read-only here: " + why, Hint: hint}
}

// scopeMode says, after a barrier, in which state the upstream is at this place of the batch:
// 'T' (a transaction block), 'I' (an implicit transaction holding nothing of the client's)
// or 'E' (a failed block), or why no read-only scope can be opened here.
func (s *session) scopeMode() (byte, *pgconn.PgError) {
	g := s.g
	tx := byte(s.tx.Load()) // at the start of the batch: every earlier batch is answered
	if g.executed {
		tags := s.gTags.Load()
		switch {
		case tags&tagEnd != 0:
			return 0, refusal("a COMMIT or ROLLBACK earlier in the same pipeline leaves the transaction state unknown",
				"Send Sync after the COMMIT or ROLLBACK, before the ASK.")
		case tx == 'I' && tags&tagBegin != 0:
			tx = 'T'
		}
	}
	if tx == 'I' && g.bound {
		return 0, refusal("in autocommit an ASK must come before the other statements of its pipeline (its read-only transaction would end theirs)",
			"Send Sync before the ASK, or run it inside a transaction block (BEGIN … COMMIT).")
	}
	return tx, nil
}

// openScope opens a read-only scope at this place of the batch, or refuses the Bind (the
// server then skips the batch), or finds the batch failed already.
func (s *session) openScope() error {
	g := s.g
	if err := s.barrier(s.ctx); err != nil {
		return err
	}
	if s.gErr.Load() {
		return nil // an earlier message failed: the server skips everything to Sync
	}
	mode, why := s.scopeMode()
	if why != nil {
		return s.refuse(why)
	}
	var steps []string
	switch mode {
	case 'E':
		return nil // a failed block: the server refuses the Bind (25P02)
	case 'T':
		steps = []string{"SAVEPOINT " + roSavepoint, g.readOnlySQL()}
	default:
		steps = []string{"BEGIN READ ONLY"}
		if g.timeout > 0 {
			steps = append(steps, g.readOnlySQL())
		}
	}
	done, failed, err := s.ownStatements(steps...)
	if err != nil {
		return fmt.Errorf("open read-only scope: %w", err)
	}
	if failed != nil {
		if mode == 'I' && done > 0 {
			g.fixSync = true // BEGIN ran: pgask's block is the one that failed
		}
		return s.writeClient(failed)
	}
	g.scope = &roScope{mode: mode, portals: map[string]bool{}}
	return nil
}

// readOnlySQL sets transaction_read_only and the statement timeout, local to the scope.
func (g *guard) readOnlySQL() string {
	sql := "SELECT pg_catalog.set_config('transaction_read_only', 'on', true)"
	if g.timeout > 0 {
		sql += fmt.Sprintf(", pg_catalog.set_config('statement_timeout', '%d', true)", g.timeout.Milliseconds())
	}
	return sql
}

// endScope ends the open read-only scope, if any, before a message that must not run in it.
func (s *session) endScope() error {
	g := s.g
	sc := g.scope
	if sc == nil {
		return nil
	}
	g.scope = nil
	for p := range sc.portals {
		g.dead[p] = true
	}
	if err := s.barrier(s.ctx); err != nil {
		return fmt.Errorf("end read-only scope: %w", err)
	}
	// After an error the server skips to Sync (and a block stays failed after it): nothing
	// more runs in the scope. The client's ROLLBACK (TO SAVEPOINT) of its block drops the
	// savepoint with it; pgask's own failed block is rolled back at the Sync.
	failed := s.gErr.Load()
	if !s.unitOpen && byte(s.tx.Load()) != 'T' {
		failed = true // a block's scope seen from the next batch: the block failed
	}
	if failed {
		g.fixSync = g.fixSync || sc.mode == 'I'
		return nil
	}
	steps := []string{"ROLLBACK TO SAVEPOINT " + roSavepoint, "RELEASE SAVEPOINT " + roSavepoint}
	if sc.mode == 'I' {
		steps = []string{"ROLLBACK"}
	}
	_, bad, err := s.ownStatements(steps...)
	if err != nil {
		return fmt.Errorf("end read-only scope: %w", err)
	}
	if bad != nil {
		g.fixSync = g.fixSync || sc.mode == 'I'
		return s.writeClient(bad)
	}
	return nil
}

// fixSync answers the client's Sync of a batch that failed inside pgask's own block, which
// the server still holds, failed: pgask sends the Sync itself, rolls its block back and
// answers ReadyForQuery with the state the implicit transaction would have left ('I'). The
// client has had its ErrorResponse already (an error owed to it for a failed ASK Parse of
// the same batch is not sent twice, as in serverToClient).
func (s *session) fixSync() error {
	if _, err := s.ownUntilReady(syncMsg); err != nil {
		return fmt.Errorf("end failed read-only transaction: %w", err)
	}
	s.unitOpen = false
	s.resetBatchCounts()
	var buf []byte
	buf = s.ownStatementMsgs(buf, "ROLLBACK", false)
	buf = append(buf, syncMsg...)
	if _, err := s.ownUntilReady(buf); err != nil {
		return fmt.Errorf("end failed read-only transaction: %w", err)
	}
	s.resetBatchCounts()
	return s.writeClient(appendReadyForQuery(nil, byte(s.tx.Load())))
}

// resetBatchCounts clears the server→client counts; only while nothing is in flight.
func (s *session) resetBatchCounts() {
	s.gGot.Store(0)
	s.gErr.Store(false)
	s.gTags.Store(0)
}

// barrier returns once every client message forwarded so far is answered, or the batch has
// failed (the server then answers nothing more before the Sync).
func (s *session) barrier(ctx context.Context) error {
	if s.uncertain {
		return ErrNotAtSyncPoint
	}
	g := s.g
	ready := func() bool {
		return s.pending.Load() <= 0 && (s.gGot.Load() >= g.sent || s.gErr.Load())
	}
	if ready() && len(s.copyRisk.units) == 0 {
		return nil
	}
	// The server may hold its answers until Sync or Flush (also after a COPY FROM STDIN
	// whose early Sync it ignored).
	if err := s.writeUp(flushMsg); err != nil {
		return err
	}
	// Syncs sent during a COPY were taken off both counts (account, note): settle that
	// first, or the batch count may wait for answers that never come.
	if err := s.waitCopy(ctx); err != nil {
		return err
	}
	if s.uncertain {
		return ErrNotAtSyncPoint
	}
	return s.waitUntil(ctx, ready)
}

// ownStatementMsgs appends the messages that run sql as a pgask statement: Parse, Bind,
// Close of the statement (the portal keeps it), Execute and, unless last, Close of the
// portal. Five answers, four without the portal's Close.
func (s *session) ownStatementMsgs(buf []byte, sql string, closePortal bool) []byte {
	g := s.g
	g.seq++
	name := fmt.Sprintf("pgask_g%d", g.seq)
	buf, _ = (&pgproto3.Parse{Name: name, Query: sql}).Encode(buf)
	buf, _ = (&pgproto3.Bind{DestinationPortal: name, PreparedStatement: name}).Encode(buf)
	buf, _ = (&pgproto3.Close{ObjectType: 'S', Name: name}).Encode(buf)
	buf, _ = (&pgproto3.Execute{Portal: name}).Encode(buf)
	if closePortal {
		buf, _ = (&pgproto3.Close{ObjectType: 'P', Name: name}).Encode(buf)
	}
	return buf
}

// ownStatements runs pgask's own statements at this place of the client's batch (after a
// barrier, the batch not failed) and consumes their answers. It returns how many completed
// and, when one failed, its ErrorResponse (the server then skips to Sync).
func (s *session) ownStatements(sqls ...string) (done int, failed []byte, err error) {
	g := s.g
	var buf []byte
	terms := 0
	for _, name := range g.leftover {
		buf, _ = (&pgproto3.Close{ObjectType: 'S', Name: name}).Encode(buf)
		buf, _ = (&pgproto3.Close{ObjectType: 'P', Name: name}).Encode(buf)
		terms += 2
	}
	g.leftover = g.leftover[:0]
	first := g.seq + 1
	for _, sql := range sqls {
		buf = s.ownStatementMsgs(buf, sql, true)
		terms += 5
	}
	buf = append(buf, flushMsg...)
	out, err := s.ownRoute(buf, terms)
	if err != nil {
		return 0, nil, err
	}
	for len(out) >= 5 {
		n := 1 + int(binary.BigEndian.Uint32(out[1:]))
		if n > len(out) {
			break
		}
		switch out[0] {
		case 'C':
			done++
		case 'E':
			failed = bytes.Clone(out[:n])
		}
		out = out[n:]
	}
	if failed != nil && done < len(sqls) {
		// Its Close may have been skipped; closing a missing one is no error.
		g.leftover = append(g.leftover, fmt.Sprintf("pgask_g%d", first+uint64(done)))
	}
	return done, failed, nil
}

// ownRoute sends buf upstream and collects the answers to it: terms answer-ending messages,
// or up to the first ErrorResponse.
func (s *session) ownRoute(buf []byte, terms int) ([]byte, error) {
	own := &ownRoute{terms: terms, done: make(chan []byte, 1)}
	s.own.Store(own)
	if err := s.writeUp(buf); err != nil {
		return nil, err
	}
	select {
	case b := <-own.done:
		return b, nil
	case <-s.done:
		return nil, net.ErrClosed
	}
}

// ownUntilReady sends buf, which ends with a Sync of pgask's own, and collects the answers up
// to its ReadyForQuery.
func (s *session) ownUntilReady(buf []byte) ([]byte, error) {
	return s.ownRoute(buf, 0) // terms 0: the route ends at ReadyForQuery
}

// refuse answers the client's current message with pe, as PostgreSQL answers a failing one:
// pgask sends a Parse that the server rejects, so that it skips the rest of the batch up to
// the Sync, and the client gets pe in place of the server's error. In a batch that failed
// already, nothing is sent (the message would have been skipped).
func (s *session) refuse(pe *pgconn.PgError) error {
	if s.gErr.Load() {
		return nil
	}
	buf, _ := (&pgproto3.Parse{Name: "pgask_refused", Query: "pgask refused"}).Encode(nil)
	buf = append(buf, flushMsg...)
	if _, err := s.ownRoute(buf, 1); err != nil {
		return err
	}
	return s.writeClient(appendPgError(nil, pe))
}

// bindParams is the number of parameter values a Bind frame carries (0 when it is malformed:
// the server says so).
func bindParams(frame []byte) int {
	_, rest, ok := cstring(frame[5:])
	if !ok {
		return 0
	}
	if _, rest, ok = cstring(rest); !ok || len(rest) < 2 {
		return 0
	}
	skip := 2 + 2*int(binary.BigEndian.Uint16(rest))
	if len(rest) < skip+2 {
		return 0
	}
	return int(binary.BigEndian.Uint16(rest[skip:]))
}
