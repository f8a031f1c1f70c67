#!/usr/bin/env bash
# A 3-node cluster on loopback from the release binary, for trying things
# and for the load benchmarks (it builds target/release/boxoffice-load too).
#   scripts/local-cluster.sh start   # http://127.0.0.1:3300, :3301, :3302
#   scripts/local-cluster.sh stop
# Data lives in ${CLUSTER_DIR:-/tmp/boxoffice-cluster}; secrets are generated per run.
# No cap on holds per buyer unless BOXOFFICE_MAX_HOLDS_PER_USER is set (load runs
# make many holds per buyer).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${CLUSTER_DIR:-/tmp/boxoffice-cluster}
peers="n0@127.0.0.1:4400,n1@127.0.0.1:4401,n2@127.0.0.1:4402"

case "${1:-start}" in
  start)
    cargo build --release --locked -p boxoffice -p boxoffice-load --bin boxoffice --bin boxoffice-load
    mkdir -p "$dir"
    [ -f "$dir/secrets" ] || printf 'JWT_KEY=%s\nCLUSTER_COOKIE=%s\n' \
      "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" \
      "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" > "$dir/secrets"
    chmod 600 "$dir/secrets"
    set -a; . "$dir/secrets"; set +a
    for i in 0 1 2; do
      BOXOFFICE_NODE_NAME=n$i BOXOFFICE_CLUSTER_ADDR=127.0.0.1:440$i BOXOFFICE_PEERS=$peers \
      BOXOFFICE_HTTP_ADDR=127.0.0.1:330$i BOXOFFICE_DATA_DIR="$dir/n$i" \
      BOXOFFICE_MAX_HOLDS_PER_USER=${BOXOFFICE_MAX_HOLDS_PER_USER:-0} ${EXTRA_ENV:-} \
        nohup target/release/boxoffice >"$dir/n$i.log" 2>&1 &
      echo $! > "$dir/n$i.pid"
    done
    for i in 0 1 2; do
      for _ in $(seq 1 100); do
        curl -sf "http://127.0.0.1:330$i/readyz" >/dev/null && break
        sleep 0.2
      done
    done
    echo "ready: http://127.0.0.1:3300,http://127.0.0.1:3301,http://127.0.0.1:3302"
    ;;
  stop)
    for i in 0 1 2; do
      [ -f "$dir/n$i.pid" ] && kill "$(cat "$dir/n$i.pid")" 2>/dev/null || true
      rm -f "$dir/n$i.pid"
    done
    ;;
  *)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
