package llama

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include "llama.h"

// pgask_dl_loaded reports whether the library at path is already mapped into the process (ggml's
// loader keeps the backends it registered open), without loading it.
static int pgask_dl_loaded(const char *path) {
	void *h = dlopen(path, RTLD_LAZY | RTLD_LOCAL | RTLD_NOLOAD);
	if (h == NULL) {
		return 0;
	}
	dlclose(h);
	return 1;
}

// pgask_dl_probe opens path as ggml's loader does (RTLD_NOW) and says why it is no usable backend:
// 1 = it cannot be loaded (*err holds dlerror()), 2 = no ggml_backend_init symbol, 3 = it has one.
// The library is closed again.
static int pgask_dl_probe(const char *path, char *err, size_t n) {
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (h == NULL) {
		const char *e = dlerror();
		snprintf(err, n, "%s", e ? e : "dlopen failed");
		return 1;
	}
	int r = dlsym(h, "ggml_backend_init") == NULL ? 2 : 3;
	dlclose(h);
	return r;
}
*/
import "C"

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"unsafe"

	ggml "github.com/ollama/ollama/ml/backend/ggml/ggml/src"
)

// Device is a compute device ggml registered (the CPU, and each GPU of a backend that loaded).
type Device struct {
	Name        string // ggml's name, e.g. "CPU", "CUDA0"
	Description string // e.g. "NVIDIA H100 80GB HBM3"
	Type        string // "cpu", "gpu", "igpu" or "accel"
	Free, Total uint64 // memory in bytes as the backend reports it (the CPU reports the host's)
}

// Devices lists the devices ggml found, loading the backends first (see Load).
func Devices() []Device {
	backendInit()
	var out []Device
	for i := range C.ggml_backend_dev_count() {
		d := C.ggml_backend_dev_get(i)
		var free, total C.size_t
		C.ggml_backend_dev_memory(d, &free, &total)
		out = append(out, Device{
			Name:        C.GoString(C.ggml_backend_dev_name(d)),
			Description: C.GoString(C.ggml_backend_dev_description(d)),
			Type:        devType(C.ggml_backend_dev_type(d)),
			Free:        uint64(free),
			Total:       uint64(total),
		})
	}
	return out
}

func devType(t C.enum_ggml_backend_dev_type) string {
	switch t {
	case C.GGML_BACKEND_DEVICE_TYPE_CPU:
		return "cpu"
	case C.GGML_BACKEND_DEVICE_TYPE_GPU:
		return "gpu"
	case C.GGML_BACKEND_DEVICE_TYPE_IGPU:
		return "igpu"
	}
	return "accel"
}

// gpuDevices are the devices llama.cpp offloads layers to by default: the GPUs, or the
// integrated GPUs when there is no discrete one (llama_model_load_from_file's selection, without
// its RPC servers and duplicate-id check).
func gpuDevices(devs []Device) []Device {
	var gpus, igpus []Device
	for _, d := range devs {
		switch d.Type {
		case "gpu":
			gpus = append(gpus, d)
		case "igpu":
			igpus = append(igpus, d)
		}
	}
	if len(gpus) == 0 {
		return igpus
	}
	return gpus
}

// backendProblem is a GPU backend library that ggml's loader was given but did not use.
type backendProblem struct {
	lib, msg string
}

// backendProblems is filled once, after ggml's loader ran (backendInit), and logged by every Load.
var backendProblems []backendProblem

// diagnoseBackends finds what ggml's loader skipped without a word: it loads the backends with
// its silent flag (NDEBUG), so a libggml-cuda.so that cannot be opened (no driver, a missing
// libcudart or libggml-base, a broken file) leaves pgask on the CPU with nothing in the log. For
// each folder of OLLAMA_LIBRARY_PATH (or ggml's default folder) it looks at the backend libraries
// there, libggml-<name>[-<variant>].so, and records each that is not loaded, with the reason.
func diagnoseBackends() []backendProblem {
	exe, _ := os.Executable()
	var out []backendProblem
	seen := map[string]bool{}
	for _, dir := range ggml.LibPaths() {
		abs, err := filepath.Abs(dir)
		if err != nil || seen[abs] {
			continue
		}
		seen[abs] = true
		if abs != filepath.Dir(exe) && !strings.Contains(abs, filepath.FromSlash("lib/ollama")) {
			if _, set := os.LookupEnv("OLLAMA_LIBRARY_PATH"); set {
				out = append(out, backendProblem{abs, "folder ignored: ggml's loader only searches folders whose path contains lib/ollama"})
			}
			continue
		}
		entries, err := os.ReadDir(abs)
		if err != nil {
			if _, set := os.LookupEnv("OLLAMA_LIBRARY_PATH"); set {
				out = append(out, backendProblem{abs, "cannot read the folder: " + err.Error()})
			}
			continue
		}
		for _, e := range entries {
			name := e.Name()
			if !strings.HasPrefix(name, "libggml-") || !strings.HasSuffix(name, ".so") ||
				name == "libggml-base.so" || e.IsDir() {
				continue
			}
			path := filepath.Join(abs, name)
			cpath := C.CString(path)
			if C.pgask_dl_loaded(cpath) == 0 {
				var buf [512]C.char
				var msg string
				switch C.pgask_dl_probe(cpath, &buf[0], C.size_t(len(buf))) {
				case 1:
					msg = "cannot be loaded: " + C.GoString(&buf[0])
				case 2:
					msg = "not a ggml backend (no ggml_backend_init)"
				default:
					msg = "loads, but ggml's loader did not register it (no usable device, or not supported on this system)"
				}
				out = append(out, backendProblem{path, msg})
			}
			C.free(unsafe.Pointer(cpath))
		}
	}
	return out
}

// logPlacement says where the model's layers went: the devices used and "offloaded N/M layers to
// GPU" (llama.cpp's own line, which its default log level hides), and warns about each backend
// library that was present but not used.
func logPlacement(logger *slog.Logger, m *Model) {
	for _, p := range backendProblems {
		logger.Warn("GPU backend library not used; running on the CPU unless another backend loaded", "lib", p.lib, "reason", p.msg)
	}
	md := m.meta
	if md.Offloaded > 0 {
		logger.Info(fmt.Sprintf("offloaded %d/%d layers to GPU", md.Offloaded, md.Layers+1), "devices", md.Devices, "gpu_layers", m.opts.GPULayers)
		return
	}
	reason := "gpu_layers is 0"
	if m.opts.GPULayers != 0 {
		reason = "no GPU backend loaded"
		if len(ggml.LibPaths()) > 0 {
			reason += " (searched " + strings.Join(ggml.LibPaths(), string(os.PathListSeparator)) + ")"
		}
	}
	logger.Info(fmt.Sprintf("offloaded 0/%d layers to GPU: the model runs on the CPU", md.Layers+1), "why", reason, "gpu_layers", m.opts.GPULayers)
}
