package pgtest

import (
	"fmt"
	"testing"
)

// fatalTB records Fatal instead of ending the test, so that Shared's refusal can be seen.
type fatalTB struct {
	testing.TB
	fatal string
}

func (f *fatalTB) Helper()           {}
func (f *fatalTB) Fatal(args ...any) { f.fatal = fmt.Sprint(args...) }

// TestSharedNeedsMain: this package's tests do not run through Main, so Shared must refuse
// rather than start a cluster that nobody stops (cmd/pgask's tests left one running per run).
func TestSharedNeedsMain(t *testing.T) {
	tb := &fatalTB{TB: t}
	if c := Shared(tb); c != nil {
		_ = c.Close()
		t.Fatal("Shared started a cluster in a package whose TestMain does not call Main")
	}
	if tb.fatal == "" {
		t.Fatal("Shared returned no cluster but did not fail the test")
	}
	t.Log(tb.fatal)
}
