//! `pve_delete_vm`: a stopped guest and its disks, gone.

use proxmcp_sdk::guest::OnGuest;
use proxmcp_sdk::write::{Nothing, Outcome, Writes};
use proxmcp_sdk::{Answer, Hints, Method, Router, ToolError};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

/// The requests this file's tools send.
pub const GRANTS: &[&str] = &["DELETE /nodes/{node}/qemu/{vmid}", "DELETE /nodes/{node}/lxc/{vmid}"];

pub fn router() -> Router {
    Router::new().write(
        "pve_delete_vm",
        "Delete VM",
        "Delete a stopped VM or container and its disks.",
        Hints::DESTRUCTIVE,
        delete,
    )
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Args {
    /// Also remove it from backup jobs, HA and replication.
    purge: Option<bool>,
    destroy_unreferenced_disks: Option<bool>,
}

fn delete(a: OnGuest<Args>, writes: &mut Writes) -> Result<Answer<Outcome>, ToolError> {
    let g = a.locate()?;
    let mut p = json!({});
    if a.args.purge == Some(true) {
        p["purge"] = json!(true);
    }
    if a.args.destroy_unreferenced_disks == Some(true) {
        p["destroy-unreferenced-disks"] = json!(true);
    }
    let vmid = g.vmid.to_string();
    let sent = writes.send(Method::Delete, &["nodes", &g.node, g.kind, &vmid], &p)?;
    writes.finish(&g.node, sent, &format!("delete {g}"), Nothing {})
}
