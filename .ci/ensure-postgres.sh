#!/usr/bin/env bash
# Makes sure PostgreSQL server binaries (initdb, postgres, psql) are installed: the tests and
# `pgask demo` start their own throwaway cluster from them. Installs Debian's package when
# running as root, otherwise says what to install.
set -euo pipefail
if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && command -v psql >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing PostgreSQL server binaries (apt-get install postgresql)..." >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends postgresql postgresql-client >/dev/null
  exit 0
fi
echo "PostgreSQL server binaries not found: install them (Debian/Ubuntu: sudo apt-get install postgresql)" >&2
echo "or point PGASK_PG_BIN at a directory holding initdb and postgres." >&2
exit 1
