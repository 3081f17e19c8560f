#!/usr/bin/env bash
# pp512 / tg64 of pgask's llama.cpp binding (llama-bench's two figures) on a synthetic ~100 MB
# llama (n_embd 1024, 8 layers, 16 heads, n_ff 2816), Q8_0 and f16, 1 and 2 threads.
#
#   bench/engine/run.sh                 # all runs, 5 repetitions each, median printed
#   TYPES=q8_0 THREADS=2 COUNT=3 bench/engine/run.sh
#   POLL=0 bench/engine/run.sh           # ggml thread pool without spinning (Options.ThreadPoll < 0)
#
# Built with the same C flags as the Makefile (changing them rebuilds llama.cpp, minutes). The
# model files are cached in ${TMPDIR:-/tmp}/pgask-bench-<type>.gguf. Note the machine's load
# (uptime is printed before and after): on a shared machine the figures vary with it.
set -euo pipefail
cd "$(dirname "$0")/../.."
export CGO_ENABLED=1
export CGO_CFLAGS="${CGO_CFLAGS:--O3 -march=${PGASK_MARCH:-x86-64-v3}}"
export CGO_CXXFLAGS="${CGO_CXXFLAGS:--O3 -march=${PGASK_MARCH:-x86-64-v3}}"
export PGASK_BENCH_TYPES="${TYPES:-q8_0,f16}" PGASK_BENCH_THREADS="${THREADS:-1,2}" PGASK_BENCH_POLL="${POLL:-50}"
echo "load before: $(uptime)"
out=$(go test -run '^$' -bench 'Engine' -benchtime "${BENCHTIME:-5x}" -count "${COUNT:-5}" ./translate/llama/ 2>&1 | grep -v 'level=WARN')
echo "load after:  $(uptime)"
echo "$out" | grep -E '^(cpu|Benchmark)'
echo
echo "median tokens/s:"
echo "$out" | awk '/^BenchmarkEngine/ { name=$1; sub(/-[0-9]+$/, "", name); sub(/^BenchmarkEngine\//, "", name); n[name]++; for (i=1;i<NF;i++) if ($(i+1)=="t/s") t=$i; else if ($(i+1)=="cpu/thread") u=$i
    v[name, n[name]]=t+0; runs[name]=runs[name] " " t " (cpu " u ")" }
  END { for (k in n) { c=n[k]; for (i=1;i<=c;i++) a[i]=v[k,i]
          for (i=2;i<=c;i++) { x=a[i]; j=i-1; while (j>0 && a[j]>x) { a[j+1]=a[j]; j-- } a[j+1]=x }
          med = (c%2) ? a[(c+1)/2] : (a[c/2]+a[c/2+1])/2
          printf "  %-24s %8.1f   (runs:%s)\n", k, med, runs[k] } }' | sort
