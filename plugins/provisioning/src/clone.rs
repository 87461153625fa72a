//! `pve_clone_vm`: a full or linked copy of a guest or template, and in
//! the same call its cloud-init settings and its first start, each step
//! reported.

use proxmcp_sdk::guest::OnGuest;
use proxmcp_sdk::write::{DEFAULT_WAIT_MS, Nothing, Outcome, TaskState, Writes, task};
use proxmcp_sdk::{Answer, Hints, Method, Router, ToolError};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::cloudinit;
use crate::common::{dns_name, next_vmid};

/// The requests this file's tools send.
pub const GRANTS: &[&str] = &[
    "POST /nodes/{node}/qemu/{vmid}/clone",
    "POST /nodes/{node}/lxc/{vmid}/clone",
    "PUT /nodes/{node}/qemu/{vmid}/config",
    "POST /nodes/{node}/qemu/{vmid}/status/start",
    "POST /nodes/{node}/lxc/{vmid}/status/start",
];

pub fn router() -> Router {
    Router::new().write(
        "pve_clone_vm",
        "Clone VM",
        "Clone a VM or container (full, or linked from a template); the new vmid defaults to the next free one. Optionally set cloud-init and start it.",
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
    /// QEMU: cloud-init keys as pve_set_vm_config takes them (ciuser, cipassword, sshkeys, ipconfig0, ...),
    /// set after the clone.
    cloud_init: Option<Map<String, Value>>,
    /// Start the new guest at the end.
    start: Option<bool>,
}

#[derive(Serialize, JsonSchema)]
struct Cloned {
    newid: u32,
    /// What was done, in order.
    steps: Vec<String>,
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
    let cloud_init = match &a.cloud_init {
        Some(_) if g.kind != "qemu" => {
            return Err(ToolError::InvalidArguments(
                "cloud_init works for QEMU VMs; containers take their settings at create".into(),
            ));
        }
        Some(ci) if ci.is_empty() => {
            return Err(ToolError::InvalidArguments("cloud_init is empty; leave it out or give keys".into()));
        }
        Some(ci) => Some(cloudinit::params(ci)?),
        None => None,
    };
    let vmid = g.vmid.to_string();
    let node = a.target_node.clone().unwrap_or_else(|| g.node.clone());
    let new = newid.to_string();
    let mut steps = Vec::new();
    let mut sent = writes.send(Method::Post, &["nodes", &g.node, g.kind, &vmid, "clone"], &p)?;
    if cloud_init.is_none() && a.start != Some(true) {
        return writes.finish(&g.node, sent, &format!("clone {g} to {newid}"), Cloned { newid, steps });
    }
    // The next steps need the copy: wait for it here.
    if let Some(Value::String(upid)) = &sent {
        let done = task(&g.node, upid, &format!("clone {g} to {newid}"), DEFAULT_WAIT_MS, Nothing {})?;
        if done.data.status != Some(TaskState::Ok) {
            return Err(ToolError::Other(format!("{}; cloud-init and start were not done", done.text)));
        }
        steps.push(format!("cloned {g} to {newid} on {node}"));
    }
    if let Some(ci) = cloud_init {
        let keys: Vec<String> = ci.keys().cloned().collect();
        writes.send(Method::Put, &["nodes", &node, g.kind, &new, "config"], &Value::Object(ci))?;
        steps.push(format!("set cloud-init {}", keys.join(", ")));
    }
    let what = if a.start == Some(true) {
        sent = writes.send(Method::Post, &["nodes", &node, g.kind, &new, "status", "start"], &json!({}))?;
        steps.push(format!("start {newid}"));
        format!("clone {g} to {newid}, set it up and start it")
    } else {
        sent = Some(Value::Null).filter(|_| !writes.dry_run());
        format!("clone {g} to {newid} and set it up")
    };
    writes.finish(&node, sent, &what, Cloned { newid, steps })
}
