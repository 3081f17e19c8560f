package proxy

import (
	"bytes"
	"io"
	"testing"
)

// repeatReader serves the same batch of frames again and again, one batch per Read, n times.
type repeatReader struct {
	batch []byte
	n     int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, io.EOF
	}
	r.n--
	return copy(p, r.batch), nil
}

// discardConn is a fakeConn whose writes go nowhere.
type discardConn struct{ fakeConn }

func (c *discardConn) Write(p []byte) (int, error) { return len(p), nil }

// BenchmarkRelayClientToServer measures the client→server loop on one pgbench -M extended
// transaction (Parse/Bind/Describe/Execute/Sync) per read, with and without an Interceptor
// (whose prefilter then reads every Parse): the cost of the frame walk, not of the syscalls.
func BenchmarkRelayClientToServer(b *testing.B) {
	batch := extendedTx("SELECT abalance FROM pgbench_accounts WHERE aid = $1")
	for _, tc := range []struct {
		name string
		ic   Interceptor
	}{{"plain", nil}, {"interceptor", countInterceptor{}}} {
		b.Run(tc.name, func(b *testing.B) {
			s, _, _ := testSession(b, &repeatReader{batch: batch, n: b.N}, tc.ic)
			s.upstream = &discardConn{}
			b.SetBytes(int64(len(batch)))
			b.ReportAllocs()
			b.ResetTimer()
			if err := s.clientToServer(); err != io.EOF {
				b.Fatal(err)
			}
		})
	}
}

// BenchmarkRelayServerToClient measures the server→client loop on the replies to one
// extended-protocol transaction per read.
func BenchmarkRelayServerToClient(b *testing.B) {
	var batch []byte
	batch = appendFrame(batch, '1', nil)
	batch = appendFrame(batch, '2', nil)
	batch = appendFrame(batch, 'T', append([]byte{0, 1}, []byte("abalance\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x17\x00\x04\xff\xff\xff\xff\x00\x00")...))
	batch = appendFrame(batch, 'D', []byte{0, 1, 0, 0, 0, 1, '0'})
	batch = appendFrame(batch, 'C', []byte("SELECT 1\x00"))
	batch = appendReadyForQuery(batch, 'I')
	s, client, _ := testSession(b, bytes.NewReader(nil), nil)
	_ = client
	s.client = &discardConn{}
	s.ur = newMsgReader(&repeatReader{batch: batch, n: b.N})
	b.SetBytes(int64(len(batch)))
	b.ReportAllocs()
	b.ResetTimer()
	if err := s.serverToClient(); err != io.EOF {
		b.Fatal(err)
	}
}

func extendedTx(sql string) []byte {
	var b []byte
	b = appendFrame(b, 'P', append(append([]byte{0}, sql...), 0, 0, 0))
	b = appendFrame(b, 'B', []byte{0, 0, 0, 0, 0, 1, 0, 0, 0, 5, '1', '2', '3', '4', '5', 0, 0})
	b = appendFrame(b, 'D', []byte{'P', 0})
	b = appendFrame(b, 'E', []byte{0, 0, 0, 0, 0})
	b = appendFrame(b, 'S', nil)
	return b
}
