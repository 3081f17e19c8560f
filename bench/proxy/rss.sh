#!/usr/bin/env bash
# Resident memory of `pgask serve` (no model loaded) idle and with N open sessions, each in a
# pg_sleep, through a throwaway PostgreSQL:  bench/proxy/rss.sh        (SESSIONS=100 by default)
# Prints RSS idle, RSS with the sessions open, and the difference per session.
set -euo pipefail
SESSIONS=${SESSIONS:-100}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
source "$ROOT/bench/pg.sh"
PGPORT=$(free_port); PORT=$(free_port)
pg_setup pgask-rss
pg_start "$PGPORT" "max_connections = $((SESSIONS + 20))"

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
