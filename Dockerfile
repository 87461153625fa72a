# proxmcp: multi-stage build, slim non-root runtime.
#   docker build -t proxmcp .
#   docker compose up        (see compose.yaml: published on 127.0.0.1 only)
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
# rust-toolchain.toml pins the toolchain and the wasm32-wasip2 target the
# built-in plugins are compiled for.
COPY rust-toolchain.toml ./
RUN rustup show active-toolchain && rustup target add wasm32-wasip2
COPY . .
RUN cargo build --release --locked -p proxmcp \
 && install -D target/release/proxmcp /out/proxmcp

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/proxmcp --create-home proxmcp
COPY --from=build /out/proxmcp /usr/local/bin/proxmcp
USER proxmcp
WORKDIR /var/lib/proxmcp
# Inside the container proxmcp listens on every interface so the port can be
# published; it refuses to start that way unless bearer tokens are
# configured ([rbac] in a mounted config) or MCP_ALLOW_UNAUTHENTICATED=true.
ENV MCP_TRANSPORT=streamable-http \
    MCP_HOST=0.0.0.0 \
    MCP_PORT=8000 \
    PROXMCP_CACHE_DIR=/var/lib/proxmcp/cache
EXPOSE 8000
ENTRYPOINT ["proxmcp"]
CMD ["serve"]
