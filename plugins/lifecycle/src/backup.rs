//! `pve_backup_vm`: one guest backed up with vzdump.

use proxmcp_sdk::guest::OnGuest;
use proxmcp_sdk::write::{Nothing, Outcome, Writes};
use proxmcp_sdk::{Answer, Hints, Method, Router, ToolError};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

/// The requests this file's tools send.
pub const GRANTS: &[&str] = &["POST /nodes/{node}/vzdump"];

pub fn router() -> Router {
    Router::new().write("pve_backup_vm", "Back up VM", "Back up a guest with vzdump.", Hints::WRITE, backup)
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Args {
    storage: Option<String>,
    #[schemars(extend("enum" = ["snapshot", "suspend", "stop"]))]
    mode: Option<String>,
    #[schemars(extend("enum" = ["0", "gzip", "lzo", "zstd"]))]
    compress: Option<String>,
    notes: Option<String>,
}

fn backup(a: OnGuest<Args>, writes: &mut Writes) -> Result<Answer<Outcome>, ToolError> {
    let g = a.locate()?;
    let a = a.args;
    let mut params = json!({"vmid": g.vmid.to_string(), "storage": a.storage.as_deref().unwrap_or("local")});
    for (key, value) in [("mode", &a.mode), ("compress", &a.compress), ("notes-template", &a.notes)] {
        if let Some(v) = value {
            params[key] = json!(v);
        }
    }
    let sent = writes.send(Method::Post, &["nodes", &g.node, "vzdump"], &params)?;
    writes.finish(&g.node, sent, &format!("back up {g}"), Nothing {})
}
