package translate

import (
	"errors"
	"fmt"
)

// Sentinel kinds of translation failure. Every error Translate returns, other than a context
// error, wraps exactly one of them (test with errors.Is) inside an *Error (errors.As) that
// carries the details.
var (
	// ErrUnanswerable: the model said the schema cannot answer the question.
	ErrUnanswerable = errors.New("the question cannot be answered with this database's schema")
	// ErrRejected: the generated text is not a single read-only SELECT, or it calls a refused
	// function.
	ErrRejected = errors.New("generated SQL rejected")
	// ErrInvalidSQL: the generated SQL still failed the check (EXPLAIN) after all repairs.
	ErrInvalidSQL = errors.New("generated SQL is invalid")
	// ErrCheck: the Checker failed for a reason the model cannot repair (connection lost,
	// transaction aborted, query cancelled, …); the cause, often a *pgconn.PgError, is
	// wrapped and should reach the client as PostgreSQL sent it.
	ErrCheck = errors.New("checking the generated SQL failed")
	// ErrEngine: the engine failed (model error, HTTP error, empty output).
	ErrEngine = errors.New("model failure")
	// ErrTimeout: the translation ran past its deadline.
	ErrTimeout = errors.New("translation timed out")
	// ErrQueueFull: the engine refused the request because too many are waiting. Engines mark
	// their errors with QueueFull; Translate passes them on inside an *Error.
	ErrQueueFull = errors.New("model queue full")
)

// QueueFull marks an engine's error as ErrQueueFull (errors.Is holds) while keeping the
// engine's own words: the *Error that Translate returns names the kind itself, so wrapping
// the sentinel with %w would say "model queue full" twice.
func QueueFull(err error) error { return queueFullError{err} }

type queueFullError struct{ error }

func (e queueFullError) Is(target error) bool { return target == ErrQueueFull }
func (e queueFullError) Unwrap() error        { return e.error }

// Error is a failed translation.
type Error struct {
	Kind     error  // one of the sentinels above
	Msg      string // what happened, for the user
	SQL      string // the last generated SQL, if any
	Attempts int    // generations made
	Err      error  // the cause (engine error, *pgconn.PgError from the check, ...), may be nil
}

func (e *Error) Error() string {
	s := e.Kind.Error()
	if e.Msg != "" {
		s += ": " + e.Msg
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap makes both the kind and the cause visible to errors.Is and errors.As.
func (e *Error) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}

// Hint is a suggestion for the user, suitable for an ErrorResponse's hint field.
func (e *Error) Hint() string {
	switch e.Kind {
	case ErrUnanswerable:
		return "Rephrase the question with the names of tables and columns that exist here, or check that you are connected to the right database."
	case ErrRejected:
		return "Only a single read-only SELECT is run for ASK; rephrase the question as a request for data."
	case ErrInvalidSQL:
		return "Rephrase the question, or write the SQL yourself starting from the generated query."
	case ErrTimeout:
		return "Try a shorter question, or raise the generation timeout (ask.generation-timeout)."
	case ErrQueueFull:
		return "The model is busy with other questions; try again shortly."
	case ErrCheck:
		return ""
	case ErrEngine:
		return "Check pgask's log for the model error."
	}
	return ""
}

func newError(kind error, attempts int, sql string, cause error, format string, args ...any) *Error {
	return &Error{Kind: kind, Msg: fmt.Sprintf(format, args...), SQL: sql, Attempts: attempts, Err: cause}
}
