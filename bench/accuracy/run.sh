#!/usr/bin/env bash
# The accuracy benchmark: real GGUF models answer sql-eval's questions through pgask, in every
# configuration below, and beside them defog's own sql-eval harness drives llama.cpp (through
# llama-cpp-python) on the same model and questions (the anchor). Writes, under $OUT:
#   <model>/<config>.jsonl   one record per question (pgask eval --out, with pgask's own timings)
#   <model>/anchor.jsonl     the anchor's answers, when it could run
#   <model>/crosscheck.jsonl sql-eval's own verdict on pgask's default answers (the scorer check)
#   report.md                the tables: accuracy, paired won/lost against the default, latency
#                            split by phase, tokens, throughput, grammar fallbacks, per category
#
#   bench/accuracy/run.sh                         # both models, every configuration, 104 questions
#   MODELS=smollm2-135m CONFIGS="default off" LIMIT=20 bench/accuracy/run.sh   # a quick look
#
# Environment: MODELS (gemma3-270m smollm2-135m), CONFIGS (see config_flags; CONFIGS_<model>, with
# _ for - and ., sets one model's, e.g. CONFIGS_gemma3_270m), LIMIT (questions
# per file, 0 = all), THREADS (decode threads, default 2), MAX_TOKENS (default 160), QTIMEOUT
# (pgask eval's per-question timeout, default 20m; the generation timeout is off), OUT
# (default bench/accuracy/results), FILES (question files: sql-eval's two, and shop for the demo
# shop's ten simple questions; default all three), SHARED (folder with sql-eval/ and defog-data/, default
# ../shared, else the repository's testdata/), ANCHOR (1 = run the anchor, 0 = skip), SQL_EVAL_DIR (a sql-eval checkout), PGASK_BIN (a pgask
# binary to use instead of building this tree).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
MODELS=${MODELS:-"gemma3-270m smollm2-135m"}
CONFIGS=${CONFIGS:-"default plain grammar-off grammar-narrow repairs-0 budget-512 template-alt"}
LIMIT=${LIMIT:-0}
THREADS=${THREADS:-2}
MAX_TOKENS=${MAX_TOKENS:-160}
QTIMEOUT=${QTIMEOUT:-20m}
OUT=${OUT:-$ROOT/bench/accuracy/results}
SHARED=${SHARED:-$ROOT/../shared}
# A clone without ../shared uses the repository's own copy (testdata/: the defog databases and
# sql-eval's question files, unchanged).
[ -d "$SHARED/sql-eval" ] || SHARED=$ROOT/testdata
ANCHOR=${ANCHOR:-1}
FILES=(${FILES:-instruct_basic_postgres.csv instruct_advanced_postgres.csv shop})

[ -d "$SHARED/sql-eval" ] && [ -d "$SHARED/defog-data" ] || {
  echo "need \$SHARED/sql-eval and \$SHARED/defog-data (SHARED=$SHARED)" >&2; exit 1; }

