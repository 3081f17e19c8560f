#!/usr/bin/env bash
# Runs every Go fuzz target in the module for a bounded time each: bench/fuzz-all.sh 20s
set -euo pipefail
fuzztime=${1:-20s}
cd "$(dirname "$0")/.."
grep -rl --include='*_test.go' '^func Fuzz' . | sort | while read -r f; do
  pkg="./$(dirname "${f#./}")"
  grep -o '^func Fuzz[A-Za-z0-9_]*' "$f" | sed 's/^func //' | while read -r name; do
    echo "--- fuzz $pkg $name ($fuzztime)"
    go test -run='^$' -fuzz="^${name}\$" -fuzztime="$fuzztime" "$pkg"
  done
done
