# syntax=docker/dockerfile:1
#
# A small image: FROM scratch, the binary and the few libraries it links,
# running as uid 10001. Two ways to build it:
#
#   From source (pulls the Rust image):
#     docker build -t boxoffice .
#
#   From a binary built on this host (no image to pull, e.g. offline):
#     scripts/docker-image.sh            # = cargo build --release, docker/rootfs.sh,
#                                        #   docker build --target prebuilt -t boxoffice .

# The host-built path: copies what scripts/docker-image.sh assembled. It comes
# first because the classic builder builds every stage before its target.
FROM scratch AS prebuilt
COPY target/docker-rootfs/root/ /
COPY --chown=10001:10001 target/docker-rootfs/writable/ /
USER 10001:10001
ENV BOXOFFICE_HTTP_ADDR=0.0.0.0:3000 \
    BOXOFFICE_DATA_DIR=/data \
    RUST_LOG=info
EXPOSE 3000 4369
VOLUME ["/data"]
ENTRYPOINT ["/usr/local/bin/boxoffice"]

ARG RUST_IMAGE=rust:1-bookworm

FROM ${RUST_IMAGE} AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin boxoffice \
 && docker/rootfs.sh target/release/boxoffice /rootfs

# The default: built from source in the stage above.
FROM scratch AS runtime
COPY --from=build /rootfs/root/ /
COPY --from=build --chown=10001:10001 /rootfs/writable/ /
USER 10001:10001
ENV BOXOFFICE_HTTP_ADDR=0.0.0.0:3000 \
    BOXOFFICE_DATA_DIR=/data \
    RUST_LOG=info
EXPOSE 3000 4369
VOLUME ["/data"]
ENTRYPOINT ["/usr/local/bin/boxoffice"]
