package llama

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Backend loading is process-wide state (ggml.OnceLoad runs once, with the OLLAMA_LIBRARY_PATH of
// that moment), so each case runs in a child process: this test binary again, running only
// TestBackendChild with the environment below.
const childEnv = "PGASK_TEST_BACKEND_CHILD"

// TestBackendChild is the child's side of TestBackendFallback and TestGPUOffload: it loads the
// Q8_0 test model with PGASK_TEST_GPU_LAYERS layers offloaded, logging at Info to stdout, then
// generates a statement under the narrow grammar and prints one "RESULT ..." line.
func TestBackendChild(t *testing.T) {
	if os.Getenv(childEnv) != "1" {
		t.Skip("run by TestBackendFallback / TestGPUOffload in a child process")
	}
	layers, err := strconv.Atoi(os.Getenv("PGASK_TEST_GPU_LAYERS"))
	if err != nil {
		t.Fatal(err)
	}
	path := models.q8_0
	if p := os.Getenv("PGASK_TEST_MODEL"); p != "" {
		path = p
	}
	logger := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{Level: slog.LevelInfo}))
	m, err := Load(context.Background(), path, Options{Threads: 1, ContextSize: 512, GPULayers: layers}, logger)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	res, err := m.Generate(ctxTimeout(t), Request{Prompt: "list the users", Grammar: narrowGrammar, MaxTokens: 32})
	if err != nil {
		t.Fatal(err)
	}
	md := m.Metadata()
	fmt.Printf("RESULT offloaded=%d layers=%d devices=%d text=%q\n", md.Offloaded, md.Layers, len(md.Devices), res.Text)
}

type childResult struct {
	out                     string // the child's whole output
	offloaded, layers, gpus int
	text                    string
}

var resultRE = regexp.MustCompile(`(?m)^RESULT offloaded=(\d+) layers=(\d+) devices=(\d+) text=(".*")$`)

// runChild runs TestBackendChild with env added and returns what its RESULT line says.
func runChild(t *testing.T, env ...string) childResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestBackendChild$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), append([]string{childEnv + "=1"}, env...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	r := childResult{out: out.String()}
	if err != nil {
		t.Fatalf("child process failed (%v); its output:\n%s", err, r.out)
	}
	m := resultRE.FindStringSubmatch(r.out)
	if m == nil {
		t.Fatalf("no RESULT line; the child's output:\n%s", r.out)
	}
	r.offloaded, _ = strconv.Atoi(m[1])
	r.layers, _ = strconv.Atoi(m[2])
	r.gpus, _ = strconv.Atoi(m[3])
	r.text, _ = strconv.Unquote(m[4])
	return r
}

// TestBackendFallback points ggml's backend loader at a folder whose libggml-cuda.so is broken in
// the ways a real one can be (an empty or foreign file, a dependency that is missing as libcuda.so.1
// is without a driver, no backend entry point, an entry point that fails) and checks each time
// that the model loads, generates on the CPU, and that a warning names the library and the reason.
// The C cases need a C compiler (cgo's); without one only the file cases run.
func TestBackendFallback(t *testing.T) {
	if os.Getenv(childEnv) != "" {
		t.Skip("child process")
	}
	cc := ccCommand()
	cases := []struct {
		name   string
		make   func(t *testing.T, lib string) // writes lib
		reason string                         // expected in the warning
	}{
		{"empty file", func(t *testing.T, lib string) { writeFile(t, lib, nil) }, "cannot be loaded"},
		{"not an ELF file", func(t *testing.T, lib string) {
			writeFile(t, lib, bytes.Repeat([]byte("not a shared library\n"), 100))
		}, "cannot be loaded: .*invalid ELF header"},
		{"missing dependency", func(t *testing.T, lib string) {
			dep := filepath.Join(t.TempDir(), "libpgask-fake-cuda-driver.so")
			compileSO(t, cc, dep, "int cuInit(unsigned f) { return f; }")
			compileSO(t, cc, lib, "int cuInit(unsigned); int ggml_backend_init(void) { return cuInit(0); }",
				"-L"+filepath.Dir(dep), "-lpgask-fake-cuda-driver")
			if err := os.Remove(dep); err != nil { // as libcuda.so.1 on a machine without the driver
				t.Fatal(err)
			}
		}, "cannot be loaded: .*libpgask-fake-cuda-driver.so: cannot open shared object file"},
		{"no backend entry point", func(t *testing.T, lib string) {
			compileSO(t, cc, lib, "int pgask_unrelated(void) { return 1; }")
		}, `not a ggml backend \(no ggml_backend_init\)`},
		{"entry point fails", func(t *testing.T, lib string) {
			compileSO(t, cc, lib, "void *ggml_backend_init(void) { return 0; }")
		}, "loads, but ggml's loader did not register it"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "lib", "ollama", "cuda_v12")
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			lib := filepath.Join(dir, "libggml-cuda.so")
			c.make(t, lib)
			r := runChild(t, "OLLAMA_LIBRARY_PATH="+dir, "PGASK_TEST_GPU_LAYERS=-1")
			if !narrowRE.MatchString(r.text) {
				t.Errorf("generated %q on the CPU; want a narrow-grammar statement", r.text)
			}
			if r.offloaded != 0 || r.gpus != 0 {
				t.Errorf("offloaded %d layers to %d GPUs; want none", r.offloaded, r.gpus)
			}
			warn := regexp.MustCompile(`level=WARN msg="GPU backend library not used; running on the CPU unless another backend loaded" lib=` +
				regexp.QuoteMeta(lib) + ` reason="` + c.reason)
			if !warn.MatchString(r.out) {
				t.Errorf("no warning naming %s with reason %q; the child's output:\n%s", lib, c.reason, r.out)
			}
			if !strings.Contains(r.out, fmt.Sprintf(`msg="offloaded 0/%d layers to GPU: the model runs on the CPU" why="no GPU backend loaded`, r.layers+1)) {
				t.Errorf("no CPU placement line; the child's output:\n%s", r.out)
			}
		})
	}

	t.Run("gpu layers 0, no library folder", func(t *testing.T) {
		r := runChild(t, "OLLAMA_LIBRARY_PATH="+filepath.Join(t.TempDir(), "lib", "ollama", "missing"), "PGASK_TEST_GPU_LAYERS=0")
		if !narrowRE.MatchString(r.text) || r.offloaded != 0 {
			t.Errorf("text %q, offloaded %d", r.text, r.offloaded)
		}
		if !strings.Contains(r.out, fmt.Sprintf(`msg="offloaded 0/%d layers to GPU: the model runs on the CPU" why="gpu_layers is 0"`, r.layers+1)) {
			t.Errorf("no placement line; the child's output:\n%s", r.out)
		}
	})

	t.Run("folder outside lib/ollama", func(t *testing.T) {
		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, "libggml-cuda.so"), nil)
		r := runChild(t, "OLLAMA_LIBRARY_PATH="+dir, "PGASK_TEST_GPU_LAYERS=-1")
		if !narrowRE.MatchString(r.text) || r.offloaded != 0 {
			t.Errorf("text %q, offloaded %d", r.text, r.offloaded)
		}
		if !strings.Contains(r.out, `reason="folder ignored: ggml's loader only searches folders whose path contains lib/ollama"`) {
			t.Errorf("no warning about the ignored folder; the child's output:\n%s", r.out)
		}
	})
}

