#!/usr/bin/env bash
# The anchor of the accuracy benchmark: defog's own sql-eval harness, its llama.cpp runner
# (runners/llama_cpp_runner.py, through llama-cpp-python) and its scoring, on one GGUF model and
# the two sql-eval question files pgask is evaluated on.
#
#   bench/accuracy/anchor.sh MODEL.gguf OUT_DIR
#
# Needs a PostgreSQL with the defog databases loaded (each <db>.sql of defog-data in a database
# named <db>), named by PGHOST (TCP, default localhost), PGPORT, PGUSER, PGPASSWORD.
# Environment (see also sqleval_env.sh: SQL_EVAL_DIR, DEFOG_DATA_DIR, PGASK_BENCH_CACHE, ...):
#   MODEL_NAME        name in the outputs (default: gemma3-270m / smollm2-135m from the file
#                     name, else the file name without .gguf)
#   ANCHOR_TEMPLATE   llama3 | gemma | chatml | auto (default auto: from the file name). sql-eval's
#                     prompts/prompt.md is Llama 3's chat format; for other families the same
#                     prompt is re-wrapped in the model's turn markers by anchor_prompt.py.
#   QUESTIONS_DIR     folder with instruct_basic_postgres.csv and instruct_advanced_postgres.csv
#                     (default ../shared/sql-eval next to the repository, else $SQL_EVAL_DIR/data)
#   ANCHOR_NUM_QUESTIONS  only the first N questions of each file (sql-eval's -n), for a smoke run
#   ANCHOR_FILES      question files to run instead of the two above (paths, space-separated)
#
# Writes into OUT_DIR:
#   sqleval-<model>-instruct_{basic,advanced}_postgres.csv   sql-eval's own per-question output
#   anchor-<model>.jsonl          one object per question: file, line, db_name, query_category,
#                                 question, generated_sql, correct, exact_match, executable,
#                                 error, latency_ms
#   anchor-<model>.summary.json   accuracy (overall, per file, per category), executable rate,
#                                 latency p50/p90, versions, command line, wall time
#   anchor-<model>.log            the runner's output, prompt-<template>.md the prompt file used
# Exit status: 0 done, 1 failure, 2 usage, 3 sql-eval (or defog-data) not available.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

if [ $# -ne 2 ]; then
  sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
  exit 2
fi
MODEL_PATH=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
OUT_DIR=$2
[ -f "$MODEL_PATH" ] || { echo "anchor: no model file $1" >&2; exit 2; }
mkdir -p "$OUT_DIR"
OUT_DIR=$(cd "$OUT_DIR" && pwd)

base=$(basename "$MODEL_PATH" .gguf)
lc=$(tr '[:upper:]' '[:lower:]' <<<"$base")
case $lc in
  *gemma-3-270m* | *gemma3-270m*) name=gemma3-270m ;;
  *smollm2-135m*) name=smollm2-135m ;;
  *) name=$base ;;
esac
MODEL_NAME=${MODEL_NAME:-$name}
TEMPLATE=${ANCHOR_TEMPLATE:-auto}
if [ "$TEMPLATE" = auto ]; then
  case $lc in
    *gemma*) TEMPLATE=gemma ;;
    *smollm* | *qwen* | *chatml*) TEMPLATE=chatml ;;
    *) TEMPLATE=llama3 ;;
  esac
fi

# shellcheck source=sqleval_env.sh
. "$HERE/sqleval_env.sh"
sqleval_setup --llama

if [ -z "${QUESTIONS_DIR:-}" ]; then
  QUESTIONS_DIR=$SQL_EVAL_DIR/data
  shared=$(cd "$HERE/../../.." && pwd)/shared/sql-eval
  [ -f "$shared/instruct_basic_postgres.csv" ] && QUESTIONS_DIR=$shared
fi
QFILES=() OFILES=() PAIRS=()
# ANCHOR_FILES: other question files (paths, space-separated), e.g. the demo shop's
# internal/demodb/questions.csv (its database must be loaded as "shop").
for q in ${ANCHOR_FILES:-$QUESTIONS_DIR/instruct_basic_postgres.csv $QUESTIONS_DIR/instruct_advanced_postgres.csv}; do
  [ -f "$q" ] || { echo "anchor: no question file $q" >&2; exit 1; }
  q=$(cd "$(dirname "$q")" && pwd)/$(basename "$q")
  f=$(basename "$q")
  QFILES+=("$q")
  OFILES+=("$OUT_DIR/sqleval-$MODEL_NAME-$f")
  PAIRS+=("$q=$OUT_DIR/sqleval-$MODEL_NAME-$f")