# Flags of each configuration, on top of pgask's defaults. "plain" is the SQLCoder prompt with
# the full DDL, no grammar and no repair: the baseline the issue names when the anchor cannot run.
# "template-alt" is the other prompt family: instruct (the model's chat template) for a model
# whose default is the SQLCoder completion prompt, and SQLCoder's for one whose default is
# instruct (both schema first, as pgask's defaults). "question-first" is the default family in
# its question-first layout (instruct, sqlcoder-7b-2), "schema-first" the schema-first one
# explicitly. "values-off", "empty-repair-off", "vote-always", "vote-fallback": ask.values,
# ask.empty-repair and ask.vote against their defaults; "values-lookup" is ask.values with the
# pg_trgm look-up (ask.values-lookup).
config_flags() {
  case "$1" in
    default) ;;
    plain) echo "--template sqlcoder-7b-2 --ask-schema-budget 0 --ask-grammar off --ask-max-repairs 0" ;;
    grammar-schema) echo "--ask-grammar schema" ;;
    grammar-identifiers) echo "--ask-grammar identifiers" ;;
    grammar-off) echo "--ask-grammar off" ;;
    grammar-narrow) echo "--ask-grammar narrow" ;;
    repairs-0) echo "--ask-max-repairs 0" ;;
    repairs-2) echo "--ask-max-repairs 2" ;;
    budget-512) echo "--ask-schema-budget 512" ;;
    budget-0) echo "--ask-schema-budget 0" ;;
    values-off) echo "--ask-values=false" ;;
    values) echo "--ask-values=true" ;;
    values-lookup) echo "--ask-values=true --ask-values-lookup=true" ;;
    empty-repair-off) echo "--ask-empty-repair=false" ;;
    empty-repair) echo "--ask-empty-repair=true" ;;
    schema-first) case $2 in instruct*) echo "--template instruct-schema-first" ;; *) echo "--template sqlcoder-7b-2-schema-first" ;; esac ;;
    question-first) case $2 in instruct*) echo "--template instruct" ;; *) echo "--template sqlcoder-7b-2" ;; esac ;;
    vote-always) echo "--ask-vote always" ;;
    vote-fallback) echo "--ask-vote fallback" ;;
    template-alt) case $2 in instruct*) echo "--template sqlcoder-7b-2-schema-first" ;; *) echo "--template instruct-schema-first" ;; esac ;;
    *) echo "unknown configuration $1" >&2; return 1 ;;
  esac
}

step() { printf '\n=== %s (%s)\n' "$*" "$(date -u +%H:%M:%S)" >&2; }

step "models"
declare -A MODEL_PATH
while read -r name path; do MODEL_PATH[$name]=$path; done < <(bash bench/accuracy/models.sh)

mkdir -p "$OUT"
# The runs use a copy, so that a rebuild while they go on cannot mix binaries. PGASK_BIN names
# a binary built before (of another commit) to use instead of building this tree.
PGASK="$OUT/pgask"
if [ -n "${PGASK_BIN:-}" ]; then
  cp "$PGASK_BIN" "$PGASK"
else
  step "build"
  make -s build
  cp bin/pgask "$PGASK"
fi

step "PostgreSQL with the defog databases"
# shellcheck source=../pg.sh
source bench/pg.sh
pg_setup pgask-accuracy
PORT=$(free_port)
pg_start "$PORT" "fsync = off
max_connections = 50"
for d in "$SHARED"/defog-data/*/; do
  db=$(basename "$d")
  "${AS[@]}" "$PGBIN/psql" -q -h "$TMP" -p "$PORT" -U postgres -c "CREATE DATABASE $db" >/dev/null
  "${AS[@]}" "$PGBIN/psql" -q -h "$TMP" -p "$PORT" -U postgres -d "$db" -v ON_ERROR_STOP=1 -f "$d/$db.sql" >/dev/null
done
# The demo shop and its ten simple questions (internal/demodb): what these small models can answer.
"${AS[@]}" "$PGBIN/psql" -q -h "$TMP" -p "$PORT" -U postgres -c "CREATE DATABASE shop" >/dev/null
"${AS[@]}" "$PGBIN/psql" -q -h "$TMP" -p "$PORT" -U postgres -d shop -v ON_ERROR_STOP=1 -f - <internal/demodb/shop.sql >/dev/null
# Statistics, as autovacuum keeps them on a real database: pg_stats is where pgask reads the
# values it shows the model (ask.values), and a freshly loaded database has none.
# pg_trgm too, for the values-lookup configuration (ask.values-lookup looks values up with it
# where it exists; the other configurations do not use it).
for d in "$SHARED"/defog-data/*/ shop; do
  "${AS[@]}" "$PGBIN/psql" -q -h "$TMP" -p "$PORT" -U postgres -d "$(basename "$d")" -c ANALYZE \
    -c "CREATE EXTENSION IF NOT EXISTS pg_trgm" >/dev/null
done
URL="postgres://postgres@127.0.0.1:$PORT/postgres?sslmode=disable"
qfile() { if [ "$1" = shop ]; then echo "$ROOT/internal/demodb/questions.csv"; else echo "$SHARED/sql-eval/$1"; fi; }

