//go:build !linux

package proxy

import "errors"

// Event loops relay on Linux only (evloop_linux.go); elsewhere every session uses the
// goroutine relay.
type eventLoop struct{}

type loopSess struct{ loop *eventLoop }

func startLoops(*Server, int) ([]*eventLoop, error) {
	return nil, errors.New("relay threads need Linux")
}

func (*eventLoop) attach(*session) <-chan handback { return nil }
func (*eventLoop) release(*loopSess)               {}
func (*eventLoop) stop()                           {}
