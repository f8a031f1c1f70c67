#!/usr/bin/env bash
# The cluster in real containers: builds the image from the host binary,
# starts 3 nodes with docker-compose on a private network, checks
# contention across nodes, `docker kill`s one node and cuts another off the
# network (a partition), checks the invariants, and removes everything it
# created. Talks only to its own containers through 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."

project="bo-test-$$"
image="boxoffice:test-$$"
state=$(mktemp)
export BOXOFFICE_IMAGE=$image JWT_KEY="docker-test-jwt-key-0123456789" \
       CLUSTER_COOKIE="docker-test-cluster-cookie" ADMIN_TOKEN="docker-test-admin-token" \
       ORDER_TTL_SECS=900
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
export BOXOFFICE_PORT_0=$(free_port) BOXOFFICE_PORT_1=$(free_port) BOXOFFICE_PORT_2=$(free_port)
urls="http://127.0.0.1:$BOXOFFICE_PORT_0,http://127.0.0.1:$BOXOFFICE_PORT_1,http://127.0.0.1:$BOXOFFICE_PORT_2"
compose() { docker-compose -p "$project" -f docker-compose.yml "$@"; }

cleanup() {
  compose down -v --remove-orphans >/dev/null 2>&1 || true
  docker image rm -f "$image" >/dev/null 2>&1 || true
  rm -f "$state"
}
trap cleanup EXIT

echo "== image from the host binary"
scripts/docker-image.sh "$image"
docker image inspect "$image" --format 'image size: {{.Size}} bytes, user {{.Config.User}}'

echo "== three nodes"
compose up -d --no-build
timeout 90 python3 scripts/cluster_check.py ready "$urls"

echo "== contention across nodes"
timeout 120 python3 scripts/cluster_check.py setup "$urls" "$state"

echo "== docker kill boxoffice-2"
compose kill boxoffice-2
sleep 1.5
timeout 60 python3 scripts/cluster_check.py down "http://127.0.0.1:$BOXOFFICE_PORT_0" "$state" boxoffice-2
compose start boxoffice-2
timeout 90 python3 scripts/cluster_check.py ready "$urls"

echo "== partition: boxoffice-1 cut off the network"
net="${project}_cluster"
docker network disconnect "$net" "${project}_boxoffice-1_1"
sleep 1.5
timeout 60 python3 scripts/cluster_check.py down "http://127.0.0.1:$BOXOFFICE_PORT_0" "$state" boxoffice-1
docker network connect --alias boxoffice-1 "$net" "${project}_boxoffice-1_1"
timeout 90 python3 scripts/cluster_check.py ready "$urls"

echo "== invariants after the failures"
timeout 60 python3 scripts/cluster_check.py verify "$urls" "$state"
echo "docker test: 1 passed, 0 failed"
