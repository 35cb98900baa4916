# The kukka image: one binary, `kukka`, that runs any role
# (`kukka node --role edge|order|payment|delivery`, or KUKKA_ROLE).
#
#   docker build -t kukka:local .
#
# Needs BuildKit (the default builder since Docker 23) for the cache mounts.
#
# No HEALTHCHECK: the image has no HTTP client, and Kubernetes probes
# /healthz and /readyz on port 9090 itself.
# checkov:skip=CKV_DOCKER_2:Kubernetes probes the admin port; the image has no HTTP client for a HEALTHCHECK

FROM rust:1-bookworm AS builder
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p kukka-nodes \
 && install -m 0755 target/release/kukka /usr/local/bin/kukka

# Debian slim rather than distroless: the edge's preStop hook runs `sleep`.
FROM debian:bookworm-slim AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 kukka \
 && useradd --system --uid 10001 --gid 10001 --home-dir /home/kukka \
      --create-home --shell /usr/sbin/nologin kukka \
 && mkdir -p /data \
 && chown 10001:10001 /data
COPY --from=builder /usr/local/bin/kukka /usr/local/bin/kukka
USER 10001:10001
WORKDIR /home/kukka
# Order and payment keep their sled data here (a PVC in Kubernetes).
ENV KUKKA_DATA_DIR=/data
# 8088: the edge's public API; 9090: /healthz /readyz /metrics on every
# role; 4697: the cluster port.
EXPOSE 8088 9090 4697
ENTRYPOINT ["kukka"]
CMD ["node"]
