//! `pve_migrate_vm`: move a guest to another node, QEMU checked first with
//! Proxmox's own preflight.

use proxmcp_sdk::guest::{Located, OnGuest};
use proxmcp_sdk::write::{Outcome, Writes};
use proxmcp_sdk::{Answer, Hints, Method, Router, ToolError, pve};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The requests this file's tools send.
pub const GRANTS: &[&str] = &[
    "GET /nodes/{node}/qemu/{vmid}/migrate",
    "POST /nodes/{node}/qemu/{vmid}/migrate",
    "POST /nodes/{node}/lxc/{vmid}/migrate",
];

pub fn router() -> Router {
    Router::new().write(
        "pve_migrate_vm",
        "Migrate VM",
        "Move a guest to another node; running guests need online (QEMU) or are restarted (LXC). QEMU is checked first.",
        Hints::WRITE,
        migrate,
    )
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Args {
    target: String,
    online: Option<bool>,
    with_local_disks: Option<bool>,
    target_storage: Option<String>,
}

/// What Proxmox's preflight said of a QEMU VM.
#[derive(Serialize, JsonSchema)]
struct Preflight {
    running: bool,
    local_disks: usize,
}

#[derive(Serialize, JsonSchema)]
struct Checked {
    #[serde(skip_serializing_if = "Option::is_none")]
    preflight: Option<Preflight>,
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array().map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default()
}

/// PVE says which nodes can take the VM and what holds it.
fn preflight(g: &Located, target: &str) -> Result<Preflight, ToolError> {
    let vmid = g.vmid.to_string();
    let check = pve::get(&["nodes", &g.node, "qemu", &vmid, "migrate"], &json!({"target": target}))?;
    let allowed = strings(&check["allowed_nodes"]);
    if check.get("allowed_nodes").is_some() && !allowed.contains(&target) {
        let allowed = if allowed.is_empty() { "none".to_string() } else { allowed.join(", ") };
        return Err(ToolError::InvalidArguments(format!(
            "Proxmox will not migrate {g} to {target:?}; allowed targets: {allowed}"
        )));
    }
    let local = strings(&check["local_resources"]);
    if !local.is_empty() {
        return Err(ToolError::InvalidArguments(format!(
            "{g} uses local resources ({}) that prevent migration",
            local.join(", ")
        )));
    }
    Ok(Preflight {
        running: check["running"] == json!(1) || check["running"] == json!(true),
        local_disks: check["local_disks"].as_array().map_or(0, Vec::len),
    })
}

fn migrate(a: OnGuest<Args>, writes: &mut Writes) -> Result<Answer<Outcome<Checked>>, ToolError> {
    let g = a.locate()?;
    let a = a.args;
    let online = a.online == Some(true);
    let mut params = json!({"target": a.target});
    let checked = if g.kind == "qemu" {
        let checked = preflight(&g, &a.target)?;
        if online {
            params["online"] = json!(true);
        }
        if a.with_local_disks == Some(true) {
            params["with-local-disks"] = json!(true);
        }
        if let Some(s) = &a.target_storage {
            params["targetstorage"] = json!(s);
        }
        Some(checked)
    } else {
        if online {
            params["restart"] = json!(true);
        }
        if let Some(s) = &a.target_storage {
            params["target-storage"] = json!(s);
        }
        None
    };
    let vmid = g.vmid.to_string();
    let sent = writes.send(Method::Post, &["nodes", &g.node, g.kind, &vmid, "migrate"], &params)?;
    writes.finish(&g.node, sent, &format!("migrate {g} to {}", a.target), Checked { preflight: checked })
}
