//! `pve_set_vm_config`: change and delete config keys of a guest, guarded
//! by the config's digest so a concurrent change is not overwritten.

use proxmcp_sdk::guest::OnGuest;
use proxmcp_sdk::write::{Outcome, Writes, is_secret_key};
use proxmcp_sdk::{Answer, Hints, Method, Router, ToolError, pve};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// The requests this file's tools send.
pub const GRANTS: &[&str] = &[
    "GET /nodes/{node}/qemu/{vmid}/config",
    "GET /nodes/{node}/lxc/{vmid}/config",
    "PUT /nodes/{node}/qemu/{vmid}/config",
    "PUT /nodes/{node}/lxc/{vmid}/config",
];

pub fn router() -> Router {
    Router::new().write(
        "pve_set_vm_config",
        "Set VM config",
        "Change configuration keys and delete others; the current digest is sent so a concurrent change is not overwritten. dry_run shows current and new values.",
        Hints::WRITE,
        set_config,
    )
}

/// Config keys this tool may change: the everyday ones, checked here so a
/// typo is an error rather than a 400 from Proxmox.
const QEMU_KEYS: &[&str] = &[
    "name",
    "cores",
    "sockets",
    "memory",
    "balloon",
    "cpu",
    "description",
    "tags",
    "onboot",
    "agent",
    "ostype",
    "boot",
    "net0",
    "net1",
    "ide2",
    "ciuser",
    "cipassword",
];
const LXC_KEYS: &[&str] = &["hostname", "cores", "memory", "swap", "description", "tags", "onboot", "net0", "net1"];

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Args {
    #[serde(default)]
    #[schemars(extend("additionalProperties" = {"type": ["string", "integer", "boolean"]}))]
    set: Map<String, Value>,
    #[serde(default)]
    delete: Vec<String>,
}

/// One key's change; secret values show as `[redacted]`.
#[derive(Serialize, JsonSchema)]
struct Change {
    key: String,
    current: Option<Value>,
    new: Option<Value>,
}

#[derive(Serialize, JsonSchema)]
struct Changes {
    changes: Vec<Change>,
}

fn shown(key: &str, value: Option<&Value>) -> Option<Value> {
    value.map(|v| if is_secret_key(key) { json!("[redacted]") } else { v.clone() })
}

fn set_config(a: OnGuest<Args>, writes: &mut Writes) -> Result<Answer<Outcome<Changes>>, ToolError> {
    let Args { set, delete } = &a.args;
    if set.is_empty() && delete.is_empty() {
        return Err(ToolError::InvalidArguments("nothing to change: pass set and/or delete".into()));
    }
    let g = a.locate()?;
    let allowed = if g.kind == "qemu" { QEMU_KEYS } else { LXC_KEYS };
    if let Some(key) = set.keys().chain(delete.iter()).find(|k| !allowed.contains(&k.as_str())) {
        return Err(ToolError::InvalidArguments(format!(
            "key {key:?} cannot be changed with this tool for a {} guest; allowed: {}",
            g.kind,
            allowed.join(", ")
        )));
    }
    if let Some(k) = set.keys().find(|k| delete.contains(k)) {
        return Err(ToolError::InvalidArguments(format!("key {k:?} is both set and deleted; choose one")));
    }
    if let Some((k, v)) = set.iter().find(|(_, v)| !(v.is_string() || v.is_number() || v.is_boolean())) {
        return Err(ToolError::InvalidArguments(format!(
            "value of {k:?} must be a string, number or boolean, not {v}"
        )));
    }
    let vmid = g.vmid.to_string();
    let current = pve::get(&["nodes", &g.node, g.kind, &vmid, "config"], &Value::Null)?;
    let mut changes: Vec<Change> = set
        .iter()
        .map(|(k, v)| Change { key: k.clone(), current: shown(k, current.get(k)), new: shown(k, Some(v)) })
        .collect();
    changes.extend(delete.iter().map(|k| Change { key: k.clone(), current: shown(k, current.get(k)), new: None }));
    let mut params = set.clone();
    if !delete.is_empty() {
        params.insert("delete".into(), json!(delete.join(",")));
    }
    if let Some(d) = current["digest"].as_str() {
        params.insert("digest".into(), json!(d));
    }
    let sent = writes.send(Method::Put, &["nodes", &g.node, g.kind, &vmid, "config"], &Value::Object(params))?;
    let keys = if changes.len() == 1 { "1 key".to_string() } else { format!("{} keys", changes.len()) };
    let what = format!("change {keys} of {g}");
    writes.finish(&g.node, sent, &what, Changes { changes })
}
