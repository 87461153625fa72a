//! Builds the wasm plugins (built-ins and test-only guests) for
//! `wasm32-wasip2` with a nested cargo, so that `cargo build` yields a
//! self-contained `proxmcp` with the built-ins embedded.
//!
//! The nested build uses its own target directory (`target/wasm-plugins`)
//! so it never contends with the outer build's lock, and is always
//! `--release`: plugins are small, and optimised guests are what ships.

use std::env;
use std::path::PathBuf;
use std::process::Command;

/// (package, env var the host reads, artifact file name).
const GUESTS: &[(&str, &str, &str)] = &[
    ("proxmcp-plugin-inventory", "PROXMCP_WASM_INVENTORY", "proxmcp_plugin_inventory.wasm"),
    ("proxmcp-plugin-lifecycle", "PROXMCP_WASM_LIFECYCLE", "proxmcp_plugin_lifecycle.wasm"),
    ("proxmcp-plugin-provisioning", "PROXMCP_WASM_PROVISIONING", "proxmcp_plugin_provisioning.wasm"),
    ("proxmcp-plugin-guest-exec", "PROXMCP_WASM_GUEST_EXEC", "proxmcp_plugin_guest_exec.wasm"),
    ("proxmcp-plugin-raw-api", "PROXMCP_WASM_RAW_API", "proxmcp_plugin_raw_api.wasm"),
    ("proxmcp-plugin-firewall-ha-read", "PROXMCP_WASM_FIREWALL_HA_READ", "proxmcp_plugin_firewall_ha_read.wasm"),
    ("proxmcp-plugin-firewall-ha", "PROXMCP_WASM_FIREWALL_HA", "proxmcp_plugin_firewall_ha.wasm"),
    ("proxmcp-plugin-backups-read", "PROXMCP_WASM_BACKUPS_READ", "proxmcp_plugin_backups_read.wasm"),
    ("proxmcp-plugin-backups", "PROXMCP_WASM_BACKUPS", "proxmcp_plugin_backups.wasm"),
    ("proxmcp-plugin-provisioning-read", "PROXMCP_WASM_PROVISIONING_READ", "proxmcp_plugin_provisioning_read.wasm"),
    ("proxmcp-plugin-storage-disks", "PROXMCP_WASM_STORAGE_DISKS", "proxmcp_plugin_storage_disks.wasm"),
    ("proxmcp-plugin-node-maintenance", "PROXMCP_WASM_NODE_MAINTENANCE", "proxmcp_plugin_node_maintenance.wasm"),
    ("proxmcp-plugin-hostile", "PROXMCP_TEST_WASM_HOSTILE", "proxmcp_plugin_hostile.wasm"),
    ("proxmcp-plugin-forbidden-net", "PROXMCP_TEST_WASM_FORBIDDEN_NET", "proxmcp_plugin_forbidden_net.wasm"),
    ("proxmcp-plugin-contract-0-1-0", "PROXMCP_TEST_WASM_CONTRACT_0_1_0", "proxmcp_plugin_contract_0_1_0.wasm"),
];

fn main() {
    pack_relative_relocations();
    let Some(root) = env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from).and_then(|d| d.parent().map(PathBuf::from))
    else {
        println!("cargo::error=CARGO_MANIFEST_DIR is not set; run the build through cargo");
        return;
    };
    for watched in ["wit", "sdk", "plugins", "tests/plugins", "Cargo.lock", "Cargo.toml"] {
        println!("cargo::rerun-if-changed={}", root.join(watched).display());
    }
    let target_dir = root.join("target").join("wasm-plugins");
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&root).args(["build", "--release", "--target", "wasm32-wasip2", "--target-dir"]).arg(&target_dir);
    for (package, _, _) in GUESTS {
        cmd.args(["-p", package]);
    }
    // The outer cargo's settings for the host must not leak into the guest
    // build (clippy's wrapper, host rustflags, a forced target).
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTC_WRAPPER",
        "CARGO_BUILD_RUSTC_WRAPPER",
        "CARGO_BUILD_RUSTC_WORKSPACE_WRAPPER",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "CARGO_PRIMARY_PACKAGE",
        "CLIPPY_ARGS",
        "CLIPPY_CONF_DIR",
        "__CARGO_FIX_PLZ",
    ] {
        cmd.env_remove(var);
    }
    let mut result = cmd.output();
    // A fresh machine may lack the wasm target (rustup does not always add
    // the toolchain file's targets by itself): add it once and retry.
    if let Ok(out) = &result
        && !out.status.success()
        && String::from_utf8_lossy(&out.stderr).contains("target may not be installed")
    {
        let added = Command::new("rustup").args(["target", "add", "wasm32-wasip2"]).status();
        if added.is_ok_and(|s| s.success()) {
            result = cmd.output();
        }
    }
    match result {
        Ok(out) if out.status.success() => {}
        Ok(out) => {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let hint = if stderr.contains("wasm32-wasip2") && stderr.contains("target may not be installed") {
                " The wasm target is missing: run `rustup target add wasm32-wasip2`."
            } else {
                ""
            };
            for line in stderr.lines().rev().take(40).collect::<Vec<_>>().into_iter().rev() {
                println!("cargo::warning={line}");
            }
            println!(
                "cargo::error=building the wasm plugins failed.{hint} See the warnings above for the compiler's output."
            );
            return;
        }
        Err(e) => {
            println!("cargo::error=cannot run cargo to build the wasm plugins: {e}");
            return;
        }
    }
    let out_dir = target_dir.join("wasm32-wasip2").join("release");
    for (_, var, file) in GUESTS {
        let path = out_dir.join(file);
        println!("cargo::rustc-env={var}={}", path.display());
        // The compile cache's key: computed here so that a start with a warm
        // cache never reads (and so never pages in) the embedded bytes.
        if let Ok(bytes) = std::fs::read(&path) {
            let hex: String = sha2::Digest::finalize(<sha2::Sha256 as sha2::Digest>::new_with_prefix(&bytes))
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            println!("cargo::rustc-env={var}_SHA256={hex}");
        }
    }
}

/// Links `proxmcp` with its relative relocations packed (`DT_RELR`): the
/// position-independent binary's ~58,000 of them otherwise take 1.4 MB of
/// `.rela.dyn` that the loader reads at every start and that stays in
/// memory (`just bench`: idle RSS). Only for a native build against a
/// glibc that reads them (2.36+, which the binary then needs); elsewhere
/// the binary links as before.
fn pack_relative_relocations() {
    let (target, host) = (env::var("TARGET").unwrap_or_default(), env::var("HOST").unwrap_or_default());
    let arch_ok = target.starts_with("x86_64-") || target.starts_with("aarch64-");
    if target != host || !target.ends_with("-linux-gnu") || !arch_ok {
        return;
    }
    // `getconf GNU_LIBC_VERSION` prints e.g. "glibc 2.36".
    let Ok(out) = Command::new("getconf").arg("GNU_LIBC_VERSION").output() else {
        return;
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let version = text.trim().strip_prefix("glibc ").unwrap_or_default();
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    if (parts.next().unwrap_or(0), parts.next().unwrap_or(0)) >= (2, 36) {
        println!("cargo::rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}
