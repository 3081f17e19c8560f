#!/usr/bin/env bash
# pgask on a GPU, measured beside llama.cpp's own CUDA build of the same sources. Runs on a machine
# with an NVIDIA GPU, its driver, CUDA's compiler, CMake, ninja and a C/C++ compiler; it needs no
# Go and no network: bench/gpu/prepare.sh, run on the build machine, staged the binaries and the
# sources (under 64 MiB), and this script (a copy of it is in the stage) generates the models.
#
#   bench/gpu/run.sh [PHASE...]     # PHASES: env build models check bench ask (default: all, in order)
#   <stage>/run.sh [PHASE...]       # the same, from a copied stage folder
#
# env     the machine: GPU, driver, toolkit, compilers; the staged binaries start
# build   bench/gpu/build-cuda.sh (the recipe Dockerfile.cuda runs): libggml-cuda.so for the GPU
#         present (one architecture, e.g. sm_90 on an H100/H200), libggml-base.so, the CPU module
#         and refbench (llama-bench's pp/tg, bench/engine/reference) linked against them
# models  synthetic llamas from pgask's GGUF writer (testgguf): "small" (bench/engine's ~100 MB
#         llama, Q8_0) and "7b" (llama-2-7b's shape, Q8_0, 7.2 GB; SKIP_7B=1 leaves it out)
# check   pgask really uses the GPU: TestGPUOffload (all layers offloaded, generation, then
#         --gpu-layers 0 on the CPU), TestBackendFallback (broken libggml-cuda.so -> CPU with a
#         warning), and pgask serve's own log with the GPU, with --gpu-layers 0 and with a
#         broken library
# bench   pp512 and tg64 tokens/s, all layers offloaded, pgask's BenchmarkEngine against refbench
#         on each model, with the GPU memory each used (from ggml and from nvidia-smi)
# ask     an ASK end to end through psql on the GPU with the small model (pgask demo: a throwaway
#         PostgreSQL with the shop database) and its latency split from the audit log. Needs
#         PostgreSQL's server binaries (PGASK_PG_BIN, /usr/lib/postgresql/*/bin or initdb on
#         PATH) and psql; skipped with a note when they are missing
#
# Everything goes to WORK (default: the stage's sibling folder gpu-work, i.e. bench/out/gpu-work)
# and the figures to RESULTS (default WORK/results): summary.md and a log per step.
# Environment: THREADS=8 (both engines), COUNT=3 (BenchmarkEngine -count), REPS=5 (refbench
# repetitions), BENCHTIME=5x, MODELS="small 7b", CPU_BASELINE=1 (also the small model with no
# layers offloaded), JOBS, CUDA_ARCHITECTURES (see build-cuda.sh).
#
# GGML_CUDA=OFF is the dry run on a machine without a GPU (prepare.sh --check runs it on the
# build machine): the same phases with a CPU-only build, checks that expect the CPU, and the
# benchmark comparing the two engines on the CPU.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [ -x "$here/bin/pgask" ]; then
  STAGE=$here
else
  STAGE=${STAGE:-$here/../out/gpu}
