package proxy

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgask/pgask/proxy/asksplit"
)

const (
	sslRequestCode    = 80877103
	gssEncRequestCode = 80877104
	cancelRequestCode = 80877102

	// maxStartupLen is PostgreSQL's MAX_STARTUP_PACKET_LENGTH.
	maxStartupLen = 10000
	// maxMessageLen bounds one protocol message (PostgreSQL's limit is 1 GB).
	maxMessageLen = 1 << 30
	// maxAuthLen bounds messages during authentication.
	maxAuthLen = 1 << 20

	bufSize = 64 << 10
)

// errProtocol marks a malformed or unexpected message.
var errProtocol = errors.New("protocol violation")

// msgReader reads PostgreSQL messages from a connection into one reusable buffer. The relay
// loops work on buf[r:w] directly; readMsg and readStartup serve the startup phase.
type msgReader struct {
	rd   io.Reader
	buf  []byte
	r, w int
	max  int // longest message accepted by header (length field + body)
}

func newMsgReader(rd io.Reader) *msgReader {
	return &msgReader{rd: rd, buf: make([]byte, bufSize), max: maxMessageLen}
}

// tooLargeError is a client message longer than Options.MaxMessageSize.
type tooLargeError struct {
	typ    byte
	n, max int
}

func (e *tooLargeError) Error() string {
	return fmt.Sprintf("client message %q of %d bytes exceeds max-message-size (%d bytes)", e.typ, e.n, e.max)
}

func (m *msgReader) buffered() int { return m.w - m.r }

// compact moves unread bytes to the front and makes room for at least need bytes in total.
func (m *msgReader) compact(need int) {
	if m.r > 0 {
		n := copy(m.buf, m.buf[m.r:m.w])
		m.r, m.w = 0, n
	}
	if need > len(m.buf) {
		nb := make([]byte, need)
		copy(nb, m.buf[:m.w])
		m.buf = nb
	}
}

// makeRoom prepares for a frame of need bytes at m.r, of which fewer are buffered: unread
// bytes move to the front, and the buffer then grows by doubling as the frame's bytes arrive
// (space), not to the frame's declared length at once, so that a peer cannot make pgask
// allocate memory it does not send.
func (m *msgReader) makeRoom(need int) {
	if need > len(m.buf)-m.r {
		m.compact(min(need, len(m.buf)))
	}
}

// space returns the free space to read into, compacting first when the buffer is full and
// dropping an oversized buffer once it is empty.
func (m *msgReader) space() []byte {
	if m.r == m.w {
		m.r, m.w = 0, 0
		if len(m.buf) > 4*bufSize {
			m.buf = make([]byte, bufSize)
		}
	} else if m.w == len(m.buf) {
		m.compact(len(m.buf))
		if m.w == len(m.buf) {
			m.compact(2 * len(m.buf))
		}
	}
	return m.buf[m.w:]
}

