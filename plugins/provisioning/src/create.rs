//! `pve_create_qemu_vm` and `pve_create_lxc`: a new guest with one disk and
//! one NIC, on the next free vmid unless one is given.

use proxmcp_sdk::write::{Outcome, Writes};
use proxmcp_sdk::{Answer, Hints, Method, Router, ToolError};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

use crate::common::{NewGuest, dns_name, next_vmid, with_start_and_pool};

/// The requests this file's tools send.
pub const GRANTS: &[&str] = &["POST /nodes/{node}/qemu", "POST /nodes/{node}/lxc"];

pub fn router() -> Router {
    Router::new()
        .write(
            "pve_create_qemu_vm",
            "Create QEMU VM",
            "Create a QEMU VM with one disk and one NIC; the vmid defaults to the next free one.",
            Hints::WRITE,
            create_qemu,
        )
        .write(
            "pve_create_lxc",
            "Create container",
            "Create an LXC container from a template; the vmid defaults to the next free one.",
            Hints::WRITE,
            create_lxc,
        )
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct QemuArgs {
    node: String,
    #[schemars(range(min = 100))]
    vmid: Option<u32>,
    name: String,
    #[schemars(range(min = 1))]
    cores: Option<u32>,
    #[schemars(range(min = 16))]
    memory_mib: Option<u64>,
    #[schemars(range(min = 1))]
    disk_gib: Option<u64>,
    storage: Option<String>,
    /// Volume id of an ISO, e.g. local:iso/debian.iso.
    iso: Option<String>,
    ostype: Option<String>,
    bridge: Option<String>,
    start: Option<bool>,
    pool: Option<String>,
}

fn create_qemu(a: QemuArgs, writes: &mut Writes) -> Result<Answer<Outcome<NewGuest>>, ToolError> {
    dns_name("name", &a.name)?;
    let vmid = next_vmid(a.vmid)?;
    let storage = a.storage.as_deref().unwrap_or("local-lvm");
    let mut p = json!({
        "vmid": vmid, "name": a.name, "cores": a.cores.unwrap_or(2), "memory": a.memory_mib.unwrap_or(2048).to_string(),
        "scsihw": "virtio-scsi-single", "scsi0": format!("{storage}:{}", a.disk_gib.unwrap_or(32)),
        "net0": format!("virtio,bridge={}", a.bridge.as_deref().unwrap_or("vmbr0")),
        "ostype": a.ostype.as_deref().unwrap_or("l26"), "boot": "order=scsi0",
    });
    if let Some(iso) = &a.iso {
        p["ide2"] = json!(format!("{iso},media=cdrom"));
        p["boot"] = json!("order=scsi0;ide2");
    }
    with_start_and_pool(&mut p, a.start, a.pool.as_deref());
    let sent = writes.send(Method::Post, &["nodes", &a.node, "qemu"], &p)?;
    writes.finish(&a.node, sent, &format!("create VM {vmid} on {}", a.node), NewGuest { vmid })
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct LxcArgs {
    node: String,
    #[schemars(range(min = 100))]
    vmid: Option<u32>,
    hostname: String,
    /// e.g. local:vztmpl/debian-13-standard_13.1-1_amd64.tar.zst
    ostemplate: String,
    #[schemars(range(min = 1))]
    cores: Option<u32>,
    #[schemars(range(min = 16))]
    memory_mib: Option<u64>,
    #[schemars(range(min = 1))]
    disk_gib: Option<u64>,
    storage: Option<String>,
    /// Shorthand for net0.bridge.
    bridge: Option<String>,
    net0: Option<Net0>,
    /// DNS server(s), space separated; default: the node's.
    nameserver: Option<String>,
    #[schemars(range(min = 0))]
    swap_mib: Option<u64>,
    features: Option<Features>,
    ssh_public_keys: Option<String>,
    unprivileged: Option<bool>,
    start: Option<bool>,
    pool: Option<String>,
}

/// The container's first network device.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Net0 {
    /// Default vmbr0.
    bridge: Option<String>,
    /// An IPv4 CIDR (10.0.0.5/24) or dhcp (the default).
    ip: Option<String>,
    /// IPv4 gateway, with a static ip.
    gw: Option<String>,
    /// An IPv6 CIDR, dhcp or auto.
    ip6: Option<String>,
}

/// Container features.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Features {
    /// Containers inside (Docker, LXC).
    nesting: Option<bool>,
    /// keyctl() for systemd and Docker in unprivileged containers.
    keyctl: Option<bool>,
    /// FUSE mounts.
    fuse: Option<bool>,
}