mkdir -p "$OUT"
for model in $MODELS; do
  path=${MODEL_PATH[$model]:-}
  [ -n "$path" ] || { echo "unknown model $model (models.sh knows: ${!MODEL_PATH[*]})" >&2; exit 1; }
  dir="$OUT/$model"
  mkdir -p "$dir"
  # The template pgask picks for this model (for template-alt): the Gemma GGUF has no chat
  # template (it is the base model), so pgask gives it the SQLCoder completion prompt.
  case $model in gemma*) picked=sqlcoder-7b-2-schema-first ;; *) picked=instruct-schema-first ;; esac
  cfgs_var="CONFIGS_${model//[-.]/_}"
  for cfg in ${!cfgs_var:-$CONFIGS}; do
    flags=$(config_flags "$cfg" "$picked")
    step "$model: $cfg ($flags)"
    : >"$dir/$cfg.jsonl"
    for f in "${FILES[@]}"; do
      # shellcheck disable=SC2086
      # No generation timeout and a long per-question one: on a loaded machine a timeout
      # would turn a slow answer into a wrong one, and the comparison into one of load.
      "$PGASK" eval --in-process --url "$URL" --model "$path" --threads "$THREADS" \
        --ask-max-tokens "$MAX_TOKENS" --limit "$LIMIT" --log-level warn --quiet \
        --timeout "$QTIMEOUT" --ask-generation-timeout 0 \
        $flags -o "$dir/$cfg.part" "$(qfile "$f")" >&2
      cat "$dir/$cfg.part" >>"$dir/$cfg.jsonl"
    done
    rm -f "$dir/$cfg.part"
  done
  if [ "$ANCHOR" = 1 ]; then
    step "$model: anchor (sql-eval's llama.cpp runner through llama-cpp-python)"
    anchor_env=(PGHOST=127.0.0.1 PGPORT="$PORT" PGUSER=postgres)
    [ "$LIMIT" -gt 0 ] && anchor_env+=(ANCHOR_NUM_QUESTIONS="$LIMIT")
    qfiles=()
    for f in "${FILES[@]}"; do qfiles+=("$(qfile "$f")"); done
    anchor_env+=(ANCHOR_FILES="${qfiles[*]}")
    if env "${anchor_env[@]}" bash bench/accuracy/anchor.sh "$path" "$dir/anchor" >&2; then
      cp "$dir/anchor/anchor-$model.jsonl" "$dir/anchor.jsonl"
    else
      echo "the anchor could not run for $model (above); the report pairs with 'plain' instead" >&2
    fi
    if [ -f "$dir/default.jsonl" ]; then
      step "$model: sql-eval's comparison applied to pgask's default answers (scorer cross-check)"
      env "${anchor_env[@]}" python3 bench/accuracy/sqleval_score.py --out "$dir/crosscheck.jsonl" \
        "$dir/default.jsonl" 2>"$dir/crosscheck.txt" || echo "cross-check failed: $(tail -3 "$dir/crosscheck.txt")" >&2
    fi
  fi
done

step "report"
{
  echo "# Accuracy benchmark ($(date -u +%Y-%m-%d), $(nproc) cores, THREADS=$THREADS, MAX_TOKENS=$MAX_TOKENS, LIMIT=$LIMIT)"
  echo
  echo "Command: \`MODELS=\"$MODELS\" CONFIGS=\"$CONFIGS\" LIMIT=$LIMIT bench/accuracy/run.sh\`"
  echo
  for model in $MODELS; do
    dir="$OUT/$model"
    files=()
    cfgs_var="CONFIGS_${model//[-.]/_}"
    for cfg in ${!cfgs_var:-$CONFIGS}; do files+=("$dir/$cfg.jsonl"); done
    [ -f "$dir/anchor.jsonl" ] && files+=("$dir/anchor.jsonl")
    go run ./bench/accuracy/report -title "$model" -baseline default "${files[@]}"
    if [ -f "$dir/crosscheck.txt" ]; then
      echo "sql-eval's comparison on pgask's default answers:"
      echo '```'
      cat "$dir/crosscheck.txt"
      echo '```'
      echo
    fi
  done
} >"$OUT/report.md"
cat "$OUT/report.md"
