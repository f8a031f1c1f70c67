#!/usr/bin/env bash
# Builds the boxoffice image from a binary compiled on this host
# (docker/Dockerfile.prebuilt): nothing is pulled.
#   scripts/docker-image.sh [tag]      (default tag: boxoffice:latest)
set -euo pipefail
cd "$(dirname "$0")/.."
tag=${1:-boxoffice:latest}
cargo build --release --locked --bin boxoffice
docker/rootfs.sh target/release/boxoffice target/docker-rootfs
docker build -f docker/Dockerfile.prebuilt -t "$tag" .
