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
    bridge: Option<String>,
    ssh_public_keys: Option<String>,
    unprivileged: Option<bool>,
    start: Option<bool>,
    pool: Option<String>,
}

fn create_lxc(a: LxcArgs, writes: &mut Writes) -> Result<Answer<Outcome<NewGuest>>, ToolError> {
    dns_name("hostname", &a.hostname)?;
    let vmid = next_vmid(a.vmid)?;
    let storage = a.storage.as_deref().unwrap_or("local-lvm");
    let mut p = json!({
        "vmid": vmid, "hostname": a.hostname, "ostemplate": a.ostemplate, "cores": a.cores.unwrap_or(1),
        "memory": a.memory_mib.unwrap_or(512), "rootfs": format!("{storage}:{}", a.disk_gib.unwrap_or(8)),
        "net0": format!("name=eth0,bridge={},ip=dhcp", a.bridge.as_deref().unwrap_or("vmbr0")),
        "unprivileged": a.unprivileged.unwrap_or(true),
    });
    if let Some(k) = &a.ssh_public_keys {
        p["ssh-public-keys"] = json!(k);
    }
    with_start_and_pool(&mut p, a.start, a.pool.as_deref());
    let sent = writes.send(Method::Post, &["nodes", &a.node, "lxc"], &p)?;
    writes.finish(&a.node, sent, &format!("create CT {vmid} on {}", a.node), NewGuest { vmid })
}
