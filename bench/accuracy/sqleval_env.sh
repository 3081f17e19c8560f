#!/usr/bin/env bash
# The Python side of the sql-eval anchor: a venv with sql-eval's dependencies (and, on request,
# llama-cpp-python), a checkout of defog's sql-eval and of defog-data (sql-eval's prompt builder
# imports the schema metadata from the defog_data package). Nothing of either is copied into
# this repository: they are imported from their checkouts at run time.
#
# Sourced:  . bench/accuracy/sqleval_env.sh; sqleval_setup [--llama]
#           exports SQL_EVAL_DIR, DEFOG_DATA_DIR, VENV_PY, and sql-eval's DB* variables from PG*
# Run:      bench/accuracy/sqleval_env.sh [--llama]   (sets up, prints the variables)
#
# Environment:
#   SQL_EVAL_DIR     checkout of github.com/defog-ai/sql-eval at $SQL_EVAL_COMMIT (default: cloned
#                    into the cache; exit 3 when that is impossible)
#   DEFOG_DATA_DIR   checkout of github.com/defog-ai/defog-data at $DEFOG_DATA_COMMIT (same)
#   PGASK_BENCH_CACHE  cache folder (default ~/.cache/pgask/bench): venv/, sql-eval/, defog-data/
#   LLAMA_CPP_PYTHON   pip requirement for llama-cpp-python (default llama-cpp-python==0.3.36)
#   CMAKE_ARGS       passed to llama-cpp-python's build (default: upstream's portable x86-64-v3 set,
#                    GGML_NATIVE=OFF with AVX/AVX2/FMA/F16C/BMI2, as bench/engine/reference builds
#                    llama.cpp. A GGML_NATIVE=ON build on a CPU that reports AMX compiles ggml's AMX
#                    kernels, and with llama-cpp-python 0.3.36 they crashed (SIGSEGV in
#                    ggml_backend_amx_mul_mat) on the first decode in our VM)
#   PGHOST PGPORT PGUSER PGPASSWORD  the PostgreSQL holding the defog databases (TCP host)

SQL_EVAL_COMMIT=${SQL_EVAL_COMMIT:-c7986a7}       # last commit with runners/llama_cpp_runner.py
DEFOG_DATA_COMMIT=${DEFOG_DATA_COMMIT:-856295d}   # the defog-data pgask's sample files come from
BENCH_CACHE=${PGASK_BENCH_CACHE:-$HOME/.cache/pgask/bench}
# The sql-eval requirements.txt pins numpy and pandas; the rest is what the llama.cpp runner,
# eval/eval.py and utils/{gen_prompt,questions,dialects,reporting}.py import (dialects imports openai).
SQLEVAL_PIP_DEPS=("numpy==2.1.2" "pandas==2.2.3" "sqlalchemy<2.1" psycopg2-binary func_timeout
  sqlglot sqlparse tqdm requests openai)

LLAMA_CMAKE_ARGS_DEFAULT="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON"

_sqleval_die3() { echo "sqleval_env: $*" >&2; exit 3; }

# _sqleval_checkout VAR URL COMMIT DIR: VAR names an existing checkout, else clone URL into DIR
_sqleval_checkout() {
  local var=$1 url=$2 commit=$3 dir=$4
  if [ -n "${!var:-}" ]; then
    [ -d "${!var}" ] || _sqleval_die3 "$var=${!var} is not a directory"
    return 0
  fi
  if [ ! -d "$dir/.git" ]; then
    echo "sqleval_env: $var unset, cloning $url into $dir" >&2
    rm -rf "$dir"
    git clone -q "$url" "$dir" >&2 ||
      _sqleval_die3 "cannot clone $url (no network to GitHub?). Set $var to a checkout of $url at commit $commit."
  fi
  git -C "$dir" checkout -q "$commit" ||
    _sqleval_die3 "$dir has no commit $commit. Set $var to a checkout of $url at commit $commit."
  printf -v "$var" %s "$dir"
}

