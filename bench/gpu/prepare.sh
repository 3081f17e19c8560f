#!/usr/bin/env bash
# Prepares, on the build machine (Go, no GPU), everything bench/gpu/run.sh needs on a GPU machine
# that has CUDA's compiler, CMake and ninja but no Go and no network:
#
#   STAGE/bin/pgask        make build's binary (stripped)
#   STAGE/bin/llama.test   translate/llama's test binary: BenchmarkEngine, TestGPUOffload,
#                          TestBackendFallback (the Makefile's C flags; stripped)
#   STAGE/bin/testgguf     the synthetic GGUF generator (internal/testmodel)
#   STAGE/src/...          the part of github.com/ollama/ollama (the version go.mod pins) that the
#                          CMake build of ggml's CUDA backend and of llama.cpp needs: ggml's cmake/,
#                          include/, src/ with ggml-cpu/ and ggml-cuda/; llama.cpp's include/, src/
#   STAGE/cmake/           bench/engine/reference's CMakeLists.txt and refbench.cpp
#   STAGE/run.sh, STAGE/build-cuda.sh, STAGE/MANIFEST
#
# and checks that the whole stage stays under 64 MiB (what may be copied to the GPU machine).
# Models are not staged: run.sh generates them there.
#
#   bench/gpu/prepare.sh                 # STAGE=bench/out/gpu
#   bench/gpu/prepare.sh --check         # then runs the stage's run.sh here without a GPU
#                                        # (GGML_CUDA=OFF: CMake builds the staged sources CPU-only,
#                                        # ~5 min on 2 cores; the checks expect the CPU; pgask and
#                                        # refbench measured on the small model; an ASK via psql)
#
# Built with the Makefile's flags (make build; the same CGO_CFLAGS for the test binary).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
STAGE=${STAGE:-bench/out/gpu}
LIMIT_MIB=64
check=0
[ "${1:-}" = --check ] && check=1

export CGO_ENABLED=1
export CGO_CFLAGS="${CGO_CFLAGS:--O3 -march=${PGASK_MARCH:-x86-64-v3}}"
export CGO_CXXFLAGS="${CGO_CXXFLAGS:--O3 -march=${PGASK_MARCH:-x86-64-v3}}"

rm -rf "$STAGE"
mkdir -p "$STAGE/bin" "$STAGE/src" "$STAGE/cmake"
STAGE=$(cd "$STAGE" && pwd)

echo "== binaries (linux/amd64, CGO_CFLAGS=$CGO_CFLAGS)"
make build
go test -c -o "$STAGE/bin/llama.test" ./translate/llama/
go build -o "$STAGE/bin/testgguf" ./internal/testmodel/testgguf
strip -o "$STAGE/bin/pgask" bin/pgask
strip "$STAGE/bin/llama.test" "$STAGE/bin/testgguf"
"$STAGE/bin/pgask" --help >/dev/null
# what the GPU machine's C library must offer
glibc=$(objdump -T "$STAGE/bin/pgask" "$STAGE/bin/llama.test" | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -1)
glibcxx=$(objdump -T "$STAGE/bin/pgask" "$STAGE/bin/llama.test" | grep -o 'GLIBCXX_[0-9.]*' | sort -uV | tail -1)

echo "== sources (github.com/ollama/ollama, the version go.mod pins)"
D=$(go list -m -f '{{.Dir}}' github.com/ollama/ollama)
V=$(go list -m -f '{{.Version}}' github.com/ollama/ollama)
G=ml/backend/ggml/ggml
L=llama/llama.cpp
mkdir -p "$STAGE/src/$G/src" "$STAGE/src/$L"
cp -r "$D/$G/cmake" "$D/$G/include" "$D/$G/LICENSE" "$STAGE/src/$G/"
find "$D/$G/src" -maxdepth 1 -type f ! -name '*.go' -exec cp {} "$STAGE/src/$G/src/" \;
cp -r "$D/$G/src/ggml-cpu" "$D/$G/src/ggml-cuda" "$STAGE/src/$G/src/"
cp -r "$D/$L/include" "$D/$L/src" "$D/$L/LICENSE" "$STAGE/src/$L/"
find "$STAGE/src" -name '*.go' -delete
chmod -R u+w "$STAGE/src"
cp bench/engine/reference/CMakeLists.txt bench/engine/reference/refbench.cpp "$STAGE/cmake/"
cp bench/gpu/run.sh bench/gpu/build-cuda.sh "$STAGE/"

{
  echo "pgask $(git describe --always --dirty 2>/dev/null || echo unknown), built $(date -u +%Y-%m-%dT%H:%M:%SZ) with $(go version | cut -d' ' -f3)"
  echo "CGO_CFLAGS=$CGO_CFLAGS"
  echo "sources: github.com/ollama/ollama $V ($G, $L)"
  echo "needs on the GPU machine: $glibc, $glibcxx (Ubuntu 22.04 or later, Debian 12 or later)"
  (cd "$STAGE" && find . -type f -path './bin/*' -exec sha256sum {} \;)
} >"$STAGE/MANIFEST"

echo "== stage $STAGE"
(cd "$STAGE" && du -sh bin src cmake && ls -l bin)
bytes=$(du -sb "$STAGE" | cut -f1)
mib=$(awk -v b="$bytes" 'BEGIN { printf "%.1f", b / 1048576 }')
echo "stage size: $mib MiB ($bytes bytes; limit $LIMIT_MIB MiB), $(find "$STAGE" -type f | wc -l) files"
cat "$STAGE/MANIFEST" | sed -n 1,4p
if [ "$bytes" -ge $((LIMIT_MIB * 1048576)) ]; then
  echo "prepare.sh: the stage is over $LIMIT_MIB MiB" >&2
  exit 1
fi

if [ $check = 1 ]; then
  echo "== check: run.sh's dry run without a GPU (GGML_CUDA=OFF): the staged sources build with CMake,"
  echo "   the tools run, the fallback checks pass, both engines are measured on the CPU, an ASK through psql"
  rm -rf "${CHECK_DIR:-${TMPDIR:-/tmp}/pgask-gpu-check}/results"
  GGML_CUDA=OFF SKIP_7B=1 JOBS=${JOBS:-2} THREADS=${THREADS:-2} WORK=${CHECK_DIR:-${TMPDIR:-/tmp}/pgask-gpu-check} \
    bash "$STAGE/run.sh"
fi
