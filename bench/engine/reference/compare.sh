#!/usr/bin/env bash
# Interleaved same-session comparison: pgask's binding (bench/engine/run.sh) against refbench
# built by build.sh (OpenMP and thread-pool variants), per type and thread count, ROUNDS times.
#
#   bench/engine/reference/compare.sh | tee /tmp/compare.log
#   ROUNDS=3 TYPES="q8_0 f16" THREADS="1 2" VARIANTS="omp pool" bench/engine/reference/compare.sh
#
# Every line is tagged "round type threads who" so the log can be summarised with grep/awk; the
# machine's load is printed before each run (the figures move with it on a shared machine).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here/../../.."
OUT="${OUT:-/tmp/llref}"
tmp="${TMPDIR:-/tmp}"
for r in $(seq 1 "${ROUNDS:-3}"); do
  for typ in ${TYPES:-q8_0 f16}; do
    for th in ${THREADS:-1 2}; do
      echo "== round $r $typ t=$th  $(date -u +%T) load: $(cut -d' ' -f1-3 /proc/loadavg)"
      TYPES=$typ THREADS=$th COUNT="${COUNT:-3}" bench/engine/run.sh 2>&1 \
        | grep -E "^  $typ/|cpu/thread" | sed "s/^/[r$r $typ t$th ours] /"
      for v in ${VARIANTS:-omp pool}; do
        echo "   load: $(cut -d' ' -f1-3 /proc/loadavg)"
        "$OUT/$v/refbench" -m "$tmp/pgask-bench-$typ.gguf" -t "$th" -r "${REPS:-5}" \
          | grep -E "^(pp|tg)" | sed "s/^/[r$r $typ t$th ref-$v] /"
      done
    done
  done
done
