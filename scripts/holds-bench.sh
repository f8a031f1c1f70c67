#!/usr/bin/env bash
# Pending holds and expiry storms on one node (release build, loopback):
#   TTL=secs scripts/holds-bench.sh [holds]     (default 100000 holds, TTL 120)
# 1. A flash rush wins `holds` tickets (one BUY each); reports wins/s, then
#    RSS and live actors right after and once actors have passivated.
# 2. Restarts the node with every hold still pending, first after a kill -9
#    right after the rush (sled reads back its logs of the rush, the catalog
#    comes from its last image and the events after it), then after a clean
#    stop: time to ready for each.
# 3. Keeps it up while the holds fall due (at the rate they were placed):
#    how late each lapsed (boxoffice_hold_lapse_delay_seconds).
# 4. A second rush, then the node is stopped until every hold is overdue and
#    started again: time to ready and until every hold has lapsed (an expiry
#    storm: all of them due at once), with RSS and live actors during it.
#    BUYs arrive meanwhile (STORM_BUYS fresh tickets, default 2000, one
#    buyer, 16 in flight, started once the node is ready); the same BUYs
#    again on the quiet node after the storm, for comparison.
# TTL must exceed the rush's length for phases 1-3 to see every hold pending
# at once (1,000,000 holds took 370 s here, ticket creation included).
# BOXOFFICE_BIN runs another build of the server (to compare two commits).
set -euo pipefail
cd "$(dirname "$0")/.."
holds=${1:-100000}
ttl=${TTL:-120}
port=3297
admin=bench-admin-token
cargo build --release --locked -p boxoffice -p boxoffice-load --bin boxoffice --bin boxoffice-load
data=$(mktemp -d)
pid=
source scripts/bench-node.sh

start() {
  JWT_KEY=bench-jwt-key ADMIN_TOKEN=$admin ORDER_TTL_SECS=$ttl \
    "${BOXOFFICE_BIN:-target/release/boxoffice}" --http-addr 127.0.0.1:$port --data-dir "$data" --idle-secs 5 \
    --max-holds-per-user 0 \
    >>"$data/log" 2>&1 &
  pid=$!
  local t0=$(date +%s.%N)
  until curl -sf "http://127.0.0.1:$port/readyz" >/dev/null; do sleep 0.05; done
  echo "ready after $(echo "$(date +%s.%N) - $t0" | bc) s"
}
# A clean stop writes sled's snapshot (so the next start reads none of
# its log back): it takes longer after a rush, so it is timed too.
stop() {
  local t0=$(date +%s.%N)
  kill -TERM "$pid"; wait "$pid" || true; pid=
  echo "stopped after $(echo "$(date +%s.%N) - $t0" | bc) s"
}
stats() { curl -sf -H "authorization: Bearer $admin" "http://127.0.0.1:$port/api/admin/stats"; }
field() { python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }
rss_mb() { echo $(( $(awk '/VmRSS/ {print $2}' /proc/$pid/status) / 1024 )); }
rush() {
  target/release/boxoffice-load --target http://127.0.0.1:$port --scenario flash \
    --tickets "$holds" --buyers 1 --concurrency 64 --label "$1" --json "$data/$2.json"
}
# Waits until $2 tickets are for sale (`until_stat for_sale N`) or $2 holds
# have lapsed in this process (`until_stat lapsed N`); prints the peaks seen
# meanwhile. One poller process for the whole wait: starting a tool per
# poll would take CPU from the node being measured (two Python starts every
# 0.1 s cost about a quarter of a core here).
until_stat() {
  python3 - "$1" "$2" "$port" "$admin" "$pid" <<'PY'
import json, re, sys, time, urllib.request
what, want, port, admin, pid = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
# No proxy from the environment: the node is on loopback.
http = urllib.request.build_opener(urllib.request.ProxyHandler({}))
stats = urllib.request.Request(f"http://127.0.0.1:{port}/api/admin/stats",
                               headers={"authorization": f"Bearer {admin}"})
def rss_mb():
    with open(f"/proc/{pid}/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmRSS")) // 1024
