//go:build linux

package uring

import (
	"bytes"
	"runtime"
	"syscall"
	"testing"
)

// notRun marks a request with no result.
const notRun = -1 << 31

// testRing makes a ring or skips: io_uring may be disabled where the tests run (sysctl
// kernel.io_uring_disabled, a container's seccomp profile, a kernel before 6.1).
func testRing(t *testing.T) *Ring {
	t.Helper()
	// The ring is IORING_SETUP_SINGLE_ISSUER: only the thread that made it may submit
	// (another gets EEXIST), as the relay thread, locked to its OS thread, does.
	runtime.LockOSThread()
	t.Cleanup(runtime.UnlockOSThread)
	r, err := New(8)
	if err != nil {
		t.Skipf("io_uring unavailable here, the relay threads use plain system calls: %v", err)
	}
	t.Cleanup(r.Close)
	return r
}

// The ring is only a faster way to make non-blocking calls: every request of a batch has its
// result when submit returns, in order, and none of them waits, whether there is nothing to
// read (EAGAIN) or no room to write (a short write, then EAGAIN).
func TestUringNeverWaits(t *testing.T) {
	r := testRing(t)
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fds[0])
	defer syscall.Close(fds[1])

	// A send and, in the same batch, a recv of it; then a recv with nothing there.
	msg := []byte("Q\x00\x00\x00\x0dselect 1\x00")
	in := make([]byte, 64)
	r.Prep(Send, fds[0], msg, 0)
	r.Prep(Recv, fds[1], in, 1)
	r.Prep(Recv, fds[1], in, 2)
	res := []int32{notRun, notRun, notRun}
	if err := r.Submit(res); err != nil {
		t.Fatal(err)
	}
	if res[0] != int32(len(msg)) || res[1] != int32(len(msg)) || !bytes.Equal(in[:len(msg)], msg) {
		t.Fatalf("send %d, recv %d %q; want %d bytes each way", res[0], res[1], in[:max(res[1], 0)], len(msg))
	}
	if res[2] != -int32(syscall.EAGAIN) {
		t.Fatalf("recv on an empty socket: %d, want -EAGAIN", res[2])
	}

	// Writes far larger than the socket buffer: the first is cut short, the next finds no room.
	big := make([]byte, 16<<20)
	r.Prep(Send, fds[0], big, 0)
	r.Prep(Send, fds[0], big, 1)
	res = []int32{notRun, notRun}
	if err := r.Submit(res); err != nil {
		t.Fatal(err)
	}
	if res[0] <= 0 || res[0] >= int32(len(big)) || res[1] != -int32(syscall.EAGAIN) {
		t.Fatalf("sends into a full socket: %d then %d; want a short write then -EAGAIN", res[0], res[1])
	}

	// A request on a descriptor that is not a socket fails alone; the batch goes on.
	r.Prep(Recv, 1<<20, in, 0)
	r.Prep(Recv, fds[1], in, 1)
	res = []int32{notRun, notRun}
	if err := r.Submit(res); err != nil {
		t.Fatal(err)
	}
	if res[0] != -int32(syscall.EBADF) || res[1] <= 0 {
		t.Fatalf("bad descriptor then a good one: %d, %d; want -EBADF then bytes", res[0], res[1])
	}
}
