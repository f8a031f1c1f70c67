# Sourced by the single-node bench scripts, after they set `data` (a temp
# dir) and `pid` (empty until the node starts): on exit, stops the node
# and removes its data dir once the node has stopped (it writes its store
# out as it stops, and would leave files behind otherwise).
cleanup() {
  if [ -n "$pid" ]; then
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$data"
}
trap cleanup EXIT
