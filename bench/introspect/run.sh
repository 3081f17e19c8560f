#!/usr/bin/env bash
# Introspection benchmarks and the pruning recall, from the repository root:
#   bench/introspect/run.sh          # COUNT=5 BENCHTIME=20x
# Prints:
#   - BenchmarkLoad1000x20: one full introspection of 1,000 tables x 20 columns (catalog query,
#     transfer, decoding), as the superuser on a throwaway cluster;
#   - BenchmarkFreshness1000x20 / BenchmarkFreshnessSmall: Cache.Get when nothing changed, i.e.
#     the freshness query every ASK pays, on that catalog and on a 4-table database;
#   - BenchmarkPrune1000x20 / BenchmarkPrunerReuse1000x20 / BenchmarkRender1000x20: pruning to
#     2,000 tokens (with and without building the Pruner) and rendering, without a server;
#   - RECALL lines: the share of sql-eval questions whose gold tables and columns survive Prune,
#     on one catalog holding all eleven defog databases (one schema each) and on each alone, at
#     1k and 2k tokens (testdata/defog-data and testdata/sql-eval; the test fails when the
#     combined catalog's figures differ from the README's).
# Needs PostgreSQL server binaries (see internal/pgcluster). Timings on a shared machine vary:
# compare runs from the same machine and load.
set -euo pipefail
cd "$(dirname "$0")/../.."
export CGO_ENABLED=1 CGO_CFLAGS="${CGO_CFLAGS:--O3 -march=x86-64-v3}" CGO_CXXFLAGS="${CGO_CXXFLAGS:--O3 -march=x86-64-v3}"
COUNT=${COUNT:-5}
BENCHTIME=${BENCHTIME:-20x}
go test ./introspect -run '^$' -bench 'Load|Freshness|Prune|Render' -benchmem -count "$COUNT" -benchtime "$BENCHTIME" -timeout 30m
go test ./introspect -run '^TestPruneRecall$' -v -count 1 -timeout 20m | grep -E 'RECALL|combined catalog|^(ok|FAIL|---)'
