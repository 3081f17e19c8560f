#!/usr/bin/env bash
# Resident memory of `pgask serve` (no model loaded) idle and with N open sessions, each in a
# pg_sleep, through a throwaway PostgreSQL:  bench/proxy/rss.sh        (SESSIONS=100 by default)
# Prints RSS idle, RSS with the sessions open, and the difference per session.
set -euo pipefail
SESSIONS=${SESSIONS:-100}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PGBIN=${PGASK_PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
[ -x "$PGBIN/initdb" ] || { echo "no PostgreSQL binaries (set PGASK_PG_BIN)" >&2; exit 1; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PGPORT=$(free_port); PORT=$(free_port)
TMP=$(mktemp -d /tmp/pgask-rss.XXXXXX); chmod 755 "$TMP"
AS=()
if [ "$(id -u)" = 0 ]; then chown postgres: "$TMP"; AS=(runuser -u postgres --); fi
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  "${AS[@]}" "$PGBIN/pg_ctl" -D "$TMP/data" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$TMP"
}
trap cleanup EXIT
"${AS[@]}" "$PGBIN/initdb" -D "$TMP/data" -U postgres -A trust -E UTF8 --locale=C --no-sync >/dev/null
printf "listen_addresses = '127.0.0.1'\nunix_socket_directories = '%s'\nmax_connections = %d\n" "$TMP" $((SESSIONS + 20)) >>"$TMP/data/postgresql.conf"
"${AS[@]}" "$PGBIN/pg_ctl" -D "$TMP/data" -l "$TMP/pg.log" -o "-p $PGPORT" -w start >/dev/null

make -C "$ROOT" -s build
"$ROOT/bin/pgask" serve --listen "127.0.0.1:$PORT" --upstream "127.0.0.1:$PGPORT" --model "$TMP/none.gguf" \
  --model-download=false --max-connections $((SESSIONS + 10)) --log-level error 2>"$TMP/pgask.log" &
PGASK=$!
PIDS+=("$PGASK")
for _ in $(seq 100); do "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$PORT" -U postgres && break; sleep 0.1; done
rss() { awk '/^VmRSS:/{print $2}' "/proc/$PGASK/status"; }  # kB
"$PGBIN/psql" -X -q -h 127.0.0.1 -p "$PORT" -U postgres -c 'select 1' >/dev/null   # warm: one session
sleep 1
idle=$(rss)
for _ in $(seq "$SESSIONS"); do
  "$PGBIN/psql" -X -q -h 127.0.0.1 -p "$PORT" -U postgres -c 'select pg_sleep(10)' >/dev/null &
  PIDS+=($!)
done
for _ in $(seq 100); do
  n=$("$PGBIN/psql" -X -At -h 127.0.0.1 -p "$PGPORT" -U postgres -c "select count(*) from pg_stat_activity where query = 'select pg_sleep(10)'")
  [ "$n" -ge "$SESSIONS" ] && break
  sleep 0.1
done
busy=$(rss)
echo "sessions: $SESSIONS (all in pg_sleep: $n)"
echo "RSS idle: $((idle / 1024)) MB ($idle kB)"
echo "RSS with $SESSIONS sessions: $((busy / 1024)) MB ($busy kB)"
echo "per session: $(((busy - idle) / SESSIONS)) kB"
