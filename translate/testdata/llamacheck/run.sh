#!/bin/sh
# Cross-checks the generated grammars with llama.cpp's own GBNF parser and matcher (the copy
# vendored in github.com/ollama/ollama): every sql-eval gold query is fed character by
# character; reports acceptance, matcher time per character and live grammar stacks.
# Usage (from the repository root): sh translate/testdata/llamacheck/run.sh
set -eu
here=$(cd "$(dirname "$0")" && pwd)
ollama=$(go list -m -f '{{.Dir}}' github.com/ollama/ollama)
L=$ollama/llama/llama.cpp
G=$ollama/ml/backend/ggml/ggml/include
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
flags="-std=c++17 -O3 -march=x86-64-v3 -I$L/include -I$L/src -I$G -w"
g++ $flags -c "$L/src/llama-grammar.cpp" -o "$work/grammar.o"
g++ $flags -c "$here/stubs.cpp" -o "$work/stubs.o"
g++ $flags -c "$here/gcheck.cpp" -o "$work/gcheck.o"
g++ -o "$work/gcheck" "$work/gcheck.o" "$work/grammar.o" "$work/stubs.o"
PGASK_GRAMMAR_DUMP=$work go test -count=1 -run TestGrammarAcceptsGoldQueries ./translate/ >/dev/null
for g in "$work"/*.gbnf; do
	db=$(basename "$g" .gbnf)
	echo "== $db"
	"$work/gcheck" "$g" "$work/$db.queries"
done