// TestGPUOffload runs on a machine with a GPU (bench/gpu/run.sh sets PGASK_TEST_GPU=1 and
// OLLAMA_LIBRARY_PATH to the CUDA backend it built): every layer on the GPU, no warning, and the
// same grammar-bound generation; then --gpu-layers 0 on the same machine stays on the CPU.
func TestGPUOffload(t *testing.T) {
	if os.Getenv("PGASK_TEST_GPU") != "1" || os.Getenv(childEnv) != "" {
		t.Skip("needs a GPU: set PGASK_TEST_GPU=1 and OLLAMA_LIBRARY_PATH (bench/gpu/run.sh does)")
	}
	r := runChild(t, "PGASK_TEST_GPU_LAYERS=-1")
	t.Logf("child output:\n%s", r.out)
	if r.gpus == 0 || r.offloaded != r.layers+1 {
		t.Errorf("offloaded %d/%d layers to %d GPUs; want all on a GPU", r.offloaded, r.layers+1, r.gpus)
	}
	if strings.Contains(r.out, "level=WARN") {
		t.Errorf("a warning on a GPU machine")
	}
	if !narrowRE.MatchString(r.text) {
		t.Errorf("generated %q on the GPU", r.text)
	}
	r0 := runChild(t, "PGASK_TEST_GPU_LAYERS=0")
	if r0.offloaded != 0 || !narrowRE.MatchString(r0.text) {
		t.Errorf("gpu layers 0: offloaded %d, text %q", r0.offloaded, r0.text)
	}
	if !strings.Contains(r0.out, `why="gpu_layers is 0"`) {
		t.Errorf("gpu layers 0: no placement line; output:\n%s", r0.out)
	}
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o755); err != nil {
		t.Fatal(err)
	}
}

// ccCommand is the C compiler cgo uses ($CC, else cc); "" when there is none.
func ccCommand() string {
	cc := os.Getenv("CC")
	if cc == "" {
		cc = "cc"
	}
	if _, err := exec.LookPath(strings.Fields(cc)[0]); err != nil {
		return ""
	}
	return cc
}

// compileSO builds a shared library at out from the C source src.
func compileSO(t *testing.T, cc, out, src string, ldflags ...string) {
	t.Helper()
	if cc == "" {
		t.Skip("no C compiler")
	}
	c := filepath.Join(t.TempDir(), "lib.c")
	writeFile(t, c, []byte(src+"\n"))
	f := strings.Fields(cc)
	args := append(f[1:], "-shared", "-fPIC", "-o", out, c)
	args = append(args, ldflags...)
	if b, err := exec.Command(f[0], args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v\n%s", cc, args, err, b)
	}
}
