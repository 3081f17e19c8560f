#!/usr/bin/env bash
# Installs the client drivers of the client matrix (internal/clients, TestClientMatrix) from the
# package registries into caches outside the clone, and prints nothing else of note. Idempotent:
# a second run only checks. Needs Python 3 with venv and pip, Node with npm, Java 17+ with Maven;
# apt-get (as root) for unixODBC and psqlODBC.
#   PGASK_CLIENTS_CACHE  where the drivers go (default ~/.cache/pgask/clients)
set -euo pipefail
cache=${PGASK_CLIENTS_CACHE:-$HOME/.cache/pgask/clients}
mkdir -p "$cache"
step() { printf '  clients: %s\n' "$*"; }

# The versions the matrix was last run with; bump them here.
PGJDBC=42.7.14
NODE_PG=8.23.1
PY_PKGS=(psycopg2-binary==2.9.13 "psycopg[binary]==3.3.9" sqlalchemy==2.1.9 pandas==3.1.1 pyodbc==5.5.0)

# unixODBC and psqlODBC (the driver BI tools use): Debian's packages.
if ! [ -e /usr/lib/x86_64-linux-gnu/odbc/psqlodbcw.so ] && ! ls /usr/lib/*/odbc/psqlodbcw.so >/dev/null 2>&1; then
  step "apt: odbc-postgresql unixodbc"
  sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends odbc-postgresql unixodbc >/dev/null
fi

# Python drivers in a venv of their own.
venv=$cache/venv
if ! "$venv/bin/python" -c 'import psycopg2, psycopg, sqlalchemy, pandas, pyodbc' 2>/dev/null; then
  step "pip: ${PY_PKGS[*]} into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "${PY_PKGS[@]}"
fi

# node-postgres.
node=$cache/node
if ! [ -f "$node/node_modules/pg/package.json" ]; then
  step "npm: pg@$NODE_PG into $node"
  mkdir -p "$node"
  (cd "$node" && { [ -f package.json ] || echo '{"private":true}' > package.json; } && npm install -s --no-audit --no-fund "pg@$NODE_PG")
fi

# pgjdbc from Maven Central.
java=$cache/java
if ! [ -f "$java/postgresql.jar" ]; then
  step "maven: org.postgresql:postgresql:$PGJDBC into $java"
  mkdir -p "$java"
  log=$(mktemp)
  if ! mvn -q -B dependency:copy -Dartifact="org.postgresql:postgresql:$PGJDBC" -DoutputDirectory="$java" \
      -Dmdep.stripVersion=true >"$log" 2>&1; then
    cat "$log"; rm -f "$log"; exit 1
  fi
  rm -f "$log"
fi
step "ready in $cache"
