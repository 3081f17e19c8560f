package askservice

import (
	"errors"
	"strings"
	"testing"

	"github.com/pgask/pgask/proxy/ask"
)

// The 58P01 hint fits what model.path names: a known model can be pulled, a file must exist.
func TestUnavailableHint(t *testing.T) {
	tests := []struct {
		path, want, not string
	}{
		{"sqlcoder-7b-2", "pgask pull sqlcoder-7b-2", "exists"},
		{"https://example.com/m.gguf", "pgask pull https://example.com/m.gguf", "exists"},
		{"/models/missing.gguf", "Check that /models/missing.gguf exists", "pgask pull /models"},
	}
	for _, tt := range tests {
		err := Llama{Model: tt.path}.failed(errors.New("open: no such file\nmore"))
		var ue *ask.UnavailableError
		if !errors.As(err, &ue) {
			t.Fatalf("%s: %v carries no *ask.UnavailableError", tt.path, err)
		}
		if err.Error() != "open: no such file\nmore" {
			t.Errorf("%s: the error logged is %q, want the failure itself", tt.path, err)
		}
		if !strings.Contains(ue.Hint, tt.want) || strings.Contains(ue.Hint, tt.not) {
			t.Errorf("%s: hint %q, want it to contain %q and not %q", tt.path, ue.Hint, tt.want, tt.not)
		}
		if !strings.Contains(ue.Reason, tt.path) || strings.Contains(ue.Reason, "more") {
			t.Errorf("%s: reason %q should name the model and keep only the first line of the error", tt.path, ue.Reason)
		}
	}
}
