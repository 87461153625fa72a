//! `pve_clone_vm`: a full or linked copy of a guest or template.

use proxmcp_sdk::guest::OnGuest;
use proxmcp_sdk::write::{Outcome, Writes};
use proxmcp_sdk::{Answer, Hints, Method, Router, ToolError};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::common::{dns_name, next_vmid};

/// The requests this file's tools send.
pub const GRANTS: &[&str] = &["POST /nodes/{node}/qemu/{vmid}/clone", "POST /nodes/{node}/lxc/{vmid}/clone"];

pub fn router() -> Router {
    Router::new().write(
        "pve_clone_vm",
        "Clone VM",
        "Clone a VM or container (full, or linked from a template); the new vmid defaults to the next free one.",
        Hints::WRITE,
        clone,
    )
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Args {
    #[schemars(range(min = 100))]
    newid: Option<u32>,
    name: Option<String>,
    full: Option<bool>,
    target_node: Option<String>,
    target_storage: Option<String>,
    pool: Option<String>,
    description: Option<String>,
}

#[derive(Serialize, JsonSchema)]
struct Cloned {
    newid: u32,
}

fn clone(a: OnGuest<Args>, writes: &mut Writes) -> Result<Answer<Outcome<Cloned>>, ToolError> {
    let g = a.locate()?;
    let a = a.args;
    let newid = next_vmid(a.newid)?;
    let mut p = json!({"newid": newid});
    if let Some(n) = &a.name {
        dns_name("name", n)?;
        p[if g.kind == "qemu" { "name" } else { "hostname" }] = json!(n);
    }
    let options = [("full", json!(a.full)), ("target", json!(a.target_node)), ("storage", json!(a.target_storage))];
    let more = [("pool", json!(a.pool)), ("description", json!(a.description))];
    for (key, value) in options.into_iter().chain(more) {
        if !value.is_null() {
            p[key] = value;
        }
    }
    let vmid = g.vmid.to_string();
    let sent = writes.send(Method::Post, &["nodes", &g.node, g.kind, &vmid, "clone"], &p)?;
    writes.finish(&g.node, sent, &format!("clone {g} to {newid}"), Cloned { newid })
}