peak_rss = peak_live = 0
while True:
    s = json.load(http.open(stats, timeout=5))
    peak_rss, peak_live = max(peak_rss, rss_mb()), max(peak_live, s["liveActors"])
    if what == "for_sale":
        done = s["catalogForSale"]
    else:
        text = http.open(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
        done = sum(int(float(n)) for n in re.findall(
            r'^boxoffice_holds_ended_total\{how="expired"\} (\S+)$', text, re.M))
    if done >= want:
        break
    time.sleep(0.1)
print(f"peak RSS {peak_rss} MB, peak live actors {peak_live}")
if what == "lapsed":
    buys = sum(int(float(n)) for n in re.findall(
        r'^boxoffice_buy_decisions_total\{[^}]*\} (\S+)$', text, re.M))
    print(f"BUYs decided meanwhile: {buys}")
PY
}
# The lapse-delay histogram of this process, as "≤ bound: count" lines.
lateness() {
  curl -sf "http://127.0.0.1:$port/metrics" | python3 -c '
import re, sys
rows = re.findall(r"boxoffice_hold_lapse_delay_seconds_bucket\{le=\"([^\"]+)\"\} (\d+)", sys.stdin.read())
total = int(rows[-1][1]) if rows else 0
for le, n in rows:
    print(f"  lapsed within {le:>4} s of the deadline: {int(n):>8} ({100 * int(n) / max(total, 1):.1f} %)")'
}

# BUYs of fresh tickets beside the storm (phase 4), and their figures.
storm_buys() {
  target/release/boxoffice-load --target http://127.0.0.1:$port --scenario flash \
    --tickets "${STORM_BUYS:-2000}" --buyers 1 --concurrency 16 --quiet --json "$data/$1.json" >/dev/null
}
buys_report() {
  python3 - "$data/$1.json" "$2" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"{sys.argv[2]}: {r['wins']} wins, {r['errors']} errors, {r['decisions_per_sec']:.0f} BUYs/s, "
      f"p50 {r['p50_ms']:.2f} ms, p99 {r['p99_ms']:.2f} ms, max {r['max_ms']:.2f} ms")
PY
}

echo "== 1. rush"
start
echo "RSS at start: $(rss_mb) MB"
t_rush=$(date +%s)
rush "$holds holds" flash
t_last=$(date +%s)
echo "after the rush: RSS $(rss_mb) MB, live actors $(stats | field liveActors)"
sleep 12
echo "once idle:      RSS $(rss_mb) MB, live actors $(stats | field liveActors), for sale $(stats | field catalogForSale)"
[ $(( t_last - t_rush )) -ge "$ttl" ] && echo "note: the rush outlasted TTL=$ttl s; some holds lapsed during it"

echo "== 2. restarts with the holds pending"
kill -KILL "$pid"; wait "$pid" || true; pid=
echo "after a kill -9:"
start
echo "after a clean stop:"
stop
start
echo "RSS after the restart: $(rss_mb) MB, live actors $(stats | field liveActors)"

echo "== 3. the holds fall due with the node up"
wait_for=$(( t_last + ttl + 2 - $(date +%s) ))
[ "$wait_for" -gt 0 ] && sleep "$wait_for"
until_stat for_sale "$holds"
lateness

echo "== 4. expiry storm after a restart, BUYs meanwhile"
rush "$holds more holds" flash2
t0=$(date +%s)
stop
wait_for=$(( t0 + ttl + 2 - $(date +%s) ))
[ "$wait_for" -gt 0 ] && { echo "waiting ${wait_for}s until every hold is overdue"; sleep "$wait_for"; }
t1=$(date +%s.%N)
start
storm_buys storm-buys &
buys=$!
until_stat lapsed "$holds"
storm_end=$(echo "$(date +%s.%N) - $t1" | bc)
echo "storm: $holds overdue holds lapsed $storm_end s after the restart began"
wait "$buys"
echo "for sale after the storm: $(stats | field catalogForSale) (every ticket of both rushes: $(( 2 * holds )))"
buys_report storm-buys "the BUYs started with the storm"
storm_buys quiet-buys
buys_report quiet-buys "the same BUYs, node quiet"
