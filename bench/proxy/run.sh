#!/usr/bin/env bash
# Pass-through benchmark: pgbench -S against PostgreSQL directly, through PgBouncer (session
# mode) and through pgask serve, in alternation; prints TPS, the ratio to direct, the average
# latency at one client, and the two proxies compared round by round. Needs PostgreSQL server
# binaries, pgbench and pgbouncer (Debian: apt-get install -y postgresql pgbouncer) and Go. Run
# from the repository root:
#   bench/proxy/run.sh            # ROUNDS=3 DURATION=5 SCALE=10 CLIENTS=8 JOBS=2
# Environment: ROUNDS, DURATION (s per run), SCALE, CLIENTS, JOBS, MODES ("simple extended
# prepared"), PROFILE=1 (run the pgask target as bench/proxy/relay, the same proxy package and
# ASK prefilter without an engine, and write its CPU profile to bench/out/relay.pprof),
# GOROUTINES=1 (also run pgask's goroutine relay alone, -relay-threads -1, target "goroutines":
# what TLS and ASK sessions use), EPOLL=1 (also run the relay thread without io_uring,
# -no-io-uring, target "epoll": one read(2)/write(2) per socket), FRESH=1 (close PgBouncer's
# pooled server connections before each of its runs, so that it too starts on new backends, as
# pgask and direct connections always do), NAIVE=1 (also run two io.Copy goroutines per connection,
# target "naive": the floor of a goroutine relay).
set -euo pipefail

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
SCALE=${SCALE:-10}
CLIENTS=${CLIENTS:-8}
JOBS=${JOBS:-2}
MODES=${MODES:-"simple extended prepared"}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT="$ROOT/bench/out"
mkdir -p "$OUT"

source "$ROOT/bench/pg.sh"
PGBENCH=$(command -v pgbench || echo "$PGBIN/pgbench")
PGBOUNCER=$(command -v pgbouncer || echo /usr/sbin/pgbouncer)
[ -x "$PGBOUNCER" ] || { echo "pgbouncer not found (apt-get install -y pgbouncer)" >&2; exit 1; }

PGPORT=$(free_port); BOUNCER_PORT=$(free_port); PGASK_PORT=$(free_port)
pg_setup pgask-bench

echo "== starting PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}') on $PGPORT"
pg_start "$PGPORT" "max_connections = 100
shared_buffers = 128MB
fsync = off
synchronous_commit = off"
"$PGBIN/createdb" -h 127.0.0.1 -p "$PGPORT" -U postgres bench
"$PGBENCH" -i -q -s "$SCALE" -h 127.0.0.1 -p "$PGPORT" -U postgres bench >/dev/null 2>&1

echo "== starting PgBouncer $("$PGBOUNCER" --version | head -1 | awk '{print $2}') (session mode) on $BOUNCER_PORT"
cat >"$TMP/pgbouncer.ini" <<INI
[databases]
bench = host=127.0.0.1 port=$PGPORT dbname=bench
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $BOUNCER_PORT
unix_socket_dir =
auth_type = trust
auth_file = $TMP/userlist.txt
pool_mode = session
max_client_conn = 200
default_pool_size = 50
ignore_startup_parameters = extra_float_digits
logfile = $TMP/pgbouncer.log
INI
echo '"postgres" ""' >"$TMP/userlist.txt"
[ "$(id -u)" = 0 ] && chown postgres: "$TMP/pgbouncer.ini" "$TMP/userlist.txt"
"${AS[@]}" "$PGBOUNCER" "$TMP/pgbouncer.ini" >/dev/null 2>&1 &
PIDS+=($!)
declare -A PROC=()

echo "== building pgask and bench/proxy/relay; starting pgask serve on $PGASK_PORT"
(cd "$ROOT" && go build -o "$TMP/pgask" ./cmd/pgask && go build -o "$TMP/relay" ./bench/proxy/relay)
if [ "${PROFILE:-0}" = 1 ]; then
  # pgask serve has no profiler: the target is then the relay command, the same proxy package
  # with the same ASK prefilter, and no ASK engine.
  "$TMP/relay" -listen "127.0.0.1:$PGASK_PORT" -upstream "127.0.0.1:$PGPORT" -cpuprofile "$OUT/relay.pprof" &
else
  # The shipped binary with its defaults; no model, so ASK answers an error and loads nothing.
  "$TMP/pgask" serve --listen "127.0.0.1:$PGASK_PORT" --upstream "127.0.0.1:$PGPORT" \
    --model "$TMP/no-model.gguf" --model-download=false --log-level warn 2>"$TMP/pgask.log" &
fi
PIDS+=($!)
PROC[pgask]=$!
TARGETS="direct pgbouncer pgask"
declare -A PORT=([direct]=$PGPORT [pgbouncer]=$BOUNCER_PORT [pgask]=$PGASK_PORT)

# extra_target NAME RELAY-FLAG: one more relay process, benchmarked as target NAME.
extra_target() {
  PORT[$1]=$(free_port)
  "$TMP/relay" "$2" -listen "127.0.0.1:${PORT[$1]}" -upstream "127.0.0.1:$PGPORT" &
  PIDS+=($!)
  PROC[$1]=$!
  TARGETS="$TARGETS $1"
}
[ "${GOROUTINES:-0}" = 1 ] && extra_target goroutines -relay-threads=-1
[ "${EPOLL:-0}" = 1 ] && extra_target epoll -no-io-uring
[ "${NAIVE:-0}" = 1 ] && extra_target naive -naive