sqleval_setup() {
  local want_llama=0
  [ "${1:-}" = --llama ] && want_llama=1
  mkdir -p "$BENCH_CACHE"

  _sqleval_checkout SQL_EVAL_DIR https://github.com/defog-ai/sql-eval "$SQL_EVAL_COMMIT" "$BENCH_CACHE/sql-eval"
  _sqleval_checkout DEFOG_DATA_DIR https://github.com/defog-ai/defog-data "$DEFOG_DATA_COMMIT" "$BENCH_CACHE/defog-data"
  SQL_EVAL_DIR=$(cd "$SQL_EVAL_DIR" && pwd) DEFOG_DATA_DIR=$(cd "$DEFOG_DATA_DIR" && pwd)
  [ -f "$SQL_EVAL_DIR/eval/eval.py" ] || _sqleval_die3 "$SQL_EVAL_DIR is not a sql-eval checkout (no eval/eval.py)"
  [ -f "$DEFOG_DATA_DIR/defog_data/metadata.py" ] || _sqleval_die3 "$DEFOG_DATA_DIR is not a defog-data checkout"
  if [ $want_llama = 1 ] && [ ! -f "$SQL_EVAL_DIR/runners/llama_cpp_runner.py" ]; then
    _sqleval_die3 "$SQL_EVAL_DIR has no runners/llama_cpp_runner.py (removed in 9b05aa0): check out $SQL_EVAL_COMMIT"
  fi

  local venv=$BENCH_CACHE/venv
  VENV_PY=$venv/bin/python
  if [ ! -x "$VENV_PY" ]; then
    python3 -m venv "$venv" || { echo "sqleval_env: cannot create the venv $venv" >&2; exit 1; }
  fi
  local stamp="$venv/.sqleval-deps" want="${SQLEVAL_PIP_DEPS[*]} defog-data@$DEFOG_DATA_DIR"
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    "$VENV_PY" -m pip install -q "${SQLEVAL_PIP_DEPS[@]}" >&2 &&
      "$VENV_PY" -m pip install -q -e "$DEFOG_DATA_DIR" >&2 ||
      { echo "sqleval_env: pip install of sql-eval's dependencies failed" >&2; exit 1; }
    echo "$want" >"$stamp"
  fi
  if [ $want_llama = 1 ] && ! "$VENV_PY" -c 'import llama_cpp' 2>/dev/null; then
    echo "sqleval_env: building ${LLAMA_CPP_PYTHON:-llama-cpp-python==0.3.36} from source (several minutes)" >&2
    CMAKE_ARGS=${CMAKE_ARGS:-$LLAMA_CMAKE_ARGS_DEFAULT} CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-2} \
      "$VENV_PY" -m pip install -q --no-cache-dir "${LLAMA_CPP_PYTHON:-llama-cpp-python==0.3.36}" >&2 ||
      { echo "sqleval_env: pip install llama-cpp-python failed (see above)" >&2; exit 1; }
  fi

  # sql-eval reads its PostgreSQL credentials from DB* (utils/creds.py)
  export DBHOST=${PGHOST:-localhost} DBPORT=${PGPORT:-5432} DBUSER=${PGUSER:-postgres}
  export DBPASSWORD=${PGPASSWORD:-postgres}
  case $DBHOST in /*) echo "sqleval_env: sql-eval needs a TCP host, PGHOST=$DBHOST is a socket folder" >&2; exit 1 ;; esac
  unset SQL_EVAL_UPLOAD_URL   # the runner would post its results there
  export SQL_EVAL_DIR DEFOG_DATA_DIR VENV_PY
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  sqleval_setup "$@"
  echo "SQL_EVAL_DIR=$SQL_EVAL_DIR"
  echo "DEFOG_DATA_DIR=$DEFOG_DATA_DIR"
  echo "VENV_PY=$VENV_PY"
fi
