//go:build linux

package uring

import (
	"fmt"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// Ring is a ring owned by the thread that made it (IORING_SETUP_SINGLE_ISSUER), which must
// be locked to its OS thread: only that thread may call its methods.
type Ring struct {
	fd      int
	ring    []byte // SQ and CQ rings (one mapping: IORING_FEAT_SINGLE_MMAP)
	sqeMem  []byte
	sqTail  *uint32
	sqMask  uint32
	sqLen   uint32
	cqHead  *uint32
	cqTail  *uint32
	cqMask  uint32
	sqes    []uringSQE
	cqes    []uringCQE
	pending uint32 // SQEs prepared since the last submit
	tail    uint32 // local copy of the SQ tail
	seq     uint32 // batch number, in the high half of each request's user data
}

// The kernel's struct io_uring_sqe and io_uring_cqe (include/uapi/linux/io_uring.h).
type uringSQE struct {
	opcode      uint8
	flags       uint8
	ioprio      uint16
	fd          int32
	off         uint64
	addr        uint64
	len         uint32
	msgFlags    uint32
	userData    uint64
	bufIndex    uint16
	personality uint16
	spliceFdIn  int32
	addr3       uint64
	_           uint64
}

type uringCQE struct {
	userData uint64
	res      int32
	flags    uint32
}

type uringParams struct {
	sqEntries    uint32
	cqEntries    uint32
	flags        uint32
	sqThreadCPU  uint32
	sqThreadIdle uint32
	features     uint32
	wqFd         uint32
	resv         [3]uint32
	sqOff        struct {
		head, tail, ringMask, ringEntries, flags, dropped, array, resv1 uint32
		userAddr                                                        uint64
	}
	cqOff struct {
		head, tail, ringMask, ringEntries, overflow, cqes, flags, resv1 uint32
		userAddr                                                        uint64
	}
}

// Op is a request's operation.
type Op uint8

const (
	Send Op = 26 // IORING_OP_SEND
	Recv Op = 27 // IORING_OP_RECV
)

const (
	// The io_uring system calls have these numbers on every Linux architecture Go supports.
	sysIOUringSetup = 425
	sysIOUringEnter = 426

	uringSetupSubmitAll     = 1 << 7  // keep submitting past a request that fails
	uringSetupCoopTaskrun   = 1 << 8  // no IPI to run task work
	uringSetupSingleIssuer  = 1 << 12 // one thread submits
	uringSetupDeferTaskrun  = 1 << 13 // task work runs only when this thread asks (6.1)
	uringFeatSingleMmap     = 1 << 0
	uringFeatNodrop         = 1 << 1
	uringOffSQRing          = 0
	uringOffSQEs            = 0x10000000
	msgDontwait             = 0x40
	msgNosignal             = 0x4000
	uringEnterGetevents     = 1 << 0
	uringSetupFlagsRequired = uringSetupSubmitAll | uringSetupCoopTaskrun | uringSetupSingleIssuer | uringSetupDeferTaskrun
)

// New makes a ring of entries submission slots. It fails on kernels older than 6.1,
// where io_uring is disabled (kernel.io_uring_disabled, seccomp in container runtimes), or
// without the features the relay relies on; the caller then makes one system call per
// read and write.
func New(entries uint32) (*Ring, error) {
	var p uringParams
	p.flags = uringSetupFlagsRequired
	fd, _, e := syscall.RawSyscall(sysIOUringSetup, uintptr(entries), uintptr(unsafe.Pointer(&p)), 0)
	if e != 0 {
		return nil, fmt.Errorf("io_uring_setup: %w", e)
	}
	r := &Ring{fd: int(fd)}
	if p.features&(uringFeatSingleMmap|uringFeatNodrop) != uringFeatSingleMmap|uringFeatNodrop {
		r.Close()
		return nil, fmt.Errorf("io_uring lacks single mmap or no-drop (features %#x)", p.features)
	}
	size := max(p.sqOff.array+p.sqEntries*4, p.cqOff.cqes+p.cqEntries*uint32(unsafe.Sizeof(uringCQE{})))
	mem, err := syscall.Mmap(r.fd, uringOffSQRing, int(size), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED|syscall.MAP_POPULATE)
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("mmap io_uring rings: %w", err)
	}
	r.ring = mem
	sqeMem, err := syscall.Mmap(r.fd, uringOffSQEs, int(p.sqEntries)*int(unsafe.Sizeof(uringSQE{})), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED|syscall.MAP_POPULATE)
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("mmap io_uring SQEs: %w", err)
	}
	r.sqeMem = sqeMem
	u32 := func(off uint32) *uint32 { return (*uint32)(unsafe.Pointer(&mem[off])) }
	r.sqTail = u32(p.sqOff.tail)
	r.sqMask = *u32(p.sqOff.ringMask)
	r.sqLen = *u32(p.sqOff.ringEntries)
	r.cqHead = u32(p.cqOff.head)
	r.cqTail = u32(p.cqOff.tail)
	r.cqMask = *u32(p.cqOff.ringMask)
	r.sqes = unsafe.Slice((*uringSQE)(unsafe.Pointer(&sqeMem[0])), p.sqEntries)
	r.cqes = unsafe.Slice((*uringCQE)(unsafe.Pointer(&mem[p.cqOff.cqes])), p.cqEntries)
	// SQE i always sits in slot i of the index array: requests go in order.
	array := unsafe.Slice((*uint32)(unsafe.Pointer(&mem[p.sqOff.array])), p.sqEntries)
	for i := range array {
		array[i] = uint32(i)
	}
	r.tail = atomic.LoadUint32(r.sqTail)
	return r, nil
}

