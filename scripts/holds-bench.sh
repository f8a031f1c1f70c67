#!/usr/bin/env bash
# Pending holds and expiry storms on one node (release build, loopback):
#   scripts/holds-bench.sh [holds]        (default 100000)
# 1. A flash rush wins `holds` tickets (one BUY each); reports wins/s, then
#    RSS and live actors right after and once actors have passivated.
# 2. Stops the node, waits until every hold is overdue, starts it again and
#    reports the time to ready and until every hold has lapsed (an expiry
#    storm: all of them due at once), with RSS and live actors during it.
set -euo pipefail
cd "$(dirname "$0")/.."
holds=${1:-100000}
ttl=${TTL:-120}
port=3297
admin=bench-admin-token
cargo build --release --locked -p boxoffice -p boxoffice-load --bin boxoffice --bin boxoffice-load
data=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$data"; }
trap cleanup EXIT

start() {
  JWT_KEY=bench-jwt-key ADMIN_TOKEN=$admin ORDER_TTL_SECS=$ttl \
    target/release/boxoffice --http-addr 127.0.0.1:$port --data-dir "$data" --idle-secs 5 \
    --max-holds-per-user 0 \
    >>"$data/log" 2>&1 &
  pid=$!
  local t0=$(date +%s.%N)
  until curl -sf "http://127.0.0.1:$port/readyz" >/dev/null; do sleep 0.05; done
  echo "ready after $(echo "$(date +%s.%N) - $t0" | bc) s"
}
stats() { curl -sf -H "authorization: Bearer $admin" "http://127.0.0.1:$port/api/admin/stats"; }
field() { python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }
rss_mb() { echo $(( $(awk '/VmRSS/ {print $2}' /proc/$pid/status) / 1024 )); }

start
echo "RSS at start: $(rss_mb) MB"
target/release/boxoffice-load --target http://127.0.0.1:$port --scenario flash \
  --tickets "$holds" --buyers 1 --concurrency 64 --label "$holds holds" --json "$data/flash.json"
echo "after the rush: RSS $(rss_mb) MB, live actors $(stats | field liveActors)"
sleep 12
echo "once idle:      RSS $(rss_mb) MB, live actors $(stats | field liveActors), for sale $(stats | field catalogForSale)"

# The last hold was placed when the rush ended: every deadline has passed
# ttl (+2) seconds from now.
t0=$(date +%s)
kill -TERM "$pid"; wait "$pid" || true; pid=
wait_for=$(( t0 + ttl + 2 - $(date +%s) ))
[ "$wait_for" -gt 0 ] && { echo "waiting ${wait_for}s until every hold is overdue"; sleep "$wait_for"; }
t1=$(date +%s.%N)
start
peak_rss=0; peak_live=0
while :; do
  s=$(stats); live=$(echo "$s" | field liveActors); sale=$(echo "$s" | field catalogForSale)
  r=$(rss_mb); [ "$r" -gt "$peak_rss" ] && peak_rss=$r; [ "$live" -gt "$peak_live" ] && peak_live=$live
  [ "$sale" -ge "$holds" ] && break
  sleep 0.1
done
echo "storm: $holds overdue holds lapsed $(echo "$(date +%s.%N) - $t1" | bc) s after the restart began; peak RSS $peak_rss MB, peak live actors $peak_live"