fn invalid(message: String) -> ToolError {
    ToolError::InvalidArguments(message)
}

/// `a.b.c.d/n`.
fn ipv4_cidr(text: &str) -> bool {
    text.split_once('/')
        .is_some_and(|(a, m)| a.parse::<std::net::Ipv4Addr>().is_ok() && m.parse::<u8>().is_ok_and(|m| m <= 32))
}

/// net0 as Proxmox takes it: `name=eth0,bridge=...,ip=...,gw=...,ip6=...`.
fn lxc_net0(bridge: Option<&str>, net: Option<&Net0>) -> Result<String, ToolError> {
    if bridge.is_some() && net.is_some_and(|n| n.bridge.is_some()) {
        return Err(invalid("give the bridge once: bridge or net0.bridge".into()));
    }
    let bridge = bridge.or(net.and_then(|n| n.bridge.as_deref())).unwrap_or("vmbr0");
    let ip = net.and_then(|n| n.ip.as_deref()).unwrap_or("dhcp");
    if ip != "dhcp" && !ipv4_cidr(ip) {
        return Err(invalid(format!("net0.ip {ip:?}: give an IPv4 CIDR such as 10.0.0.5/24, or dhcp")));
    }
    let mut out = format!("name=eth0,bridge={bridge},ip={ip}");
    if let Some(gw) = net.and_then(|n| n.gw.as_deref()) {
        if ip == "dhcp" || gw.parse::<std::net::Ipv4Addr>().is_err() {
            return Err(invalid(format!("net0.gw {gw:?}: an IPv4 address, and only with a static net0.ip")));
        }
        out.push_str(&format!(",gw={gw}"));
    }
    if let Some(ip6) = net.and_then(|n| n.ip6.as_deref()) {
        let ok = matches!(ip6, "dhcp" | "auto")
            || ip6.split_once('/').is_some_and(|(a, _)| a.parse::<std::net::Ipv6Addr>().is_ok());
        if !ok {
            return Err(invalid(format!("net0.ip6 {ip6:?}: give an IPv6 CIDR, dhcp or auto")));
        }
        out.push_str(&format!(",ip6={ip6}"));
    }
    Ok(out)
}

fn create_lxc(a: LxcArgs, writes: &mut Writes) -> Result<Answer<Outcome<NewGuest>>, ToolError> {
    dns_name("hostname", &a.hostname)?;
    let vmid = next_vmid(a.vmid)?;
    let storage = a.storage.as_deref().unwrap_or("local-lvm");
    let mut p = json!({
        "vmid": vmid, "hostname": a.hostname, "ostemplate": a.ostemplate, "cores": a.cores.unwrap_or(1),
        "memory": a.memory_mib.unwrap_or(512), "rootfs": format!("{storage}:{}", a.disk_gib.unwrap_or(8)),
        "net0": lxc_net0(a.bridge.as_deref(), a.net0.as_ref())?,
        "unprivileged": a.unprivileged.unwrap_or(true),
    });
    if let Some(ns) = &a.nameserver {
        p["nameserver"] = json!(ns);
    }
    if let Some(swap) = a.swap_mib {
        p["swap"] = json!(swap);
    }
    if let Some(f) = &a.features {
        let on: Vec<String> = [("nesting", f.nesting), ("keyctl", f.keyctl), ("fuse", f.fuse)]
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| format!("{k}={}", u8::from(v))))
            .collect();
        if !on.is_empty() {
            p["features"] = json!(on.join(","));
        }
    }
    if let Some(k) = &a.ssh_public_keys {
        p["ssh-public-keys"] = json!(k);
    }
    with_start_and_pool(&mut p, a.start, a.pool.as_deref());
    let sent = writes.send(Method::Post, &["nodes", &a.node, "lxc"], &p)?;
    writes.finish(&a.node, sent, &format!("create CT {vmid} on {}", a.node), NewGuest { vmid })
}
