# Sourced by the bench scripts: a throwaway PostgreSQL cluster.
#   pg_setup NAME       PGBIN, free_port, a temp dir $TMP (owned by postgres when run as root,
#                       with $AS to run as that user), $PIDS killed and the cluster removed on exit
#   pg_start PORT CONF  initdb into $TMP/data, append CONF to postgresql.conf, start on PORT
PGBIN=${PGASK_PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
[ -x "$PGBIN/initdb" ] || { echo "no PostgreSQL binaries (set PGASK_PG_BIN)" >&2; exit 1; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

pg_setup() {
  TMP=$(mktemp -d "/tmp/$1.XXXXXX")
  chmod 755 "$TMP"
  AS=()
  if [ "$(id -u)" = 0 ]; then chown postgres: "$TMP"; AS=(runuser -u postgres --); fi
  PIDS=()
  trap pg_cleanup EXIT
}

pg_cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  "${AS[@]}" "$PGBIN/pg_ctl" -D "$TMP/data" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$TMP"
}

pg_start() {
  "${AS[@]}" "$PGBIN/initdb" -D "$TMP/data" -U postgres -A trust -E UTF8 --locale=C --no-sync >/dev/null
  printf "listen_addresses = '127.0.0.1'\nunix_socket_directories = '%s'\n%s\n" "$TMP" "$2" >>"$TMP/data/postgresql.conf"
  "${AS[@]}" "$PGBIN/pg_ctl" -D "$TMP/data" -l "$TMP/pg.log" -o "-p $1" -w start >/dev/null
}