for t in $TARGETS; do
  [ "$t" = direct ] && continue
  for _ in $(seq 100); do "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "${PORT[$t]}" -d bench -U postgres && break; sleep 0.1; done
done

PROC[pgbouncer]=$(pgrep -f "pgbouncer $TMP/pgbouncer.ini" | tail -1)

cputicks() { # utime+stime of a process, in clock ticks (0 for direct)
  [ -n "${PROC[$1]:-}" ] && awk '{print $14+$15}' "/proc/${PROC[$1]}/stat" || echo 0
}

run() { # target mode clients jobs -> "tps latency_ms proxy_cpu_us_per_tx"
  local out c0 c1 n
  if [ "${FRESH:-0}" = 1 ] && [ "$1" = pgbouncer ]; then
    "$PGBIN/psql" -qAt -h 127.0.0.1 -p "$PGPORT" -U postgres -d bench -c "select count(pg_terminate_backend(pid)) from pg_stat_activity where backend_type = 'client backend' and pid <> pg_backend_pid()" >/dev/null
    sleep 0.3
  fi
  c0=$(cputicks "$1")
  out=$("$PGBENCH" -n -S -M "$2" -c "$3" -j "$4" -T "$DURATION" -h 127.0.0.1 -p "${PORT[$1]}" -U postgres bench 2>&1) || { echo "$out" >&2; exit 1; }
  c1=$(cputicks "$1")
  n=$(awk '/^number of transactions actually processed: /{print $6}' <<<"$out")
  echo "$(awk '/^tps = /{print $3}' <<<"$out") $(awk '/^latency average = /{print $4}' <<<"$out") $(awk -v d=$((c1 - c0)) -v n="$n" -v hz="$(getconf CLK_TCK)" 'BEGIN{printf "%.2f", d / hz * 1e6 / n}')"
}

echo "== load before: $(uptime)"
RES="$OUT/proxy-bench.tsv"
: >"$RES"
for round in $(seq "$ROUNDS"); do
  for mode in $MODES; do
    for t in $TARGETS; do
      read -r tps _ cpu < <(run "$t" "$mode" "$CLIENTS" "$JOBS")
      read -r _ lat _ < <(run "$t" "$mode" 1 1)
      printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$mode" "$t" "$tps" "$lat" "$cpu" | tee -a "$RES"
    done
  done
done
echo "== load after: $(uptime)"

python3 - "$RES" "$CLIENTS" <<'PY'
import sys, statistics as st, collections
rows = [l.split('\t') for l in open(sys.argv[1]).read().split('\n') if l]
tps = collections.defaultdict(list); lat = collections.defaultdict(list); cpu = collections.defaultdict(list)
for r, mode, t, x, l, c in rows:
    tps[mode, t].append(float(x)); lat[mode, t].append(float(l) * 1000); cpu[mode, t].append(float(c))
modes = list(dict.fromkeys(r[1] for r in rows))
print(f"\nmedian of {len(set(r[0] for r in rows))} rounds; TPS at -c {sys.argv[2]}, latency (µs) at -c 1")
print("proxy CPU = CPU time the proxy process used per transaction at -c 8 (robust to background load)")
print(f"{'mode':9} {'direct':>9} {'pgbouncer':>9} {'ratio':>6} {'pgask':>9} {'ratio':>6} | {'lat direct':>10} {'+pgbouncer':>10} {'+pgask':>8} | {'CPU bouncer':>9} {'CPU pgask':>9}")
labels = {"naive": "naive io.Copy", "epoll": "relay thread without io_uring", "goroutines": "goroutine relay"}
targets = list(dict.fromkeys(r[2] for r in rows))
for m in modes:
    d, b, a = (st.median(tps[m, t]) for t in ("direct", "pgbouncer", "pgask"))
    ld, lb, la = (st.median(lat[m, t]) for t in ("direct", "pgbouncer", "pgask"))
    extra = ""
    for t in (t for t in targets if t in labels):
        x, lx = st.median(tps[m, t]), st.median(lat[m, t])
        extra += f"   [{labels[t]}: {x:.0f} tps, ratio {x/d:.2f}, {lx-ld:+.1f} µs, {st.median(cpu[m, t]):.1f} µs CPU/tx]"
    cb, ca = st.median(cpu[m, "pgbouncer"]), st.median(cpu[m, "pgask"])
    print(f"{m:9} {d:9.0f} {b:9.0f} {b/d:6.2f} {a:9.0f} {a/d:6.2f} | {ld:10.1f} {lb-ld:+10.1f} {la-ld:+8.1f} | {cb:9.1f} {ca:9.1f}{extra}")
# Paired by round: the two proxies ran back to back, so a round's ratio is the least noisy
# comparison this script makes; its spread says how much one run's medians can be trusted.
print("\npgask against PgBouncer, round by round (wins: rounds where pgask did better)")
for m in modes:
    r = [a / b for a, b in zip(tps[m, "pgask"], tps[m, "pgbouncer"])]
    dl = [a - b for a, b in zip(lat[m, "pgask"], lat[m, "pgbouncer"])]
    dc = [a - b for a, b in zip(cpu[m, "pgask"], cpu[m, "pgbouncer"])]
    print(f"{m:9} TPS ratio median {st.median(r):.3f} (range {min(r):.2f}-{max(r):.2f}, wins {sum(x > 1 for x in r)}/{len(r)})"
          f" | latency {st.median(dl):+.1f} µs (wins {sum(x < 0 for x in dl)}/{len(dl)})"
          f" | CPU/tx {st.median(dc):+.1f} µs (wins {sum(x < 0 for x in dc)}/{len(dc)})")
PY
