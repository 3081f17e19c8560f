#!/usr/bin/env bash
# Runs every Go fuzz target in the module for a bounded time each: bench/fuzz-all.sh 20s
set -euo pipefail
fuzztime=${1:-20s}
cd "$(dirname "$0")/.."
# translate/llama is left out by default: fuzzing instruments the package and so recompiles all
# of llama.cpp (minutes); its seed corpus still runs in `make test`. FUZZ_ALL=1 includes it.
grep -rl --include='*_test.go' '^func Fuzz' . | sort | while read -r f; do
  pkg="./$(dirname "${f#./}")"
  if [ -z "${FUZZ_ALL:-}" ] && [ "$pkg" = ./translate/llama ]; then
    echo "--- skip $pkg (FUZZ_ALL=1 to include)"
    continue
  fi
  grep -o '^func Fuzz[A-Za-z0-9_]*' "$f" | sed 's/^func //' | while read -r name; do
    echo "--- fuzz $pkg $name ($fuzztime)"
    go test -run='^$' -fuzz="^${name}\$" -fuzztime="$fuzztime" "$pkg"
  done
done
