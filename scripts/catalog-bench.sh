#!/usr/bin/env bash
# The catalog at scale on one node (release build, loopback):
#   scripts/catalog-bench.sh [tickets]        (default 1000000)
# Lists `tickets` tickets for sale through the API, reports RSS before and
# after (the catalog's memory per ticket), then browses pages of 50 for
# 10 s at 64 connections (`boxoffice-load --scenario browse`: half first
# pages, half pages behind a cursor at a random ticket) and reports
# pages/s and latency percentiles. Then the time to ready after a restart.
set -euo pipefail
cd "$(dirname "$0")/.."
tickets=${1:-1000000}
port=3296
cargo build --release --locked -p boxoffice -p boxoffice-load --bin boxoffice --bin boxoffice-load
data=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$data"; }
trap cleanup EXIT

start() {
  JWT_KEY=bench-jwt-key target/release/boxoffice --http-addr 127.0.0.1:$port \
    --data-dir "$data" >>"$data/log" 2>&1 &
  pid=$!
  local t0=$(date +%s.%N)
  until curl -sf "http://127.0.0.1:$port/readyz" >/dev/null; do sleep 0.02; done
  echo "ready after $(echo "$(date +%s.%N) - $t0" | bc) s"
}
rss_mb() { echo $(( $(awk '/VmRSS/ {print $2}' /proc/$pid/status) / 1024 )); }

start
before=$(rss_mb)
echo "RSS at start: $before MB"
target/release/boxoffice-load --target http://127.0.0.1:$port --scenario browse \
  --tickets "$tickets" --buyers 1 --concurrency 64 --duration 10 \
  --label "$tickets tickets" --json "$data/browse.json"
after=$(rss_mb)
echo "RSS with $tickets tickets for sale: $after MB ($(( (after - before) * 1024 * 1024 / tickets )) B per ticket over the start)"
kill -TERM "$pid"; wait "$pid" || true; pid=
start
echo "RSS after the restart: $(rss_mb) MB"
