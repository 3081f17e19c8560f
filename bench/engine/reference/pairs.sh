#!/usr/bin/env bash
# Tightly interleaved pairs, for a machine whose speed drifts within minutes: for each figure
# (type x threads x pp512|tg64), K times: one sample of pgask's binding (the BenchmarkEngine test
# binary, 5 iterations) then refbench (omp and pool variants, median of REPS repetitions) right
# after it. Prints every sample and, per figure, the median of the paired ratios ours/ref, which
# slow drift of the machine's speed cancels out of.
#
#   bench/engine/reference/pairs.sh      # after build.sh; K=4 TYPES="q8_0 f16" THREADS="1 2" FIGS="pp512 tg64"
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here/../../.."
OUT="${OUT:-/tmp/llref}"
tmp="${TMPDIR:-/tmp}"
export CGO_ENABLED=1 CGO_CFLAGS="${CGO_CFLAGS:--O3 -march=x86-64-v3}" CGO_CXXFLAGS="${CGO_CXXFLAGS:--O3 -march=x86-64-v3}"
go test -c -o "$OUT/ours.test" ./translate/llama/
for typ in ${TYPES:-q8_0 f16}; do
  for th in ${THREADS:-1 2}; do
    for fig in ${FIGS:-pp512 tg64}; do
      if [ $fig = pp512 ]; then sel="-p 512 -n 0"; else sel="-p 0 -n 64"; fi
      for k in $(seq 1 "${K:-4}"); do
        load=$(cut -d' ' -f1 /proc/loadavg)
        o=$(cd translate/llama && PGASK_BENCH_TYPES=$typ PGASK_BENCH_THREADS=$th "$OUT/ours.test" -test.run '^$' \
              -test.bench "Engine/$typ/threads=$th/$fig\$" -test.benchtime 5x 2>/dev/null \
            | awk '/^BenchmarkEngine/ { for (i=1;i<NF;i++) if ($(i+1)=="t/s") t=$i; else if ($(i+1)=="cpu/thread") u=$i; print t, u }')
        line="$typ t=$th $fig k=$k load=$load ours=${o% *} (cpu ${o#* })"
        for v in ${VARIANTS:-omp pool}; do
          r=$("$OUT/$v/refbench" -m "$tmp/pgask-bench-$typ.gguf" -t "$th" -r "${REPS:-3}" $sel | awk '/median/ { print $(NF-1) }')
          line="$line $v=$r"
        done
        echo "$line"
      done
    done
  done
done | tee "$OUT/pairs.log"
echo
echo "median of paired ratios ours/ref (per figure):"
awk '{ key=$1" "$2" "$3; o=$6; sub(/ours=/,"",o)
       for (i=7;i<=NF;i++) if ($i ~ /^(omp|pool)=/) { split($i, kv, "="); if (kv[2] > 0) { n[key" "kv[1]]++; r[key" "kv[1], n[key" "kv[1]]]=o/kv[2] } } }
     END { for (k in n) { c=n[k]; for (i=1;i<=c;i++) a[i]=r[k,i]
             for (i=2;i<=c;i++) { x=a[i]; j=i-1; while (j>0 && a[j]>x) { a[j+1]=a[j]; j-- } a[j+1]=x }
             printf "  %-22s vs %-4s %.3f  (n=%d, min %.3f max %.3f)\n", substr(k,1,length(k)-length(k ~ /omp$/ ? "omp" : "pool")-1), (k ~ /omp$/ ? "omp" : "pool"), (c%2 ? a[(c+1)/2] : (a[c/2]+a[c/2+1])/2), c, a[1], a[c] } }' "$OUT/pairs.log" | sort
