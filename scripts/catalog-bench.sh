#!/usr/bin/env bash
# The catalog at scale on one node (release build, loopback):
#   scripts/catalog-bench.sh [tickets]        (default 1000000)
# Lists `tickets` tickets for sale through the API, reports RSS before and
# after (the catalog's memory per ticket), then browses pages of 50 for
# 10 s at 64 connections (`boxoffice-load --scenario browse`: half first
# pages, half pages behind a cursor at a random ticket) and reports
# pages/s and latency percentiles; the same with wrk as the client, at 64
# and 16 connections, when wrk is installed. Then the time to ready after
# a restart.
set -euo pipefail
cd "$(dirname "$0")/.."
tickets=${1:-1000000}
port=3296
cargo build --release --locked -p boxoffice -p boxoffice-load --bin boxoffice --bin boxoffice-load
data=$(mktemp -d)
pid=
source scripts/bench-node.sh

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
# The same pages with wrk as the client, which needs less of the two cores
# than boxoffice-load (the server's share is what is measured): cursors
# are every 100th ticket, read by walking the catalog's Link headers.
if command -v wrk >/dev/null; then
  python3 - "$port" "$data/cursors" <<'PY'
import re, sys, urllib.request
port, out = sys.argv[1], sys.argv[2]
http = urllib.request.build_opener(urllib.request.ProxyHandler({}))
path, n = "/api/tickets?limit=1000", 0
with open(out, "w") as f:
    while path:
        r = http.open(f"http://127.0.0.1:{port}{path}")
        for m in re.finditer(rb'"id":"([0-9a-f-]{36})"', r.read()):
            if n % 100 == 0:
                f.write(m.group(1).decode() + "\n")
            n += 1
        link = re.search(r"<([^>]+)>", r.headers.get("link") or "")
        path = link.group(1) if link else None
PY
  for c in 64 16; do
    CURSORS="$data/cursors" wrk -t2 -c$c -d10s --latency -s scripts/wrk/browse.lua \
      "http://127.0.0.1:$port" >"$data/wrk.$c"
    printf 'wrk, %2d connections: %8.0f pages/s, p50 %s, p99 %s\n' "$c" \
      "$(awk '/Requests\/sec/ {print $2}' "$data/wrk.$c")" \
      "$(awk '$1 == "50%" {print $2}' "$data/wrk.$c")" "$(awk '$1 == "99%" {print $2}' "$data/wrk.$c")"
    if grep -q "Non-2xx" "$data/wrk.$c"; then echo "wrk saw errors:"; cat "$data/wrk.$c"; fi
  done
else
  echo "wrk is not installed (apt-get install wrk): its run is left out"
fi
kill -TERM "$pid"; wait "$pid" || true; pid=
start
echo "RSS after the restart: $(rss_mb) MB"
