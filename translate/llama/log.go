package llama

/*
#include "llama.h"
extern void pgaskLog(int level, char *text, void *user_data);
static inline void pgask_log_install(void) { llama_log_set((ggml_log_callback)pgaskLog, NULL); }
*/
import "C"

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"
)

// logRoute sends llama.cpp's and ggml's log lines to the logger of the most recently loaded model
// that is still open. llama.cpp keeps one log callback per process, so this state is process-wide
// by nature: it is the Go side of C state, not a convenience global.
var logRoute struct {
	sink  atomic.Pointer[logSink] // the current sink, read by every log line
	once  sync.Once
	mu    sync.Mutex
	sinks []*logSink // open models' sinks, oldest first
}

// logSink reassembles llama.cpp's log fragments (it prints lines in pieces and continues them
// with GGML_LOG_LEVEL_CONT) into whole lines at the level of the fragment that opened them.
type logSink struct {
	logger *slog.Logger
	min    slog.Level

	mu    sync.Mutex
	buf   strings.Builder
	level slog.Level
}

func installLogSink(s *logSink) {
	logRoute.once.Do(func() { C.pgask_log_install() })
	logRoute.mu.Lock()
	defer logRoute.mu.Unlock()
	logRoute.sinks = append(logRoute.sinks, s)
	logRoute.sink.Store(s)
}

// removeLogSink stops routing to s; lines go to the previous open model's logger, or nowhere.
func removeLogSink(s *logSink) {
	logRoute.mu.Lock()
	defer logRoute.mu.Unlock()
	for i, x := range logRoute.sinks {
		if x == s {
			logRoute.sinks = append(logRoute.sinks[:i], logRoute.sinks[i+1:]...)
			break
		}
	}
	if n := len(logRoute.sinks); n > 0 {
		logRoute.sink.Store(logRoute.sinks[n-1])
	} else {
		logRoute.sink.Store(nil)
	}
}

func ggmlLevel(l C.int) slog.Level {
	switch l {
	case C.GGML_LOG_LEVEL_DEBUG:
		return slog.LevelDebug
	case C.GGML_LOG_LEVEL_WARN:
		return slog.LevelWarn
	case C.GGML_LOG_LEVEL_ERROR:
		return slog.LevelError
	}
	return slog.LevelInfo
}

//export pgaskLog
func pgaskLog(level C.int, text *C.char, _ unsafe.Pointer) {
	s := logRoute.sink.Load()
	if s == nil || text == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if level != C.GGML_LOG_LEVEL_CONT {
		if s.buf.Len() > 0 { // a new message interrupts an unterminated one
			s.flushLocked()
		}
		s.level = ggmlLevel(level)
	}
	if s.level < s.min {
		return
	}
	s.buf.WriteString(C.GoString(text))
	if strings.HasSuffix(s.buf.String(), "\n") {
		s.flushLocked()
	}
}

func (s *logSink) flushLocked() {
	msg := strings.TrimRight(s.buf.String(), "\n")
	s.buf.Reset()
	if msg != "" && s.level >= s.min {
		s.logger.Log(context.Background(), s.level, msg, "source", "llama.cpp")
	}
}