func (r *Ring) Close() {
	if r.sqeMem != nil {
		_ = syscall.Munmap(r.sqeMem)
	}
	if r.ring != nil {
		_ = syscall.Munmap(r.ring)
	}
	syscall.Close(r.fd)
}

// Space is how many more requests fit before Submit.
func (r *Ring) Space() int { return int(r.sqLen - r.pending) }

// Prep queues a non-blocking send or recv of b on fd; b must stay allocated until Submit
// returns (the caller's buffers are reachable from the loop throughout).
func (r *Ring) Prep(op Op, fd int, b []byte, userData uint64) {
	sqe := &r.sqes[r.tail&r.sqMask]
	*sqe = uringSQE{opcode: uint8(op), fd: int32(fd), len: uint32(len(b)), msgFlags: msgDontwait | msgNosignal, userData: uint64(r.seq)<<32 | userData}
	if len(b) > 0 {
		sqe.addr = uint64(uintptr(unsafe.Pointer(&b[0])))
	}
	r.tail++
	r.pending++
}

// Submit hands the prepared requests to the kernel, which runs them before it returns,
// and stores each one's result at res[userData]. An error means the ring cannot be used
// again: the kernel did not take every request, or did not finish one during the call.
func (r *Ring) Submit(res []int32) error {
	n := r.pending
	if n == 0 {
		return nil
	}
	want, seq := n, r.seq
	r.seq++
	atomic.StoreUint32(r.sqTail, r.tail)
	r.pending = 0
	for n > 0 {
		// GETEVENTS runs deferred task work; min_complete 0 never waits.
		k, _, e := syscall.RawSyscall6(sysIOUringEnter, uintptr(r.fd), uintptr(n), 0, uringEnterGetevents, 0, 0)
		if e == syscall.EINTR {
			continue
		}
		if e != 0 {
			return fmt.Errorf("io_uring_enter: %w", e)
		}
		n -= uint32(k)
	}
	head := atomic.LoadUint32(r.cqHead)
	tail := atomic.LoadUint32(r.cqTail)
	var got, stray uint32
	for ; head != tail; head++ {
		c := &r.cqes[head&r.cqMask]
		if i := c.userData & (1<<32 - 1); c.userData>>32 == uint64(seq) && i < uint64(len(res)) {
			res[i] = c.res
			got++
		} else {
			stray++
		}
	}
	atomic.StoreUint32(r.cqHead, head)
	if got != want || stray != 0 {
		return fmt.Errorf("io_uring: %d of %d requests completed during the call, %d completions of earlier calls", got, want, stray)
	}
	return nil
}
