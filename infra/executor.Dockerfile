# syntax=docker/dockerfile:1.7
# The executor image: one workflow run per Kubernetes Job.
#
# Multi-arch (Graviton and x86 node groups) from one build host, cross-compiling
# natively instead of emulating, from the repository root:
#   docker buildx build -f infra/executor.Dockerfile \
#     --platform linux/arm64,linux/amd64 -t <repo>:<tag> --push .
# One architecture: docker build -f infra/executor.Dockerfile -t saasit-executor .
#
# RUST_VERSION must be at least the workspace's rust-version (Cargo.toml); the
# deploy lint (scripts/lib/deploy_lint.py) checks it. The runtime image is
# distroless (glibc, CA certificates, no shell) and runs as a non-root user; the
# binary needs nothing else (TLS is rustls).

ARG RUST_VERSION=1.95.0

FROM --platform=$BUILDPLATFORM rust:${RUST_VERSION}-bookworm AS build
ARG TARGETARCH
# The target triple, and a cross linker and C compiler (ring builds C) when the
# target is not the build host's architecture.
RUN set -eu; \
    case "$TARGETARCH" in \
      arm64) triple=aarch64-unknown-linux-gnu; gnu=aarch64-linux-gnu; deb=arm64 ;; \
      amd64) triple=x86_64-unknown-linux-gnu; gnu=x86_64-linux-gnu; deb=amd64 ;; \
      *) echo "unsupported TARGETARCH '$TARGETARCH' (arm64 or amd64)" >&2; exit 1 ;; \
    esac; \
    echo "$triple" > /triple; \
    if [ "$(dpkg --print-architecture)" != "$deb" ]; then \
      apt-get update; \
      apt-get install -y --no-install-recommends "gcc-$(echo $gnu | tr _ -)" "libc6-dev-$deb-cross"; \
      rm -rf /var/lib/apt/lists/*; \
      rustup target add "$triple"; \
    fi
ENV CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc \
    CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc \
    CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER=x86_64-linux-gnu-gcc \
    CC_x86_64_unknown_linux_gnu=x86_64-linux-gnu-gcc
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target,id=executor-target-${TARGETARCH} \
    set -eu; triple="$(cat /triple)"; \
    if [ "$(uname -m)-unknown-linux-gnu" = "$triple" ]; then \
      unset CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER CC_aarch64_unknown_linux_gnu \
            CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER CC_x86_64_unknown_linux_gnu; \
    fi; \
    cargo build --release --locked -p executor --target "$triple"; \
    cp "target/$triple/release/executor" /executor

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /executor /usr/local/bin/executor
USER nonroot:nonroot
ENTRYPOINT ["/usr/local/bin/executor"]
