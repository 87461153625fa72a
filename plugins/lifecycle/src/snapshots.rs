//! Snapshot tools: create, delete, roll back.

use proxmcp_sdk::guest::OnGuest;
use proxmcp_sdk::write::{Nothing, Outcome, Writes};
use proxmcp_sdk::{Answer, Hints, Method, Router, ToolError};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

type Done = Result<Answer<Outcome>, ToolError>;

/// The requests this file's tools send.
pub const GRANTS: &[&str] = &[
    "POST /nodes/{node}/qemu/{vmid}/snapshot",
    "POST /nodes/{node}/lxc/{vmid}/snapshot",
    "DELETE /nodes/{node}/qemu/{vmid}/snapshot/{snapname}",
    "DELETE /nodes/{node}/lxc/{vmid}/snapshot/{snapname}",
    "POST /nodes/{node}/qemu/{vmid}/snapshot/{snapname}/rollback",
    "POST /nodes/{node}/lxc/{vmid}/snapshot/{snapname}/rollback",
];

pub fn router() -> Router {
    Router::new()
        .write("pve_create_snapshot", "Create snapshot", "Take a snapshot of a guest.", Hints::WRITE, create)
        .write("pve_delete_snapshot", "Delete snapshot", "Delete a snapshot of a guest.", Hints::DESTRUCTIVE, delete)
        .write(
            "pve_rollback_snapshot",
            "Roll back to snapshot",
            "Roll a guest back to a snapshot, losing changes made since.",
            Hints::DESTRUCTIVE,
            rollback,
        )
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct CreateArgs {
    /// Snapshot name: a letter, then letters, digits, '-' or '_'.
    snapname: String,
    description: Option<String>,
    /// QEMU only: include RAM.
    vmstate: Option<bool>,
}

/// PVE's `pve-configid`: a letter, then letters, digits, `-` or `_`, at
/// most 40 in all; checked here so a bad name never reaches Proxmox.
fn valid_snapname(name: &str) -> Result<(), ToolError> {
    let ok = name.len() <= 40
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && name.len() >= 2;
    if ok {
        Ok(())
    } else {
        Err(ToolError::InvalidArguments(format!(
            "snapname {name:?} is not valid: start with a letter, then letters, digits, '-' or '_' (2 to 40 characters)"
        )))
    }
}

fn create(a: OnGuest<CreateArgs>, writes: &mut Writes) -> Done {
    let snapname = &a.args.snapname;
    valid_snapname(snapname)?;
    let g = a.locate()?;
    let mut params = json!({"snapname": snapname});
    if let Some(d) = &a.args.description {
        params["description"] = json!(d);
    }
    if a.args.vmstate == Some(true) {
        if g.kind != "qemu" {
            return Err(ToolError::InvalidArguments("vmstate works for QEMU VMs only".into()));
        }
        params["vmstate"] = json!(true);
    }
    let vmid = g.vmid.to_string();
    let sent = writes.send(Method::Post, &["nodes", &g.node, g.kind, &vmid, "snapshot"], &params)?;
    writes.finish(&g.node, sent, &format!("snapshot {g} as {snapname:?}"), Nothing {})
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct DeleteArgs {
    snapname: String,
}

fn delete(a: OnGuest<DeleteArgs>, writes: &mut Writes) -> Done {
    let g = a.locate()?;
    let snapname = &a.args.snapname;
    let vmid = g.vmid.to_string();
    let sent = writes.send(Method::Delete, &["nodes", &g.node, g.kind, &vmid, "snapshot", snapname], &json!({}))?;
    writes.finish(&g.node, sent, &format!("delete snapshot {snapname:?} of {g}"), Nothing {})
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct RollbackArgs {
    snapname: String,
    /// Start the guest afterwards.
    start: Option<bool>,
}

fn rollback(a: OnGuest<RollbackArgs>, writes: &mut Writes) -> Done {
    let g = a.locate()?;
    let snapname = &a.args.snapname;
    let params = if a.args.start == Some(true) { json!({"start": true}) } else { json!({}) };
    let vmid = g.vmid.to_string();
    let path = ["nodes", g.node.as_str(), g.kind, vmid.as_str(), "snapshot", snapname.as_str(), "rollback"];
    let sent = writes.send(Method::Post, &path, &params)?;
    writes.finish(&g.node, sent, &format!("roll {g} back to {snapname:?}"), Nothing {})
}