// readMore reads once into free space.
func (m *msgReader) readMore() error {
	n, err := m.rd.Read(m.space())
	m.w += n
	if n > 0 {
		return nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return err
}

// header returns the type and total length (type byte included) of the frame at m.r;
// ok is false while fewer than its 5 header bytes are buffered. from names the sender in
// the error for a length PostgreSQL would refuse.
func (m *msgReader) header(from string) (typ byte, total int, ok bool, err error) {
	if m.w-m.r < 5 {
		return 0, 0, false, nil
	}
	typ = m.buf[m.r]
	n := int(binary.BigEndian.Uint32(m.buf[m.r+1:]))
	if n < 4 || n > maxMessageLen {
		return typ, 0, false, fmt.Errorf("%w: %s message %q of length %d", errProtocol, from, typ, n)
	}
	if n > m.max {
		return typ, 0, false, &tooLargeError{typ: typ, n: n, max: m.max}
	}
	return typ, 1 + n, true, nil
}

// fill makes sure n bytes are buffered.
func (m *msgReader) fill(n int) error {
	if m.w-m.r >= n {
		return nil
	}
	if len(m.buf)-m.r < n {
		m.compact(n)
	}
	for m.w-m.r < n {
		if err := m.readMore(); err != nil {
			return err
		}
	}
	return nil
}

// readMsg reads one typed message; body is valid until the next read.
func (m *msgReader) readMsg(maxLen int) (typ byte, body []byte, err error) {
	if err := m.fill(5); err != nil {
		return 0, nil, err
	}
	typ = m.buf[m.r]
	n := int(binary.BigEndian.Uint32(m.buf[m.r+1:]))
	if n < 4 || n > maxLen {
		return 0, nil, fmt.Errorf("%w: message %q of length %d", errProtocol, typ, n)
	}
	if err := m.fill(1 + n); err != nil {
		return 0, nil, err
	}
	body = m.buf[m.r+5 : m.r+1+n]
	m.r += 1 + n
	return typ, body, nil
}

// readStartup reads one untyped startup-phase packet and returns it whole (length included).
func (m *msgReader) readStartup() ([]byte, error) {
	if err := m.fill(4); err != nil {
		return nil, err
	}
	n := int(binary.BigEndian.Uint32(m.buf[m.r:]))
	if n < 8 || n > maxStartupLen {
		return nil, fmt.Errorf("%w: startup packet length %d", errProtocol, n)
	}
	if err := m.fill(n); err != nil {
		return nil, err
	}
	pkt := m.buf[m.r : m.r+n]
	m.r += n
	return pkt, nil
}

// parseStartupParams decodes the NUL-separated name/value pairs of a StartupMessage body
// (after the protocol version).
func parseStartupParams(b []byte) (map[string]string, error) {
	params := make(map[string]string)
	for {
		i := indexByte(b, 0)
		if i < 0 {
			return nil, fmt.Errorf("%w: unterminated startup parameters", errProtocol)
		}
		if i == 0 {
			if len(b) != 1 {
				return nil, fmt.Errorf("%w: bytes after startup parameters", errProtocol)
			}
			return params, nil
		}
		name := string(b[:i])
		b = b[i+1:]
		j := indexByte(b, 0)
		if j < 0 {
			return nil, fmt.Errorf("%w: unterminated value of startup parameter %q", errProtocol, name)
		}
		params[name] = string(b[:j])
		b = b[j+1:]
	}
}

func indexByte(b []byte, c byte) int { return bytes.IndexByte(b, c) }

// cstring splits a NUL-terminated string off b.
func cstring(b []byte) (s, rest []byte, ok bool) {
	i := indexByte(b, 0)
	if i < 0 {
		return nil, nil, false
	}
	return b[:i], b[i+1:], true
}

// appendErrorResponse encodes an ErrorResponse ('E') or NoticeResponse.
func appendErrorResponse(dst []byte, severity, code, msg, detail string) []byte {
	e := pgproto3.ErrorResponse{Severity: severity, SeverityUnlocalized: severity, Code: code, Message: msg, Detail: detail}
	out, err := e.Encode(dst)
	if err != nil { // only on impossible lengths; keep the client informed anyway
		return dst
	}
	return out
}

// appendPgError encodes a *pgconn.PgError as an ErrorResponse.
func appendPgError(dst []byte, pe *pgconn.PgError) []byte {
	sev := pe.Severity
	if sev == "" {
		sev = "ERROR"
	}
	e := pgproto3.ErrorResponse{
		Severity: sev, SeverityUnlocalized: sev, Code: pe.Code, Message: pe.Message,
		Detail: pe.Detail, Hint: pe.Hint, Position: pe.Position, InternalPosition: pe.InternalPosition,
		InternalQuery: pe.InternalQuery, Where: pe.Where, SchemaName: pe.SchemaName, TableName: pe.TableName,
		ColumnName: pe.ColumnName, DataTypeName: pe.DataTypeName, ConstraintName: pe.ConstraintName,
	}
	out, err := e.Encode(dst)
	if err != nil {
		return dst
	}
	return out
}

// parseErrorResponse decodes the body of an ErrorResponse or NoticeResponse.
func parseErrorResponse(body []byte) *pgconn.PgError {
	var e pgproto3.ErrorResponse
	if err := e.Decode(body); err != nil {
		return &pgconn.PgError{Severity: "ERROR", Code: "08P01", Message: "malformed ErrorResponse from upstream"}
	}
	sev := e.SeverityUnlocalized
	if sev == "" {
		sev = e.Severity
	}
	return &pgconn.PgError{
		Severity: sev, SeverityUnlocalized: e.SeverityUnlocalized, Code: e.Code, Message: e.Message,
		Detail: e.Detail, Hint: e.Hint, Position: e.Position, InternalPosition: e.InternalPosition,
		InternalQuery: e.InternalQuery, Where: e.Where, SchemaName: e.SchemaName, TableName: e.TableName,
		ColumnName: e.ColumnName, DataTypeName: e.DataTypeName, ConstraintName: e.ConstraintName,
		File: e.File, Line: e.Line, Routine: e.Routine,
	}
}

func appendReadyForQuery(dst []byte, status byte) []byte {
	return append(dst, 'Z', 0, 0, 0, 5, status)
}

func appendQuery(dst []byte, sql string) []byte {
	dst = append(dst, 'Q', 0, 0, 0, 0)
	dst = append(dst, sql...)
	dst = append(dst, 0)
	binary.BigEndian.PutUint32(dst[len(dst)-len(sql)-5:], uint32(len(sql)+5))
	return dst
}

// MayBeAsk is the relay's cheap prefilter (asksplit.MightContainASK): it says yes for every
// text in which asksplit.Split would find an ASK (leading, after ';', EXPLAIN ASK, or a
// parenthesised subquery ASK), without allocating, and may say yes for text inside a literal;
// the Interceptor decides. Only texts that pass reach the Interceptor.
func MayBeAsk(text []byte) bool { return asksplit.MightContainASK(text) }
