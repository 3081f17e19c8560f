// Package uring is the part of io_uring that pgask's relay threads use (Linux only; the
// package is empty elsewhere): a batch of non-blocking send(2) or recv(2) calls on
// different sockets made by one io_uring_enter instead of one system call each. Every
// request carries MSG_DONTWAIT, so the kernel runs it inline during the enter and
// completes it with -EAGAIN rather than waiting: when Submit returns, every request of the
// batch has its completion, and no buffer is used by the kernel after that. That keeps the
// ring a faster way to make the same calls, not an asynchronous engine.
//
// Why it pays (bench/proxy/run.sh): a write to a loopback socket wakes its reader, and the
// kernel preempts the writer for it at the write's return. One write per session meant the
// relay was switched out about once per transaction in the middle of a batch; one enter
// per batch wakes every reader first and is switched out at most once.
//
// A Ring is owned by the relay thread that made it (IORING_SETUP_SINGLE_ISSUER), which is
// locked to its OS thread.
package uring
