#!/usr/bin/env bash
# What a won BUY costs in instructions, free of the machine's noise
# (valgrind's callgrind; release build, loopback):
#   scripts/callgrind-wins.sh [tickets] [out]   (default 3000, target/bench/wins.callgrind)
# Runs the node under callgrind through the all-wins flash (`tickets` x one
# buyer, 64 connections), zeroes the counts at its first BUY decision and
# writes them out once the load tool is done: instructions per win are the
# total over the wins after the zero (the tool's final check of the buyers'
# orders included, the same for every build). BOXOFFICE_BIN runs another
# build. Under valgrind, sha2 cannot see the CPU's SHA extensions and hashes
# in software: the token check counts ~20k instructions per win that the
# native build spends a few hundred on.
#   callgrind_annotate --inclusive=yes <out> | less   reads the result.
set -euo pipefail
cd "$(dirname "$0")/.."
tickets=${1:-3000}
out=${2:-target/bench/wins.callgrind}
port=3298
command -v valgrind >/dev/null || { echo "needs valgrind (apt-get install valgrind)" >&2; exit 2; }
cargo build --release --locked -p boxoffice -p boxoffice-load --bin boxoffice --bin boxoffice-load
mkdir -p "$(dirname "$out")"
data=$(mktemp -d)
pid=
source scripts/bench-node.sh

decisions() {
  curl -sf "http://127.0.0.1:$port/metrics" |
    awk '/^boxoffice_buy_decisions_total/ {s += $NF} END {print s + 0}'
}

valgrind --tool=callgrind --callgrind-out-file="$data/callgrind.out" \
  "${BOXOFFICE_BIN:-target/release/boxoffice}" --http-addr 127.0.0.1:$port \
  --data-dir "$data/node" --max-holds-per-user 0 >>"$data/log" 2>&1 &
pid=$!
for _ in $(seq 1 300); do
  curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break
  sleep 0.2
done
target/release/boxoffice-load --target http://127.0.0.1:$port --scenario flash \
  --tickets "$tickets" --buyers 1 --concurrency 64 --quiet --json "$data/flash.json" &
load=$!
zeroed=
while kill -0 $load 2>/dev/null; do
  now=$(decisions || echo 0)
  if [ "$now" != 0 ]; then
    callgrind_control -z $pid >/dev/null 2>&1
    zeroed=$now
    break
  fi
  sleep 0.05
done
wait $load
[ -n "$zeroed" ] || { echo "the rush ended before the counts were zeroed" >&2; exit 1; }
wins=$(( $(decisions) - zeroed ))
callgrind_control -d $pid >/dev/null 2>&1
sleep 1
# The dump after the zero is the second part callgrind writes.
cp "$data/callgrind.out.1" "$out"
total=$(awk '/^summary:/ {print $2}' "$out")
echo "$wins wins after the zero: $total instructions, $(( total / wins )) per win"
echo "profile: $out"