fi
[ -x "$STAGE/bin/pgask" ] || { echo "run.sh: no staged binaries in $STAGE: run bench/gpu/prepare.sh on the build machine first" >&2; exit 1; }
STAGE=$(cd "$STAGE" && pwd)
WORK=${WORK:-$(dirname "$STAGE")/gpu-work}
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
RESULTS=${RESULTS:-$WORK/results}
mkdir -p "$RESULTS" "$WORK/models"
THREADS=${THREADS:-8}
MODELS=${MODELS:-small 7b}
[ "${SKIP_7B:-0}" = 1 ] && MODELS=${MODELS//7b/}
BIN=$STAGE/bin
LIB=$WORK/out/lib/ollama
for d in "${CUDA_HOME:-}" /usr/local/cuda; do
  if [ -n "$d" ] && [ -x "$d/bin/nvcc" ]; then export PATH="$d/bin:$PATH" CUDA_HOME=$d; break; fi
done
cudalib=""
[ -n "${CUDA_HOME:-}" ] && cudalib=$CUDA_HOME/lib64
# what pgask needs to find the backend (as Dockerfile.cuda sets it)
gpu_env=(OLLAMA_LIBRARY_PATH="$LIB/cuda_v12" LD_LIBRARY_PATH="$LIB:$LIB/cuda_v12${cudalib:+:$cudalib}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}")
model_path() { echo "$WORK/models/$1-q8_0.gguf"; }
cpu_only=0
[ "${GGML_CUDA:-ON}" = OFF ] && cpu_only=1

status_file=$RESULTS/status.txt
note() { printf '%s\n' "$*" | tee -a "$status_file"; }
phase() { printf '\n=== %s (%s)\n' "$*" "$(date -u +%H:%M:%S)"; }

# vram_run OUT CMD...: runs CMD with its output in OUT and appends the peak GPU memory seen by
# nvidia-smi while it ran: the process's own (when nvidia-smi shows this PID namespace's pids) and
# the device's used memory above what it was before.
vram_run() {
  local out=$1; shift
  local base=0 peak=0 dpeak=0 v
  if command -v nvidia-smi >/dev/null; then
    base=$(nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits | awk '{ s += $1 } END { print s + 0 }')
  fi
  "$@" >"$out" 2>&1 &
  local pid=$!
  if command -v nvidia-smi >/dev/null; then
    while kill -0 "$pid" 2>/dev/null; do
      v=$(nvidia-smi --query-compute-apps=pid,used_memory --format=csv,noheader,nounits 2>/dev/null |
        awk -F', *' -v p="$pid" '$1 == p { print $2 + 0 }' | head -1)
      [ -n "$v" ] && [ "$v" -gt "$peak" ] && peak=$v
      v=$(nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits | awk '{ s += $1 } END { print s + 0 }')
      [ "$((v - base))" -gt "$dpeak" ] && dpeak=$((v - base))
      sleep 0.3
    done
  fi
  wait "$pid"
  local rc=$?
  if command -v nvidia-smi >/dev/null; then
    echo "nvidia-smi: process peak ${peak} MiB, device peak above idle ${dpeak} MiB" >>"$out"
  fi
  return $rc
}

do_env() {
  phase "env"
  {
    date -u
    uname -a
    ldd --version 2>&1 | head -1
    echo "cores: $(nproc), memory: $(free -g 2>/dev/null | awk '/Mem:/ { print $2 " GiB" }'), disk free: $(df -h "$WORK" | awk 'NR == 2 { print $4 }')"
    if command -v nvidia-smi >/dev/null; then
      nvidia-smi --query-gpu=name,memory.total,driver_version,compute_cap --format=csv
      nvidia-smi 2>&1 | sed -n '1,12p'
    else
      echo "nvidia-smi: not found"
    fi
    for t in nvcc cmake ninja cc c++; do
      if command -v $t >/dev/null; then echo "$t: $($t --version 2>&1 | grep -m1 -E '[0-9]+\.[0-9]+')"; else echo "$t: not found"; fi
    done
    for t in initdb psql; do command -v $t >/dev/null && echo "$t: $(command -v $t)"; done
    ls -d /usr/lib/postgresql/*/bin 2>/dev/null
    cat "$STAGE/MANIFEST"
  } 2>&1 | tee "$RESULTS/env.txt"
  if "$BIN/pgask" --help >/dev/null && "$BIN/llama.test" -test.list 'TestGPUOffload' >/dev/null && "$BIN/testgguf" -n -o /dev/null >/dev/null; then
    note "env: the staged binaries run"
  else
    note "env: FAILED: a staged binary does not start here (C library too old? see MANIFEST)"
    return 1
  fi
}

do_build() {
  phase "build (build-cuda.sh)"
  local t0=$SECONDS
  local targets="ggml-cuda ggml-cpu refbench"
  [ $cpu_only = 1 ] && targets="ggml-cpu refbench"
  if TARGETS="$targets" bash "$STAGE/build-cuda.sh" "$STAGE/src" "$WORK/build" "$WORK/out" >"$RESULTS/build.log" 2>&1; then
    note "build: $targets built in $((SECONDS - t0)) s$(grep -m1 -o 'CUDA architectures.*' "$RESULTS/build.log" | sed 's/^/, /')"
  else
    tail -40 "$RESULTS/build.log"
    note "build: FAILED after $((SECONDS - t0)) s (see build.log)"
    return 1
  fi
  ls -l "$WORK/build/bin" "$LIB/cuda_v12" | tee -a "$RESULTS/build.log" | grep -E 'libggml|refbench'
}

do_models() {
  phase "models"
  local m preset want have
  for m in $MODELS; do
    preset=$m
    want=$("$BIN/testgguf" -preset "$preset" -n -o x | sed -n 's/.*weights, \([0-9]*\) bytes.*/\1/p')
    have=$(stat -c %s "$(model_path "$m")" 2>/dev/null || echo 0)
    if [ "$want" = "$have" ]; then
      note "models: $(model_path "$m") already there ($have bytes)"
      continue
    fi
    if "$BIN/testgguf" -preset "$preset" -o "$(model_path "$m")" | tee -a "$RESULTS/models.log"; then
      note "models: $(tail -1 "$RESULTS/models.log")"
    else
      note "models: FAILED to write $m"
      return 1
    fi
  done
  case " $MODELS " in
    *" 7b "*) ;;
    *) note "models: 7b left out; its size: $("$BIN/testgguf" -preset 7b -n -o "$(model_path 7b)")" ;;
  esac
}

