//! `pve_get_guest_info`: what a guest says about itself. QEMU answers
//! through its guest agent; a container through what Proxmox knows of it.

use proxmcp_sdk::guest::{Located, OnGuest};
use proxmcp_sdk::network;
use proxmcp_sdk::value::{items, text, uint};
use proxmcp_sdk::{Answer, ApiError, NoArgs, Router, ToolError, format, pve};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;

/// The requests this file's tools send.
pub const GRANTS: &[&str] = &[
    "GET /nodes/{node}/qemu/{vmid}/config",
    "GET /nodes/{node}/qemu/{vmid}/agent/get-osinfo",
    "GET /nodes/{node}/qemu/{vmid}/agent/get-host-name",
    "GET /nodes/{node}/qemu/{vmid}/agent/get-fsinfo",
    "GET /nodes/{node}/qemu/{vmid}/agent/get-users",
    "GET /nodes/{node}/qemu/{vmid}/agent/get-timezone",
    "GET /nodes/{node}/lxc/{vmid}/config",
    "GET /nodes/{node}/lxc/{vmid}/status/current",
];

pub fn router() -> Router {
    Router::new().read(
        "pve_get_guest_info",
        "Get guest info",
        "OS, hostname, file systems with usage, logged-in users and time zone: QEMU via its guest agent, LXC from Proxmox.",
        info,
    )
}

#[derive(Serialize, JsonSchema, Default)]
struct Os {
    name: Option<String>,
    version: Option<String>,
    kernel: Option<String>,
    arch: Option<String>,
}

#[derive(Serialize, JsonSchema)]
struct FileSystem {
    mountpoint: String,
    #[serde(rename = "type")]
    fstype: Option<String>,
    total_bytes: Option<u64>,
    used_bytes: Option<u64>,
    used_percent: Option<f64>,
}

#[derive(Serialize, JsonSchema)]
struct User {
    user: String,
    login_utc: Option<String>,
}

#[derive(Serialize, JsonSchema)]
struct Unavailable {
    what: String,
    why: String,
}

#[derive(Serialize, JsonSchema)]
struct Info {
    vmid: u32,
    node: String,
    #[serde(rename = "type")]
    kind: &'static str,
    /// `guest agent` (QEMU) or `proxmox` (LXC: config and status).
    source: &'static str,
    os: Os,
    hostname: Option<String>,
    filesystems: Vec<FileSystem>,
    /// Logged-in users (QEMU only).
    users: Vec<User>,
    timezone: Option<String>,
    /// Parts the guest could not report, and why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    unavailable: Vec<Unavailable>,
}

fn percent(used: Option<u64>, total: Option<u64>) -> Option<f64> {
    match (used, total) {
        (Some(u), Some(t)) if t > 0 => Some((u as f64 * 1000.0 / t as f64).round() / 10.0),
        _ => None,
    }
}

fn info(a: OnGuest<NoArgs>) -> Result<Answer<Info>, ToolError> {
    let g = a.locate()?;
    let info = if g.kind == "qemu" { qemu(&g)? } else { lxc(&g)? };
    let os = info.os.name.clone().unwrap_or_else(|| "unknown OS".into());
    let summary = format!(
        "{g}: {os}, hostname {}, {} file systems, {} users logged in",
        info.hostname.as_deref().unwrap_or("unknown"),
        info.filesystems.len(),
        info.users.len()
    );
    Ok(Answer::new(info, summary))
}

fn qemu(g: &Located) -> Result<Info, ToolError> {
    network::require_agent(g)?;
    let vmid = g.vmid.to_string();
    let ask = |command: &str| -> Result<Value, ApiError> {
        pve::get(&["nodes", &g.node, "qemu", &vmid, "agent", command], &Value::Null).map(|v| v["result"].clone())
    };
    // The OS answers first: when the agent is silent, say so once.
    let osinfo = ask("get-osinfo").map_err(|e| network::agent_error(g, e, ToolError::Api))?;
    let mut unavailable = Vec::new();
    let mut optional = |command: &str| match ask(command) {
        Ok(v) => Some(v),
        Err(e) => {
            unavailable.push(Unavailable { what: command.into(), why: e.to_string() });
            None
        }
    };
    let hostname = optional("get-host-name").and_then(|v| text(&v, "host-name"));
    let filesystems = optional("get-fsinfo")
        .map(|v| {
            items(&v)
                .iter()
                .map(|f| {
                    let (total, used) = (uint(f, "total-bytes"), uint(f, "used-bytes"));
                    FileSystem {
                        mountpoint: text(f, "mountpoint").unwrap_or_default(),
                        fstype: text(f, "type"),
                        total_bytes: total,
                        used_bytes: used,
                        used_percent: percent(used, total),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    let users = optional("get-users")
        .map(|v| {
            items(&v)
                .iter()
                .map(|u| User {
                    user: text(u, "user").unwrap_or_default(),
                    login_utc: u["login-time"].as_f64().map(|t| format::utc(t as u64)),
                })
                .collect()
        })
        .unwrap_or_default();
    let timezone = optional("get-timezone").and_then(|v| text(&v, "zone"));
    Ok(Info {
        vmid: g.vmid,
        node: g.node.clone(),
        kind: "qemu",
        source: "guest agent",
        os: Os {
            name: text(&osinfo, "pretty-name").or_else(|| text(&osinfo, "name")),
            version: text(&osinfo, "version"),
            kernel: text(&osinfo, "kernel-release"),
            arch: text(&osinfo, "machine"),
        },
        hostname,
        filesystems,
        users,
        timezone,
        unavailable,
    })
}

fn lxc(g: &Located) -> Result<Info, ToolError> {
    let vmid = g.vmid.to_string();
    let config = pve::get(&["nodes", &g.node, "lxc", &vmid, "config"], &Value::Null)?;
    let status = pve::get(&["nodes", &g.node, "lxc", &vmid, "status", "current"], &Value::Null)?;
    let (total, used) = (uint(&status, "maxdisk"), uint(&status, "disk").filter(|_| status["status"] == "running"));
    let mut filesystems = vec![FileSystem {
        mountpoint: "/".into(),
        fstype: None,
        total_bytes: total,
        used_bytes: used,
        used_percent: percent(used, total),
    }];
    for i in 0..256 {
        let Some(mp) = text(&config, &format!("mp{i}")) else { continue };
        let path = mp.split(',').find_map(|p| p.strip_prefix("mp=")).unwrap_or_default().to_string();
        filesystems.push(FileSystem {
            mountpoint: path,
            fstype: None,
            total_bytes: None,
            used_bytes: None,
            used_percent: None,
        });
    }
    let mut unavailable = vec![Unavailable {
        what: "users".into(),
        why: "Proxmox does not report who is logged into a container".into(),
    }];
    if status["status"] != "running" {
        unavailable.push(Unavailable { what: "disk usage".into(), why: "the container is not running".into() });
    }
    Ok(Info {
        vmid: g.vmid,
        node: g.node.clone(),
        kind: "lxc",
        source: "proxmox",
        os: Os { name: text(&config, "ostype"), version: None, kernel: None, arch: text(&config, "arch") },
        hostname: text(&config, "hostname"),
        filesystems,
        users: Vec::new(),
        timezone: text(&config, "timezone"),
        unavailable,
    })
}
