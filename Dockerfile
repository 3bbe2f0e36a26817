# syntax=docker/dockerfile:1
#
# The `sluice` binary (serve, scan, redact, envoy-bootstrap), statically linked against musl,
# in a distroless image with no shell, running as 65532:65532.
#
#   docker build -t registry.example.com/sluice/sluice:0.1.0 .
#   docker run --rm -p 50051:50051 registry.example.com/sluice/sluice:0.1.0
#
# On an arm64 builder: --build-arg TARGET=aarch64-unknown-linux-musl. The wasm filter is
# packaged separately (deploy/istio/README.md).

ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-bookworm AS build
ARG TARGET=x86_64-unknown-linux-musl
RUN rustup target add "${TARGET}"
WORKDIR /src
COPY . .
# Pure Rust (no C dependencies), so the musl target links with the toolchain's own musl.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --target "${TARGET}" -p sluice-ext-proc \
    && install -D -m 0755 "target/${TARGET}/release/sluice" /out/sluice

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/sluice /sluice
USER 65532:65532
EXPOSE 50051
ENTRYPOINT ["/sluice"]
# The default policy on all interfaces; the Kubernetes manifests (deploy/kubernetes) pass their
# own arguments.
CMD ["serve", "--listen", "0.0.0.0:50051"]
