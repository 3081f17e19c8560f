// Package evloop is pgask's relay thread (Linux; elsewhere only its Hooks type is here): one
// OS thread that waits in epoll_wait on the raw sockets of many sessions, reads what a
// socket has, and writes what the protocol side of the session (its Owner, package proxy)
// walked to the other side with one non-blocking write, batching the reads and writes of a
// round through io_uring where the kernel has it (package proxy/internal/uring).
//
// The package owns the descriptors, epoll, the ring and the scheduling; the Owner owns the
// buffers and the protocol. A Loop calls its Owner once per read (ReadBuf, Read, Walk), never
// per frame, and hands the session back to it (HandBack) for everything the loop does not do.
package evloop
