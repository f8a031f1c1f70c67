#!/usr/bin/env bash
# A throwaway PostgreSQL on loopback for the load benchmark's peer.
#   scripts/pg-peer.sh start   # installs PostgreSQL from Debian if missing, starts it, prints the URL
#   scripts/pg-peer.sh stop
# synchronous_commit and fsync stay on: a COMMIT is on disk before the 2xx.
set -euo pipefail
port=${PG_PORT:-55432}
dir=${PG_DIR:-/tmp/boxoffice-pg}

bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
if [ -z "$bin" ]; then
  echo "installing PostgreSQL from Debian's packages" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
fi
# PostgreSQL refuses to run as root.
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

case "${1:-start}" in
  start)
    if [ ! -f "$dir/PG_VERSION" ]; then
      mkdir -p "$dir"
      [ "$(id -u)" = 0 ] && chown postgres "$dir"
      as_pg "$bin/initdb" -D "$dir" -U boxoffice --auth=trust >/dev/null
    fi
    as_pg "$bin/pg_ctl" -D "$dir" -l "$dir/log" -w start \
      -o "-p $port -k /tmp -c listen_addresses=127.0.0.1 -c synchronous_commit=on -c fsync=on -c max_connections=200" >/dev/null
    echo "postgres://boxoffice@127.0.0.1:$port/postgres"
    ;;
  stop)
    as_pg "$bin/pg_ctl" -D "$dir" -m fast -w stop >/dev/null || true
    ;;
  *)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
