# Everyday commands. Install just with `cargo install just` (optional:
# every recipe is a plain cargo command you can run yourself).

# List the recipes.
default:
    @just --list

# Build the host with the built-in plugins embedded (plugins build via host/build.rs).
build:
    cargo build -p proxmcp

# Build only the wasm plugins (built-ins and test guests).
plugins:
    cargo build --release --target wasm32-wasip2 --target-dir target/wasm-plugins -p proxmcp-plugin-inventory -p proxmcp-plugin-lifecycle -p proxmcp-plugin-provisioning -p proxmcp-plugin-guest-exec -p proxmcp-plugin-raw-api -p proxmcp-plugin-firewall-ha-read -p proxmcp-plugin-firewall-ha -p proxmcp-plugin-backups-read -p proxmcp-plugin-backups -p proxmcp-plugin-provisioning-read -p proxmcp-plugin-storage-disks -p proxmcp-plugin-node-maintenance -p proxmcp-plugin-hostile -p proxmcp-plugin-forbidden-net

# Run the whole test suite (the README's test command; CI runs the same).
test:
    cargo test --workspace

# Format and lint; warnings are errors.
lint:
    cargo fmt --all --check
    cargo clippy --workspace --all-targets -- -D warnings

# Format the code.
fmt:
    cargo fmt --all

# Benchmarks: per-call overhead and start-up, printed as ratios.
bench:
    cargo bench -p proxmcp --bench overhead

# Serve MCP over stdio against an in-process simulated cluster.
demo:
    cargo run --release -p proxmcp -- demo

# Run the simulator as a standalone Proxmox API (HTTPS on 127.0.0.1:8006).
sim:
    cargo run --release -p proxmcp -- sim

# Serve over stdio against the cluster named by PVE_* variables (or .env).
serve:
    cargo run --release -p proxmcp -- serve

# Show the plugins the configuration loads.
plugins-list:
    cargo run -p proxmcp -- plugins list
