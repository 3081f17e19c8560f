#!/usr/bin/env bash
# Verified pairs (pgask.examples) measured on a real model. The questions (the demo shop's ten
# and sql-eval's questions on one defog database, DB, both files) are split by their row in each
# file: even rows are "taught" (their gold pairs imported with `pgask examples import`), odd
# rows are "held out". Then, through pgask with the model loaded:
#   (a) taught.jsonl      the taught questions asked again: each must be answered from its pair,
#                         right, with no model time;
#   (b) with.jsonl        the held-out questions with the taught pairs shown as worked examples
#       without.jsonl     the same questions with --ask-example-budget 0 (no pairs shown)
# and report.md: accuracy of each, and the paired won/lost of (b).
#
#   MODEL=smollm2-135m bench/accuracy/examples.sh
#
# Environment: MODEL (gemma3-270m or smollm2-135m), DB (default broker), THREADS (default 1),
# MAX_TOKENS (160), OUT (default bench/accuracy/results-examples/$MODEL), SHARED (as run.sh),
# RUNS (default "taught with without"; a run left out keeps its .jsonl already in $OUT, e.g. a
# without.jsonl copied from an earlier run: it shows no pairs, so the ranking does not matter).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
MODEL=${MODEL:-smollm2-135m}
DB=${DB:-broker}
THREADS=${THREADS:-1}
MAX_TOKENS=${MAX_TOKENS:-160}
OUT=${OUT:-$ROOT/bench/accuracy/results-examples/$MODEL}
SHARED=${SHARED:-$ROOT/../shared}
[ -d "$SHARED/sql-eval" ] || SHARED=$ROOT/testdata

step() { printf '\n=== %s (%s)\n' "$*" "$(date -u +%H:%M:%S)" >&2; }

step "model"
path=$(bash bench/accuracy/models.sh "$MODEL" | awk '{print $2}')
step "build"
make -s build
mkdir -p "$OUT"
PGASK="$OUT/pgask"
cp bin/pgask "$PGASK"

step "questions"
python3 - "$OUT" "$DB" "$ROOT/internal/demodb/questions.csv" "$SHARED/sql-eval/instruct_basic_postgres.csv" "$SHARED/sql-eval/instruct_advanced_postgres.csv" <<'EOF'
import csv, sys
out, db, files = sys.argv[1], sys.argv[2], sys.argv[3:]
cols = ["db_name", "query_category", "question", "query"]
w = {k: csv.DictWriter(open(f"{out}/{k}.csv", "w", newline=""), fieldnames=cols, extrasaction="ignore") for k in ("taught", "heldout")}
for x in w.values():
    x.writeheader()
n = {"taught": 0, "heldout": 0}
for f in files:
    rows = [r for r in csv.DictReader(open(f, newline="")) if r["db_name"] in ("shop", db)]
    for i, r in enumerate(rows):
        k = "taught" if i % 2 == 0 else "heldout"
        w[k].writerow(r)
        n[k] += 1
print(n, file=sys.stderr)
EOF

step "PostgreSQL with shop and $DB"
# shellcheck source=../pg.sh
source bench/pg.sh
pg_setup pgask-examples
PORT=$(free_port)
pg_start "$PORT" "fsync = off"
"${AS[@]}" "$PGBIN/psql" -q -h "$TMP" -p "$PORT" -U postgres -c "CREATE DATABASE $DB" -c "CREATE DATABASE shop" >/dev/null
"${AS[@]}" "$PGBIN/psql" -q -h "$TMP" -p "$PORT" -U postgres -d "$DB" -v ON_ERROR_STOP=1 -f "$SHARED/defog-data/$DB/$DB.sql" >/dev/null
"${AS[@]}" "$PGBIN/psql" -q -h "$TMP" -p "$PORT" -U postgres -d shop -v ON_ERROR_STOP=1 -f - <internal/demodb/shop.sql >/dev/null
URL="postgres://postgres@127.0.0.1:$PORT/postgres?sslmode=disable"

step "pgask init and examples import"
for d in shop "$DB"; do "$PGASK" init --url "postgres://postgres@127.0.0.1:$PORT/$d?sslmode=disable"; done
"$PGASK" examples import --url "$URL" "$OUT/taught.csv" | tee "$OUT/import.txt"

ev() { # output, questions, flags…
  local o=$1 q=$2
  shift 2
  "$PGASK" eval --in-process --url "$URL" --model "$path" --threads "$THREADS" \
    --ask-max-tokens "$MAX_TOKENS" --log-level warn --quiet --timeout 20m --ask-generation-timeout 0 \
    "$@" -o "$OUT/$o.jsonl" "$OUT/$q.csv" >&2
}
RUNS=${RUNS:-taught with without}
for r in $RUNS; do
  case $r in
    taught) step "(a) taught questions"; ev taught taught ;;
    with) step "(b) held-out questions with the taught pairs as examples"; ev with heldout ;;
    without) step "(b) held-out questions without examples"; ev without heldout --ask-example-budget 0 ;;
  esac
done

python3 - "$OUT" "$MODEL" "$DB" <<'EOF' | tee "$OUT/report.md"
import json, sys
out, model, db = sys.argv[1:]
def load(n):
    return {(r["db_name"], r["question"]): r for r in map(json.loads, open(f"{out}/{n}.jsonl"))}
t, w, wo = load("taught"), load("with"), load("without")
ex = sum(1 for r in t.values() if (r.get("ask") or {}).get("example"))
gen = sum((r.get("ask") or {}).get("generation_ms", 0) + (r.get("ask") or {}).get("prompt_eval_ms", 0) for r in t.values())
tok = sum((r.get("ask") or {}).get("generated_tokens", 0) for r in t.values())
ok = sum(r["correct"] for r in t.values())
print(f"### {model}: shop and {db}, even rows taught, odd rows held out\n")
print("| set | questions | correct | answered from a pair | model time (prompt + generation) | generated tokens |")
print("|---|---|---|---|---|---|")
print(f"| (a) taught, asked again | {len(t)} | {ok} | {ex} | {gen:.0f} ms | {tok} |")
for name, d in (("(b) held out, pairs shown", w), ("(b) held out, no pairs (--ask-example-budget 0)", wo)):
    g = sum((r.get("ask") or {}).get("generation_ms", 0) for r in d.values())
    print(f"| {name} | {len(d)} | {sum(r['correct'] for r in d.values())} | {sum(1 for r in d.values() if (r.get('ask') or {}).get('example'))} | {g/1000:.0f} s generation | {sum((r.get('ask') or {}).get('generated_tokens', 0) for r in d.values())} |")
won = [k for k in w if k in wo and w[k]["correct"] and not wo[k]["correct"]]
lost = [k for k in w if k in wo and not w[k]["correct"] and wo[k]["correct"]]
print(f"\nPaired, held-out questions, pairs shown vs not: won {len(won)}, lost {len(lost)} (of {len(w)}).")
for k in won:
    print(f"- won: {k[0]}: {k[1]}")
for k in lost:
    print(f"- lost: {k[0]}: {k[1]}")
EOF