# serve_log LABEL ARGS...: starts pgask serve with the small model until the ASK pipeline is ready
# (no upstream is contacted before a client connects), then stops it; the log is LABEL.log.
serve_log() {
  local label=$1; shift
  local log=$RESULTS/serve-$label.log
  env "$@" "$BIN/pgask" serve --upstream 127.0.0.1:9 --listen 127.0.0.1:0 --model "$(model_path small)" \
    --template sqlcoder-7b-2 --ask-grammar narrow --log-level info ${SERVE_ARGS:-} >"$log" 2>&1 &
  local pid=$! i
  for i in $(seq 1 120); do
    grep -q 'ASK ready' "$log" 2>/dev/null && break
    kill -0 $pid 2>/dev/null || break
    sleep 0.5
  done
  kill -INT $pid 2>/dev/null
  wait $pid 2>/dev/null
  grep -E 'offloaded|GPU backend|llama.cpp system|ASK ready|level=ERROR' "$log" | cut -c1-400
}

do_check() {
  phase "check: pgask uses the GPU, and falls back to the CPU"
  local small gpu=1 tests='^(TestGPUOffload|TestBackendFallback)$'
  small=$(model_path small)
  if [ $cpu_only = 1 ]; then
    gpu=0 tests='^TestBackendFallback$'
  fi
  (cd "$WORK" && env "${gpu_env[@]}" PGASK_TEST_GPU=$gpu PGASK_TEST_MODEL="$small" \
    "$BIN/llama.test" -test.run "$tests" -test.v -test.count 1) >"$RESULTS/check-tests.log" 2>&1
  local rc=$?
  grep -E -- '^(---|===|ok|PASS|FAIL)|offloaded|RESULT|level=WARN' "$RESULTS/check-tests.log" | grep -v 'special_eos_id\|n_ctx_seq' | cut -c1-300
  if [ $rc = 0 ]; then note "check: tests $tests passed"; else note "check: FAILED: tests $tests (see check-tests.log)"; fi

  echo "-- pgask serve, CUDA backend, all layers"
  SERVE_ARGS="--model-log-level info" serve_log gpu "${gpu_env[@]}"
  if [ $cpu_only = 1 ]; then
    note "check: pgask serve without a CUDA build: $(grep -o 'msg="offloaded [^"]*" why="[^"]*"' "$RESULTS/serve-gpu.log" | head -1)"
  elif grep -q 'offloaded [1-9][0-9]*/[0-9]* layers to GPU"' "$RESULTS/serve-gpu.log"; then
    note "check: pgask serve: $(grep -o 'msg="offloaded [^"]*" devices="[^"]*"' "$RESULTS/serve-gpu.log" | head -1)"
  else
    note "check: FAILED: pgask serve did not offload (serve-gpu.log)"
    rc=1
  fi
  grep -E 'ggml_cuda_init|Device 0|load_tensors:.*(CUDA|offload)|CUDA0 (model|KV|compute) buffer' "$RESULTS/serve-gpu.log" | cut -c1-300
  echo "-- pgask serve --gpu-layers 0"
  SERVE_ARGS="--gpu-layers 0" serve_log gpu0 "${gpu_env[@]}"
  grep -q 'offloaded 0/[0-9]* layers to GPU: the model runs on the CPU" why="gpu_layers is 0"' "$RESULTS/serve-gpu0.log" &&
    note "check: pgask serve --gpu-layers 0 runs on the CPU" ||
    { note "check: FAILED: --gpu-layers 0 (serve-gpu0.log)"; rc=1; }
  echo "-- pgask serve with a broken libggml-cuda.so"
  local bad=$WORK/broken/lib/ollama/cuda_v12
  mkdir -p "$bad" && : >"$bad/libggml-cuda.so"
  serve_log broken OLLAMA_LIBRARY_PATH="$bad"
  grep -q 'level=WARN msg="GPU backend library not used' "$RESULTS/serve-broken.log" && grep -q 'ASK ready' "$RESULTS/serve-broken.log" &&
    note "check: pgask serve with a broken library: warning and CPU" ||
    { note "check: FAILED: broken library (serve-broken.log)"; rc=1; }
  return $rc
}

