#!/usr/bin/env bash
# The one recipe for ggml's CUDA backend. bench/gpu/run.sh (on a GPU machine, from the sources
# bench/gpu/prepare.sh staged) and Dockerfile.cuda (from the Go module cache) both run it.
#
#   build-cuda.sh SRC BUILD [OUT]
#
# SRC    a tree holding ml/backend/ggml/ggml and llama/llama.cpp: the github.com/ollama/ollama
#        module pgask's go.mod pins (read-only is fine: the build is out of tree), or the subset of
#        it that prepare.sh stages
# BUILD  the CMake build folder; everything lands in BUILD/bin (libggml-base.so*, libggml.so*,
#        the backend modules libggml-cuda.so and libggml-cpu.so, refbench)
# OUT    when given, the layout pgask loads from: OUT/lib/ollama/libggml-base.so* and
#        OUT/lib/ollama/cuda_v12/libggml-cuda.so (run pgask with
#        OLLAMA_LIBRARY_PATH=OUT/lib/ollama/cuda_v12 and
#        LD_LIBRARY_PATH=OUT/lib/ollama:OUT/lib/ollama/cuda_v12)
#
# The CMake project is bench/engine/reference/CMakeLists.txt (prepare.sh copies it to
# <stage>/cmake): it stands in for ggml's top-level CMakeLists.txt, which the module does not
# ship, and drives ggml's own src/CMakeLists.txt, src/ggml-cpu and src/ggml-cuda unchanged.
# Configuration: Release, GGML_BACKEND_DL=ON and BUILD_SHARED_LIBS=ON (backends as loadable
# modules, as ollama builds them; pgask can only load the CUDA backend that way), GGML_NATIVE=OFF
# with the AVX2 set (as pgask's -march=x86-64-v3), ggml's thread pool (no OpenMP, as pgask),
# FlashAttention and CUDA graphs on (upstream's and ollama's defaults).
#
# Environment:
#   GGML_CUDA=ON            OFF builds the same tree without CUDA (the build machine's check that
#                           the staged sources are complete: prepare.sh --check)
#   CUDA_ARCHITECTURES      default: the compute capability of the GPU present (nvidia-smi; 90
#                           on an H100/H200), else "native"; one architecture keeps the build
#                           short, Dockerfile.cuda lists several
#   TARGETS="ggml-cuda"     run.sh adds ggml-cpu and refbench (the llama.cpp reference)
#   JOBS=$(nproc)  OPENMP=OFF  MARCH=x86-64-v3 (for llama.cpp and refbench)
#   COPY_CUDA_LIBS=0        1 copies the CUDA runtime and cuBLAS libraries libggml-cuda.so links
#                           into OUT/lib/ollama/cuda_v12 (Dockerfile.cuda: the runtime image has
#                           no toolkit)
#   EXTRA_CMAKE             more -D options
set -euo pipefail
if [ $# -lt 2 ]; then
  sed -n '2,40p' "$0" >&2
  exit 2
fi
SRC=$(cd "$1" && pwd)
BUILD=$2
OUT=${3:-}
here=$(cd "$(dirname "$0")" && pwd)
if [ -n "${CMAKE_DIR:-}" ]; then :
elif [ -f "$here/cmake/CMakeLists.txt" ]; then CMAKE_DIR=$here/cmake
else CMAKE_DIR=$here/../engine/reference
fi
CMAKE_DIR=$(cd "$CMAKE_DIR" && pwd)
GGML_CUDA=${GGML_CUDA:-ON}
TARGETS=${TARGETS:-ggml-cuda}
JOBS=${JOBS:-$(nproc)}

for t in cmake; do
  command -v $t >/dev/null || { echo "build-cuda.sh: $t not found" >&2; exit 1; }
done
gen=()
if command -v ninja >/dev/null; then gen=(-G Ninja); fi

cuda=()
if [ "$GGML_CUDA" = ON ]; then
  if ! command -v nvcc >/dev/null; then
    for d in "${CUDA_HOME:-}" "${CUDA_PATH:-}" /usr/local/cuda; do
      if [ -n "$d" ] && [ -x "$d/bin/nvcc" ]; then export PATH="$d/bin:$PATH"; break; fi
    done
  fi
  command -v nvcc >/dev/null || { echo "build-cuda.sh: nvcc not found (PATH, \$CUDA_HOME/bin, /usr/local/cuda/bin)" >&2; exit 1; }
  arch=${CUDA_ARCHITECTURES:-}
  if [ -z "$arch" ] && command -v nvidia-smi >/dev/null; then
    arch=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d ' .' || true)
  fi
  arch=${arch:-native}
  echo "build-cuda.sh: nvcc $(nvcc --version | sed -n 's/.*release \([0-9.]*\).*/\1/p'), CUDA architectures $arch"
  cuda=(-DGGML_CUDA=ON "-DCMAKE_CUDA_ARCHITECTURES=$arch" -DCMAKE_CUDA_COMPILER="$(command -v nvcc)")
else
  cuda=(-DGGML_CUDA=OFF)
fi

# shellcheck disable=SC2086
cmake -S "$CMAKE_DIR" -B "$BUILD" "${gen[@]}" -DOLLAMA_SRC="$SRC" \
  -DCMAKE_BUILD_TYPE=Release -DCMAKE_EXPORT_COMPILE_COMMANDS=ON \
  -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON \
  -DGGML_OPENMP="${OPENMP:-OFF}" -DBUILD_SHARED_LIBS=ON -DGGML_BACKEND_DL=ON \
  -DLLAMA_EXTRA_FLAGS="-march=${MARCH:-x86-64-v3}" \
  "${cuda[@]}" ${EXTRA_CMAKE:-}
# shellcheck disable=SC2086
cmake --build "$BUILD" --target $TARGETS -j "$JOBS"
ls -l "$BUILD"/bin/

if [ -n "$OUT" ]; then
  mkdir -p "$OUT/lib/ollama/cuda_v12"
  cp -a "$BUILD"/bin/libggml-base.so* "$OUT/lib/ollama/"
  if [ "$GGML_CUDA" = ON ]; then
    cp -a "$BUILD/bin/libggml-cuda.so" "$OUT/lib/ollama/cuda_v12/"
    if [ "${COPY_CUDA_LIBS:-0}" = 1 ]; then
      # the CUDA runtime and cuBLAS it links, under their sonames (the driver's libcuda.so.1 comes
      # from the host)
      ldd "$OUT/lib/ollama/cuda_v12/libggml-cuda.so" | awk '/libcudart|libcublas/ { print $1, $3 }' |
        while read -r soname path; do
          [ -f "$path" ] || { echo "build-cuda.sh: $soname not found" >&2; exit 1; }
          cp -L "$path" "$OUT/lib/ollama/cuda_v12/$soname"
        done
    fi
  fi
  ls -lR "$OUT/lib/ollama"
fi
