# The executor image: one workflow run per Kubernetes Job.
# Build from the repository root:
#   docker build -f infra/executor.Dockerfile -t saasit-executor .
# The runtime image is distroless (glibc, CA certificates, no shell) and runs
# as a non-root user; the binary needs nothing else (TLS is rustls).

FROM rust:1.85-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p executor \
 && cp target/release/executor /executor

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /executor /usr/local/bin/executor
USER nonroot:nonroot
ENTRYPOINT ["/usr/local/bin/executor"]
