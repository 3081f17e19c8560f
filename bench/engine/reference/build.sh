#!/usr/bin/env bash
# Builds the same-session llama.cpp reference for bench/engine from the module's own sources:
# ggml's CPU backend by ggml's own CMake (ggml/src/CMakeLists.txt, configured like the issue's
# anchor) and llama.cpp's src/*.cpp, linked into refbench. Two variants:
#
#   $OUT/omp/refbench    -DGGML_OPENMP=ON   (llama.cpp's default build)
#   $OUT/pool/refbench   -DGGML_OPENMP=OFF  (ggml's own thread pool, as pgask's cgo build)
#
#   bench/engine/reference/build.sh             # OUT=/tmp/llref; needs cmake, g++ (apt-get install -y cmake)
#   VARIANTS=pool bench/engine/reference/build.sh
#   VARIANTS=pool SUFFIX=-pic EXTRA_CMAKE=-DCMAKE_POSITION_INDEPENDENT_CODE=ON build.sh   # $OUT/pool-pic
#
# The module directory is read-only, so its tree (ggml + llama.cpp only) is copied to $OUT/src.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here/../../.."
OUT="${OUT:-/tmp/llref}"
D="$(go list -m -f '{{.Dir}}' github.com/ollama/ollama)"
ARCH_FLAGS="${ARCH_FLAGS:--march=x86-64-v3}" # for libllama and refbench; ggml-cpu gets ggml's own -mavx2 ... flags

mkdir -p "$OUT/src/ml/backend/ggml" "$OUT/src/llama"
rm -rf "$OUT/src/ml/backend/ggml/ggml" "$OUT/src/llama/llama.cpp"
cp -r "$D/ml/backend/ggml/ggml" "$OUT/src/ml/backend/ggml/ggml"
cp -r "$D/llama/llama.cpp" "$OUT/src/llama/llama.cpp"
chmod -R u+w "$OUT/src"

for v in ${VARIANTS:-omp pool}; do
  case $v in
    omp) omp=ON ;;
    pool) omp=OFF ;;
    *) echo "unknown variant $v" >&2; exit 2 ;;
  esac
  cmake -S "$here" -B "$OUT/$v${SUFFIX:-}" ${EXTRA_CMAKE:-} -DOLLAMA_SRC="$OUT/src" \
    -DCMAKE_BUILD_TYPE=Release -DCMAKE_EXPORT_COMPILE_COMMANDS=ON \
    -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON \
    -DGGML_OPENMP=$omp -DBUILD_SHARED_LIBS=OFF -DGGML_BACKEND_DL=OFF \
    -DLLAMA_EXTRA_FLAGS="$ARCH_FLAGS"
  cmake --build "$OUT/$v${SUFFIX:-}" --target refbench -j "${JOBS:-2}"
  echo "built $OUT/$v${SUFFIX:-}/refbench"
done
