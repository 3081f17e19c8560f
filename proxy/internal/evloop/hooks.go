package evloop

// Hooks let tests watch and steer a Loop; production leaves them nil, and so may a test any
// one of them. They are given at Start, so that the Loop carries no test-only state.
type Hooks struct {
	// Started runs on the loop thread as it starts.
	Started func(Thread)
	// Commands runs in the loop's command step, after the wake-up pipe is drained and before
	// the queued commands are taken: a test can hold the loop there, out of epoll_wait.
	Commands func()
	// Submit runs before each io_uring_enter; an error fails that call before the kernel
	// sees it, as a failed io_uring_enter would.
	Submit func() error
	// RingDropped runs when the loop has closed its ring after a failure.
	RingDropped func()
}

// Thread is what Hooks.Started learns of a loop's thread.
type Thread struct {
	TID  int    // the OS thread's id
	Epfd int    // the loop's epoll descriptor, for looking at its interest list and readiness
	Wake func() // makes the loop run its command step
}
