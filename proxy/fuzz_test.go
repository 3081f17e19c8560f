package proxy

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"github.com/pgask/pgask/proxy/asksplit"
)

// fakeConn reads from a fixed input and records writes.
type fakeConn struct {
	r   io.Reader
	out bytes.Buffer
}

func (c *fakeConn) Read(p []byte) (int, error)       { return c.r.Read(p) }
func (c *fakeConn) Write(p []byte) (int, error)      { return c.out.Write(p) }
func (c *fakeConn) Close() error                     { return nil }
func (c *fakeConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c *fakeConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (c *fakeConn) SetDeadline(time.Time) error      { return nil }
func (c *fakeConn) SetReadDeadline(time.Time) error  { return nil }
func (c *fakeConn) SetWriteDeadline(time.Time) error { return nil }

// oneByteReader returns at most n bytes per Read, to split frames across reads.
type chunkReader struct {
	r io.Reader
	n int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(p) > c.n {
		p = p[:c.n]
	}
	return c.r.Read(p)
}

func testSession(t testing.TB, in io.Reader, ic Interceptor) (*session, *fakeConn, *fakeConn) {
	srv, err := New(Options{Upstream: Upstream{Addr: "127.0.0.1:1", TLSMode: TLSDisable}, Interceptor: ic})
	if err != nil {
		t.Fatal(err)
	}
	client := &fakeConn{r: in}
	up := &fakeConn{r: bytes.NewReader(nil)}
	s := newSession(srv, client)
	s.upstream = up
	return s, client, up
}

// FuzzStartup feeds arbitrary bytes to the client startup phase: it must return (no panic,
// no hang on a finite input) and accept only packets whose protocol major is 3.
func FuzzStartup(f *testing.F) {
	f.Add([]byte{0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f})
	f.Add(append([]byte{0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x30}, 0, 0, 0, 9, 0, 3, 0, 0, 0))
	f.Add([]byte("\x00\x00\x00\x15\x00\x03\x00\x00user\x00bob\x00\x00"))
	f.Add([]byte("\x00\x00\x00\x15\x00\x03\x00\x02user\x00bob\x00\x00"))
	f.Add([]byte{0, 0, 0, 16, 0x04, 0xd2, 0x16, 0x2e, 0, 0, 0, 1, 1, 2, 3, 4})
	f.Add([]byte{0x16, 3, 1, 0, 5})
	f.Fuzz(func(t *testing.T, in []byte) {
		s, _, _ := testSession(t, bytes.NewReader(in), nil)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		res, err := s.clientStartup(ctx)
		if err == nil && !res.cancel {
			if len(res.packet) < 8 || binary.BigEndian.Uint32(res.packet[4:])>>16 != 3 || s.params["user"] == "" {
				t.Fatalf("accepted startup %q", res.packet)
			}
		}
	})
}

// FuzzRelayFraming runs arbitrary client bytes, cut into small reads, through the
// client→server relay without an interceptor: whatever it forwards must be a prefix of the
// input (the relay never changes, drops or invents bytes), and a well-framed input must come
// out whole.
func FuzzRelayFraming(f *testing.F) {
	f.Add([]byte("Q\x00\x00\x00\x0dselect 1\x00X\x00\x00\x00\x04"), 3)
	f.Add([]byte("P\x00\x00\x00\x10\x00select 1\x00\x00\x00B\x00\x00\x00\x0c\x00\x00\x00\x00\x00\x00\x00\x00E\x00\x00\x00\x09\x00\x00\x00\x00\x00S\x00\x00\x00\x04"), 1)
	f.Add([]byte("d\x00\x00\x00\x08abcdc\x00\x00\x00\x04"), 2)
	f.Add([]byte("Q\x00\x00\x00\x03"), 7)
	f.Fuzz(func(t *testing.T, in []byte, chunk int) {
		if chunk <= 0 || chunk > 1<<16 {
			chunk = 1 + chunk&0xff
		}
		s, _, up := testSession(t, &chunkReader{r: bytes.NewReader(in), n: chunk}, nil)
		err := s.clientToServer()
		out := up.out.Bytes()
		if !bytes.HasPrefix(in, out) {
			t.Fatalf("forwarded bytes are not a prefix of the input")
		}
		if wellFramed(in) && err != errTerminate && !bytes.Equal(out, in) {
			t.Fatalf("well-framed input forwarded %d of %d bytes (err %v)", len(out), len(in), err)
		}
	})
}

// FuzzMayBeAsk checks the relay's prefilter against the authority, asksplit.Split: whenever
// Split finds an ASK (leading, later, EXPLAIN ASK or a subquery ASK) or a TEACH, the prefilter
// must let the text through; and it never fires on a text without either word.
func FuzzMayBeAsk(f *testing.F) {
	for _, s := range []string{"ASK how many", " /* x /* y */ */ ask", "-- c\nAsk", "asking", "select 1; ask x", "select * from (ask x) t", "ask_x", "/* unterminated", "ASK!", "explain ask x", "TEACH 'q' AS SELECT 1", "select 1;\nteach $$q$$ as select 2", "teacher"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		got := MayBeAsk(in)
		stmts, _ := asksplit.Split(string(in))
		for _, st := range stmts {
			if (st.IsASK || st.IsTeach || len(st.Embedded) > 0) && !got {
				t.Fatalf("ASK missed in %q", in)
			}
		}
		if low := bytes.ToLower(in); got && !bytes.Contains(low, []byte("ask")) && !bytes.Contains(low, []byte("teach")) {
			t.Fatalf("MayBeAsk(%q) without the word", in)
		}
	})
}

func wellFramed(b []byte) bool {
	for len(b) > 0 {
		if len(b) < 5 {
			return false
		}
		n := int(binary.BigEndian.Uint32(b[1:]))
		if n < 4 || 1+n > len(b) {
			return false
		}
		if b[0] == 'X' {
			return 1+n == len(b)
		}
		b = b[1+n:]
	}
	return true
}