done

# pre-flight: every database the questions name must answer
"$VENV_PY" - "${QFILES[@]}" <<'PYEOF'
import os, sys
import pandas as pd, psycopg2
dbs = sorted({d for f in sys.argv[1:] for d in pd.read_csv(f)["db_name"]})
for db in dbs:
    try:
        psycopg2.connect(host=os.environ["DBHOST"], port=os.environ["DBPORT"], user=os.environ["DBUSER"],
                         password=os.environ["DBPASSWORD"], dbname=db, connect_timeout=10).close()
    except Exception as e:
        sys.exit(f"anchor: cannot connect to database {db} at {os.environ['DBHOST']}:{os.environ['DBPORT']}: {e}")
print(f"anchor: databases ok: {' '.join(dbs)}", file=sys.stderr)
PYEOF

# databases that defog-data does not describe (the demo shop): their schema, read from the database
"$VENV_PY" "$HERE/anchor_metadata.py" "${QFILES[@]}"

PROMPT=$OUT_DIR/prompt-$TEMPLATE.md
"$VENV_PY" "$HERE/anchor_prompt.py" "$TEMPLATE" "$SQL_EVAL_DIR/prompts/prompt.md" "$PROMPT"

CMD=("$VENV_PY" main.py -db postgres -g llama_cpp -m "$MODEL_PATH" -f "$PROMPT"
  -q "${QFILES[@]}" -o "${OFILES[@]}")
[ -n "${ANCHOR_NUM_QUESTIONS:-}" ] && CMD+=(-n "$ANCHOR_NUM_QUESTIONS")
LLAMA_VERSION=$("$VENV_PY" -c 'import llama_cpp; print(llama_cpp.__version__)')
SQL_EVAL_REV=$(git -C "$SQL_EVAL_DIR" rev-parse HEAD 2>/dev/null || echo unknown)
DEFOG_DATA_REV=$(git -C "$DEFOG_DATA_DIR" rev-parse HEAD 2>/dev/null || echo unknown)

echo "anchor: $MODEL_NAME ($MODEL_PATH), template $TEMPLATE, llama-cpp-python $LLAMA_VERSION, sql-eval $SQL_EVAL_REV" >&2
echo "anchor: (cd $SQL_EVAL_DIR && DBHOST=$DBHOST DBPORT=$DBPORT DBUSER=$DBUSER ${CMD[*]})" >&2
rm -f "${OFILES[@]}"
start=$(date +%s.%N) load_start=$(cut -d' ' -f1-3 /proc/loadavg)
set +e
(cd "$SQL_EVAL_DIR" && PYTHONUNBUFFERED=1 exec "${CMD[@]}") 2>&1 | tee "$OUT_DIR/anchor-$MODEL_NAME.log" >&2
rc=${PIPESTATUS[0]}
set -e
if [ "$rc" != 0 ]; then
  echo "anchor: sql-eval's runner failed, exit status $rc (log: $OUT_DIR/anchor-$MODEL_NAME.log)" >&2
  [ "$rc" = 139 ] && echo "anchor: a segmentation fault at the first question can be a llama-cpp-python" \
    "built with -DGGML_NATIVE=ON on a CPU with AMX: remove $BENCH_CACHE/venv and run again with the" \
    "default CMAKE_ARGS" >&2
  exit 1
fi
wall=$(python3 -c "import sys; print(round(float(sys.argv[2]) - float(sys.argv[1]), 1))" "$start" "$(date +%s.%N)")

python3 "$HERE/anchor_report.py" --model "$MODEL_NAME" \
  --jsonl "$OUT_DIR/anchor-$MODEL_NAME.jsonl" --summary "$OUT_DIR/anchor-$MODEL_NAME.summary.json" \
  --meta "model_path=$MODEL_PATH" --meta "model_sha256=$(sha256sum "$MODEL_PATH" | cut -d' ' -f1)" \
  --meta "template=$TEMPLATE" --meta "llama_cpp_python=$LLAMA_VERSION" \
  --meta "sql_eval_commit=$SQL_EVAL_REV" --meta "defog_data_commit=$DEFOG_DATA_REV" \
  --meta "command=cd $SQL_EVAL_DIR && ${CMD[*]}" --meta "wall_s=$wall" \
  --meta "loadavg_start=$load_start" --meta "loadavg_end=$(cut -d' ' -f1-3 /proc/loadavg)" \
  --meta "cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //') x$(nproc)" \
  "${PAIRS[@]}"
echo "anchor: wall ${wall}s; results in $OUT_DIR" >&2
