package llama

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestHeadersMatchModule fails when the header copies in include/ drift from the ollama module that
// go.mod pins; run ./sync-headers.sh to refresh them.
func TestHeadersMatchModule(t *testing.T) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/ollama/ollama").Output()
	if err != nil {
		t.Fatalf("locate ollama module: %v", err)
	}
	dir := strings.TrimSpace(string(out))
	if dir == "" {
		t.Fatal("locate ollama module: empty directory (module not downloaded?)")
	}
	files := map[string]string{
		"llama.h":        "llama/llama.cpp/include/llama.h",
		"ggml.h":         "ml/backend/ggml/ggml/include/ggml.h",
		"ggml-cpu.h":     "ml/backend/ggml/ggml/include/ggml-cpu.h",
		"ggml-backend.h": "ml/backend/ggml/ggml/include/ggml-backend.h",
		"ggml-alloc.h":   "ml/backend/ggml/ggml/include/ggml-alloc.h",
		"ggml-opt.h":     "ml/backend/ggml/ggml/include/ggml-opt.h",
		"LICENSE":        "llama/llama.cpp/LICENSE",
	}
	for local, upstream := range files {
		want, err := os.ReadFile(filepath.Join(dir, upstream))
		if err != nil {
			t.Fatalf("read upstream %s: %v", upstream, err)
		}
		got, err := os.ReadFile(filepath.Join("include", local))
		if err != nil {
			t.Fatalf("read copy %s: %v", local, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("include/%s differs from %s in %s: run translate/llama/sync-headers.sh", local, upstream, dir)
		}
	}
}
