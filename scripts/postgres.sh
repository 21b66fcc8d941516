#!/usr/bin/env bash
# Start (or stop) a throwaway PostgreSQL cluster for the tests, from Debian's packages.
#   scripts/postgres.sh start   -> prints the SQLAlchemy URL of a fresh database
#   scripts/postgres.sh stop
# Installs postgresql with apt-get when it is missing. The cluster lives in .cache/pg
# (PGDATA), listens on 127.0.0.1:${PGPORT:-55432}, trusts local connections, and runs as the
# "postgres" system user because initdb refuses root.
set -euo pipefail
cd "$(dirname "$0")/.."
PGPORT="${PGPORT:-55432}"
ROOT="$PWD/.cache/pg"
DATA="$ROOT/data"
LOG="$ROOT/server.log"

find_bin() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
  if [[ -z "$dir" ]]; then
    echo "installing postgresql from Debian packages..." >&2
    export DEBIAN_FRONTEND=noninteractive
    if [[ $(id -u) -eq 0 ]]; then apt-get update -qq >&2 && apt-get install -y -qq postgresql >&2
    else sudo apt-get update -qq >&2 && sudo apt-get install -y -qq postgresql >&2; fi
    dir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
  fi
  echo "$dir"
}

as_pg() {
  if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "${1:-start}" in
  start)
    BIN=$(find_bin)
    mkdir -p "$ROOT"
    if [[ $(id -u) -eq 0 ]]; then chown -R postgres:postgres "$ROOT"; fi
    if [[ ! -f "$DATA/PG_VERSION" ]]; then
      as_pg "$BIN/initdb" -D "$DATA" -U postgres -A trust -E UTF8 --no-locale >/dev/null
    fi
    if ! as_pg "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
      as_pg "$BIN/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 \
        -o "-p $PGPORT -k $ROOT -c listen_addresses=127.0.0.1 -c fsync=on -c max_connections=200" start >/dev/null
    fi
    for _ in $(seq 1 60); do
      if "$BIN/pg_isready" -h 127.0.0.1 -p "$PGPORT" -q; then break; fi
      sleep 0.5
    done
    "$BIN/pg_isready" -h 127.0.0.1 -p "$PGPORT" -q || { echo "postgres did not start; see $LOG" >&2; exit 1; }
    echo "postgresql+psycopg://postgres@127.0.0.1:$PGPORT/postgres"
    ;;
  stop)
    BIN=$(find_bin)
    if [[ -f "$DATA/PG_VERSION" ]]; then as_pg "$BIN/pg_ctl" -D "$DATA" -m fast stop >/dev/null 2>&1 || true; fi
    ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
