# syntax=docker/dockerfile:1
#
# A small image: FROM scratch, the binary and the few libraries it links,
# running as uid 10001. Built from source here:
#
#     docker build -t boxoffice .
#
# Without a registry to pull the Rust image from, build the same image from a
# binary compiled on the host with docker/Dockerfile.prebuilt instead:
#
#     scripts/docker-image.sh
#
# (Two files rather than two targets: the classic builder builds every stage
# before its target, so one file cannot serve both paths.) Keep the final
# stage here and docker/Dockerfile.prebuilt in step.

ARG RUST_IMAGE=rust:1-bookworm

FROM ${RUST_IMAGE} AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin boxoffice \
 && docker/rootfs.sh target/release/boxoffice /rootfs

FROM scratch AS runtime
COPY --from=build /rootfs/root/ /
COPY --from=build --chown=10001:10001 /rootfs/writable/ /
USER 10001:10001
ENV BOXOFFICE_HTTP_ADDR=0.0.0.0:3000 \
    BOXOFFICE_DATA_DIR=/data \
    RUST_LOG=info
EXPOSE 3000 4369
ENTRYPOINT ["/usr/local/bin/boxoffice"]
