#!/usr/bin/env bash
# Runs one load scenario against boxoffice (one node, durable) and against the
# PostgreSQL row-lock peer, on this machine's loopback, and prints the ratio.
#   scripts/bench-compare.sh [hot|flash|wins|mixed] [extra boxoffice-load flags…]
# Defaults: hot → 1 ticket × 1000 buyers; flash → 2000 tickets × 10 buyers;
# wins → the flash scenario with one buyer, so every BUY wins (30,000 tickets).
# Results land in target/bench/<scenario>-{boxoffice,pg}.{json,svg}.
# BOXOFFICE_BIN runs another build of the server (to compare two commits).
set -euo pipefail
cd "$(dirname "$0")/.."
scenario=${1:-hot}
shift || true
load_scenario=$scenario
case "$scenario" in
  hot) sizes=(--tickets 1 --buyers 1000) ;;
  flash) sizes=(--tickets 2000 --buyers 10 --concurrency 64) ;;
  wins) sizes=(--tickets "${WINS_TICKETS:-30000}" --buyers 1 --concurrency 64); load_scenario=flash ;;
  mixed) sizes=(--tickets 500 --buyers 100 --concurrency 64 --duration 10) ;;
  *) echo "scenario: hot, flash, wins or mixed" >&2; exit 2 ;;
esac
out=target/bench
mkdir -p "$out"
cargo build --release --locked -p boxoffice -p boxoffice-load \
  --bin boxoffice --bin boxoffice-load --example pg_peer

data=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  # A node writes out its store as it stops: remove its files once it has.
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  scripts/pg-peer.sh stop
  rm -rf "$data"
}
trap cleanup EXIT

url=$(scripts/pg-peer.sh start)
DATABASE_URL=$url target/release/examples/pg_peer 127.0.0.1:3290 >"$data/pg.log" 2>&1 &
pids+=($!)
"${BOXOFFICE_BIN:-target/release/boxoffice}" --http-addr 127.0.0.1:3291 --data-dir "$data/boxoffice" --max-holds-per-user 0 >"$data/bo.log" 2>&1 &
pids+=($!)
for port in 3290 3291; do
  for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break
    sleep 0.1
  done
done

target/release/boxoffice-load --target http://127.0.0.1:3291 --scenario "$load_scenario" "${sizes[@]}" "$@" \
  --label "boxoffice (1 node)" --json "$out/$scenario-boxoffice.json"
target/release/boxoffice-load --target http://127.0.0.1:3290 --scenario "$load_scenario" "${sizes[@]}" "$@" \
  --label "PostgreSQL FOR UPDATE" --json "$out/$scenario-pg.json"

python3 - "$out/$scenario-boxoffice.json" "$out/$scenario-pg.json" <<'PY'
import json, sys
bo, pg = (json.load(open(p)) for p in sys.argv[1:3])
print()
print(f"{'':24}{'boxoffice':>14}{'PostgreSQL':>14}{'ratio':>10}")
for k in ("decisions_per_sec", "p50_ms", "p99_ms", "max_ms"):
    r = bo[k] / pg[k] if pg[k] else float("inf")
    print(f"{k:24}{bo[k]:>14.2f}{pg[k]:>14.2f}{r:>9.2f}x")
print(f"{'wins / double holds':24}{bo['wins']:>9} / {bo['double_holds']}{pg['wins']:>9} / {pg['double_holds']}")
PY
