//! `pve_restore_backup`: a vzdump archive back to a guest, to a free vmid
//! unless overwriting is asked for explicitly.

use proxmcp_sdk::write::{Outcome, Writes};
use proxmcp_sdk::{Answer, Hints, Method, Router, ToolError, pve};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::common::next_vmid;

/// The requests this file's tools send.
pub const GRANTS: &[&str] = &["GET /cluster/resources", "POST /nodes/{node}/qemu", "POST /nodes/{node}/lxc"];

pub fn router() -> Router {
    Router::new().write(
        "pve_restore_backup",
        "Restore backup",
        "Restore a vzdump backup to a free vmid (default the next free one); overwriting an existing guest needs force=true.",
        Hints::DESTRUCTIVE,
        restore,
    )
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Args {
    /// Backup volume id (see pve_list_backups).
    archive: String,
    #[schemars(range(min = 100))]
    vmid: Option<u32>,
    node: Option<String>,
    storage: Option<String>,
    force: Option<bool>,
    start: Option<bool>,
}

#[derive(Serialize, JsonSchema)]
struct Restored {
    vmid: u32,
    overwrites: bool,
}

/// The node to restore to: given, the existing guest's, or the first online.
fn target_node(given: Option<&str>, existing: Option<&str>) -> Result<String, ToolError> {
    if let Some(n) = given.or(existing) {
        return Ok(n.to_string());
    }
    let nodes = pve::get(&["cluster", "resources"], &json!({"type": "node"}))?;
    nodes
        .as_array()
        .and_then(|list| list.iter().find(|n| n["status"] == "online"))
        .and_then(|n| n["node"].as_str())
        .map(str::to_string)
        .ok_or_else(|| ToolError::Other("no online node to restore to; pass node".into()))
}

fn restore(a: Args, writes: &mut Writes) -> Result<Answer<Outcome<Restored>>, ToolError> {
    let kind = if a.archive.contains("vzdump-lxc-") {
        "lxc"
    } else if a.archive.contains("vzdump-qemu-") {
        "qemu"
    } else {
        return Err(ToolError::InvalidArguments(format!(
            "{:?} is not a vzdump backup volume id (…vzdump-qemu-… or …vzdump-lxc-…); find one with pve_list_backups",
            a.archive
        )));
    };
    let vmid = next_vmid(a.vmid)?;
    let existing = pve::resolve_guest(vmid).ok();
    if let Some(e) = &existing
        && a.force != Some(true)
    {
        return Err(ToolError::InvalidArguments(format!(
            "guest {vmid} exists on {}; restoring over it destroys its disks. Pass force=true (with confirm=true) to overwrite, or omit vmid to restore to a free one",
            e.node
        )));
    }
    let node = target_node(a.node.as_deref(), existing.as_ref().map(|e| e.node.as_str()))?;
    let mut p = if kind == "qemu" {
        json!({"vmid": vmid, "archive": a.archive})
    } else {
        json!({"vmid": vmid, "ostemplate": a.archive, "restore": true})
    };
    if let Some(s) = &a.storage {
        p["storage"] = json!(s);
    }
    if existing.is_some() {
        p["force"] = json!(true);
    }
    if a.start == Some(true) {
        p["start"] = json!(true);
    }
    let what = if existing.is_some() {
        format!("restore {} over existing guest {vmid} on {node}", a.archive)
    } else {
        format!("restore {} to new guest {vmid} on {node}", a.archive)
    };
    let sent = writes.send(Method::Post, &["nodes", &node, kind], &p)?;
    writes.finish(&node, sent, &what, Restored { vmid, overwrites: existing.is_some() })
}