# median of the numbers on stdin
median() { sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

# bench_pair NAME MODEL GPU_LAYERS: pgask's BenchmarkEngine, then refbench, on MODEL
bench_pair() {
  local name=$1 model=$2 ngl=$3 rc=0
  local ours=$RESULTS/bench-$name-pgask.txt ref=$RESULTS/bench-$name-llamacpp.txt
  echo "-- $name: pgask BenchmarkEngine (-count ${COUNT:-3}, ${BENCHTIME:-5x}, $THREADS threads, gpu layers $ngl)"
  (cd "$WORK" && vram_run "$ours" env "${gpu_env[@]}" PGASK_BENCH_MODEL="$model" PGASK_BENCH_THREADS="$THREADS" \
    PGASK_BENCH_GPU_LAYERS="$ngl" "$BIN/llama.test" -test.run '^$' -test.bench Engine \
    -test.benchtime "${BENCHTIME:-5x}" -test.count "${COUNT:-3}" -test.v) || rc=1
  grep -E '^Benchmark|offloaded|nvidia-smi' "$ours" | cut -c1-250
  echo "-- $name: llama.cpp (refbench, the same libggml-cuda.so, -r ${REPS:-5})"
  local refngl=$ngl
  [ "$ngl" -lt 0 ] && refngl=999
  (cd "$WORK" && vram_run "$ref" env LD_LIBRARY_PATH="${cudalib}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
    "$WORK/build/bin/refbench" -m "$model" -t "$THREADS" -c 1024 -r "${REPS:-5}" -ngl "$refngl") || rc=1
  cat "$ref"
  local t o r ov rv
  for t in pp512 tg64; do
    o=$(awk -v t="$t" '$1 ~ "/" t "-[0-9]+$" || $1 ~ "/" t "$" { for (i = 1; i < NF; i++) if ($(i + 1) == "t/s") print $i }' "$ours" | median)
    r=$(awk -v t="$t" '$1 == t { for (i = 1; i < NF; i++) if ($i == "median") print $(i + 1) }' "$ref")
    ov=$(awk '/^Benchmark/ { for (i = 1; i < NF; i++) if ($(i + 1) == "vram_MiB") print $i }' "$ours" | median)
    rv=$(awk -v t="$t" '$1 == t { for (i = 1; i < NF; i++) if ($i == "vram") print $(i + 1) }' "$ref")
    printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$name" "$t" "$o" "$r" \
      "$(awk -v a="$o" -v b="$r" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2f", a / b; else print "-" }')" \
      "${ov:--}" "${rv:--}" >>"$RESULTS/table.md"
  done
  command -v nvidia-smi >/dev/null &&
    printf '| %s | nvidia-smi peak MiB (process / device above idle) | %s | %s | | | |\n' "$name" \
    "$(grep -o 'process peak [0-9]* MiB, device peak above idle [0-9]* MiB' "$ours" | sed 's/process peak //; s/ MiB, device peak above idle / \/ /')" \
    "$(grep -o 'process peak [0-9]* MiB, device peak above idle [0-9]* MiB' "$ref" | sed 's/process peak //; s/ MiB, device peak above idle / \/ /')" >>"$RESULTS/table.md"
  return $rc
}

do_bench() {
  phase "bench: pgask vs llama.cpp, all layers offloaded (load before: $(cut -d' ' -f1-3 /proc/loadavg))"
  {
    echo "| model | test | pgask t/s | llama.cpp t/s | pgask ÷ llama.cpp | pgask VRAM MiB | llama.cpp VRAM MiB |"
    echo "|---|---|---|---|---|---|---|"
  } >"$RESULTS/table.md"
  local m rc=0
  for m in $MODELS; do
    [ -f "$(model_path "$m")" ] || { note "bench: no $(model_path "$m") (run the models phase)"; rc=1; continue; }
    bench_pair "$m" "$(model_path "$m")" -1 || rc=1
  done
  if [ "${CPU_BASELINE:-0}" = 1 ]; then
    bench_pair small-cpu "$(model_path small)" 0 || rc=1
  fi
  cat "$RESULTS/table.md"
  [ $rc = 0 ] && note "bench: done (table.md)" || note "bench: FAILED in part (see bench-*.txt)"
  return $rc
}

do_ask() {
  phase "ask: an ASK end to end through psql$([ $cpu_only = 1 ] || echo ', on the GPU')"
  local pgbin=${PGASK_PG_BIN:-}
  if [ -z "$pgbin" ]; then
    pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
    [ -z "$pgbin" ] && command -v initdb >/dev/null && pgbin=$(dirname "$(command -v initdb)")
  fi
  if [ -z "$pgbin" ] || [ ! -x "$pgbin/initdb" ] || ! command -v psql >/dev/null; then
    note "ask: SKIPPED: no PostgreSQL server binaries (PGASK_PG_BIN, /usr/lib/postgresql/*/bin, initdb on PATH) or no psql on this machine"
    return 0
  fi
  if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
    useradd --system --no-create-home postgres 2>/dev/null || true # PostgreSQL refuses to run as root
  fi
  local port=${ASK_PORT:-6543} log=$RESULTS/ask-demo.log audit=$RESULTS/ask-audit.jsonl
  rm -f "$audit"
  env "${gpu_env[@]}" PGASK_PG_BIN="$pgbin" "$BIN/pgask" demo --model "$(model_path small)" --template sqlcoder-7b-2 \
    --ask-grammar narrow --ask-max-tokens 96 --context-size 2048 --audit-file "$audit" \
    --listen "127.0.0.1:$port" --log-level info >"$log" 2>&1 &
  local pid=$! i
  for i in $(seq 1 240); do
    grep -q 'Press Ctrl-C' "$log" 2>/dev/null && break
    kill -0 $pid 2>/dev/null || break
    sleep 0.5
  done
  if ! grep -q 'Press Ctrl-C' "$log"; then
    tail -20 "$log"
    kill -INT $pid 2>/dev/null; wait $pid 2>/dev/null
    note "ask: FAILED: pgask demo did not come up (ask-demo.log)"
    return 1
  fi
  grep -E 'offloaded|PostgreSQL' "$log" | cut -c1-300
  {
    echo '\timing on'
    echo 'ASK how many customers are there;'
    for q in "how many products are there" "list the customers" "how many orders are there" "what are the product names" "show the orders"; do
      echo "ASK $q;"
    done
  } | PGCONNECT_TIMEOUT=10 psql -X -h 127.0.0.1 -p "$port" -U postgres shop >"$RESULTS/ask-psql.txt" 2>&1
  grep -E 'NOTICE|ERROR|HINT|^\([0-9]+ rows?\)|^Time:' "$RESULTS/ask-psql.txt" | cut -c1-200
  kill -INT $pid 2>/dev/null
  wait $pid 2>/dev/null
  echo "-- latency split (audit log, ms; the first ASK loads the schema and fills the KV cache)"
  {
    echo "| # | outcome | total | introspect | queue | prompt | generate | check | execute | prompt tokens (reused) | generated |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|"
    awk '{
      n++; line = $0; out = "";
      split("outcome total_ms introspect_ms queue_ms prompt_ms generate_ms check_ms execute_ms prompt_tokens reused_tokens generated_tokens", k, " ")
      for (i = 1; i <= 11; i++) {
        v = "-"
        if (match(line, "\"" k[i] "\":\"?[^,\"}]*")) { v = substr(line, RSTART, RLENGTH); sub(/^[^:]*:"?/, "", v) }
        f[i] = v
      }
      printf "| %d | %s | %s | %s | %s | %s | %s | %s | %s | %s (%s) | %s |\n", n, f[1], f[2], f[3], f[4], f[5], f[6], f[7], f[8], f[9], f[10], f[11]
    }' "$audit"
  } | tee "$RESULTS/ask-latency.md"
  local where="on the GPU"
  [ $cpu_only = 1 ] && where="on the CPU (dry run)"
  if grep -q '"outcome":"ok"' "$audit" 2>/dev/null && { [ $cpu_only = 1 ] || grep -q 'offloaded [1-9][0-9]*/' "$log"; }; then
    note "ask: $(grep -c '"outcome":"ok"' "$audit") ASKs answered through psql with the model $where (ask-latency.md)"
  else
    note "ask: FAILED: no ASK answered on the GPU (ask-demo.log, ask-psql.txt)"
    return 1
  fi
}

summary() {
  {
    echo "# pgask on a GPU: $(date -u +%Y-%m-%d)"
    echo
    echo "Machine: $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
    if command -v nvidia-smi >/dev/null; then
      echo "GPU: $(nvidia-smi --query-gpu=name,memory.total,driver_version,compute_cap --format=csv,noheader | head -1); CUDA $(nvcc --version 2>/dev/null | sed -n 's/.*release \([0-9.]*\).*/\1/p'); $THREADS CPU threads"
    fi
    echo
    sed 's/^/- /' "$status_file"
    if [ -f "$RESULTS/table.md" ]; then echo; cat "$RESULTS/table.md"; fi
    if [ -f "$RESULTS/ask-latency.md" ]; then echo; echo "ASK latency split (ms):"; echo; cat "$RESULTS/ask-latency.md"; fi
  } >"$RESULTS/summary.md"
  phase "summary ($RESULTS/summary.md)"
  cat "$RESULTS/summary.md"
}

phases=("$@")
[ ${#phases[@]} = 0 ] && phases=(env build models check bench ask)
note "run.sh ${phases[*]} at $(date -u +%Y-%m-%dT%H:%M:%SZ)$([ $cpu_only = 1 ] && echo ', GGML_CUDA=OFF: dry run without a GPU')"
failed=0
for p in "${phases[@]}"; do
  case $p in
    env | build | models | check | bench | ask) "do_$p" || failed=1 ;;
    *) echo "run.sh: unknown phase $p (env build models check bench ask)" >&2; exit 2 ;;
  esac
done
summary
exit $failed
