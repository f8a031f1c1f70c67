#!/usr/bin/env bash
# A hot ticket's refusals against a request refused by validation, with wrk
# (one node, release build, loopback):
#   scripts/refusal-bench.sh [runs]      (default 3 runs of each, alternating)
# Both are the same signed-in POST /api/orders: one names a ticket already
# held (the ticket's actor refuses it: 400 "Ticket is already reserved"),
# the other an id that does not parse (refused before any actor: 400).
# Needs wrk (Debian: apt-get install wrk). BOXOFFICE_BIN runs another build.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
port=3288
base=http://127.0.0.1:$port
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 1; }
cargo build --release --locked -p boxoffice --bin boxoffice
data=$(mktemp -d)
pid=
source scripts/bench-node.sh

JWT_KEY=bench-jwt-key "${BOXOFFICE_BIN:-target/release/boxoffice}" --http-addr 127.0.0.1:$port --data-dir "$data/node" \
  >"$data/log" 2>&1 &
pid=$!
until curl -sf "$base/readyz" >/dev/null; do sleep 0.05; done

# POSTs JSON with the cookie jar $1; prints the body.
post() { curl -sf -b "$data/$1.jar" -c "$data/$1.jar" -H 'content-type: application/json' -d "$3" "$base$2"; }
post seller /api/users/signup '{"email":"seller@example.com","password":"password123"}' >/dev/null
ticket=$(post seller /api/tickets '{"title":"Hot seat","price":10}' |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])')
post buyer /api/users/signup '{"email":"buyer@example.com","password":"password123"}' >/dev/null
post buyer /api/orders "{\"ticketId\":\"$ticket\"}" >/dev/null
session=$(awk '$6 == "session" {print "session=" $7}' "$data/buyer.jar")

script() {
  printf 'wrk.method = "POST"\nwrk.body = %s\nwrk.headers["content-type"] = "application/json"\nwrk.headers["cookie"] = "%s"\n' \
    "'$2'" "$session" >"$data/$1.lua"
}
held_body="{\"ticketId\":\"$ticket\"}"
invalid_body='{"ticketId":"not-a-ticket-id"}'
for kind in held invalid; do
  body_of=${kind}_body
  script "$kind" "${!body_of}"
  echo "$kind answers: $(curl -s -H "cookie: $session" -H 'content-type: application/json' \
    -d "${!body_of}" "$base/api/orders")"
done

for run in $(seq 1 "$runs"); do
  for kind in held invalid; do
    wrk -t2 -c64 -d8s --latency -s "$data/$kind.lua" "$base/api/orders" >"$data/$kind.$run"
    printf '%-8s run %d: %8.0f requests/s, p99 %s\n' "$kind" "$run" \
      "$(awk '/Requests\/sec/ {print $2}' "$data/$kind.$run")" \
      "$(awk '$1 == "99%" {print $2}' "$data/$kind.$run")"
  done
done
python3 - "$data" "$runs" <<'PY'
import re, sys
data, runs = sys.argv[1], int(sys.argv[2])
def rate(kind, run):
    return float(re.search(r"Requests/sec:\s+([\d.]+)", open(f"{data}/{kind}.{run}").read()).group(1))
held = sum(rate("held", r) for r in range(1, runs + 1)) / runs
invalid = sum(rate("invalid", r) for r in range(1, runs + 1)) / runs
print(f"hot-ticket refusals: {held:.0f}/s, validation refusals: {invalid:.0f}/s, ratio {held / invalid:.2f} (target >= 0.90)")
PY
