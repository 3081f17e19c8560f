#!/bin/sh
# Re-copies llama.h and the ggml headers it includes from the ollama module that go.mod pins.
# cgo cannot reach headers in another module, so the binding carries copies; headers_test.go
# fails when they drift from the module (run this script after bumping github.com/ollama/ollama).
set -eu
cd "$(dirname "$0")"
dir=$(go list -m -f '{{.Dir}}' github.com/ollama/ollama)
mkdir -p include
cp "$dir/llama/llama.cpp/include/llama.h" include/
for h in ggml.h ggml-cpu.h ggml-backend.h ggml-alloc.h ggml-opt.h; do
	cp "$dir/ml/backend/ggml/ggml/include/$h" include/
done
cp "$dir/llama/llama.cpp/LICENSE" include/LICENSE
chmod 0644 include/*
echo "copied headers from $dir"
