//! `pve_set_vm_config`: change and delete config keys of a guest, guarded
//! by the config's digest so a concurrent change is not overwritten.

use proxmcp_sdk::guest::OnGuest;
use proxmcp_sdk::write::{Outcome, Writes, is_secret_key};
use proxmcp_sdk::{Answer, Hints, Method, Router, ToolError, pve};

use crate::cloudinit;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// The requests this file's tools send.
pub const GRANTS: &[&str] = &[
    "GET /nodes/{node}/qemu/{vmid}/pending",
    "GET /nodes/{node}/lxc/{vmid}/pending",
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
];
const LXC_KEYS: &[&str] = &[
    "hostname",
    "cores",
    "memory",
    "swap",
    "description",
    "tags",
    "onboot",
    "net0",
    "net1",
    "nameserver",
    "searchdomain",
];

fn allowed(kind: &str, key: &str) -> bool {
    if kind == "qemu" { QEMU_KEYS.contains(&key) || cloudinit::is_cloud_init(key) } else { LXC_KEYS.contains(&key) }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Args {
    /// QEMU: name, cores, sockets, memory, balloon, cpu, description, tags, onboot, agent, ostype, boot, net0,
    /// net1, ide2, and cloud-init ciuser, cipassword, sshkeys (OpenSSH lines), ipconfig0..9 (ip=CIDR|dhcp,gw=IP),
    /// nameserver, searchdomain, citype, ciupgrade. LXC: hostname, cores, memory, swap, description, tags,
    /// onboot, net0, net1, nameserver, searchdomain.
    #[serde(default)]
    #[schemars(extend("additionalProperties" = {"type": ["string", "integer", "boolean", "array"]}))]
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
    /// Keys that take effect when the guest next starts.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pending_until_restart: Vec<String>,
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
    if let Some(key) = set.keys().chain(delete.iter()).find(|k| !allowed(g.kind, k)) {
        let list = if g.kind == "qemu" {
            format!("{}, {}, ipconfig0..ipconfig9", QEMU_KEYS.join(", "), cloudinit::QEMU.join(", "))
        } else {
            LXC_KEYS.join(", ")
        };
        return Err(ToolError::InvalidArguments(format!(
            "key {key:?} cannot be changed with this tool for a {} guest; allowed: {list}",
            g.kind
        )));
    }
    if let Some(k) = set.keys().find(|k| delete.contains(k)) {
        return Err(ToolError::InvalidArguments(format!("key {k:?} is both set and deleted; choose one")));
    }
    if let Some((k, v)) = set
        .iter()
        .find(|(k, v)| !(v.is_string() || v.is_number() || v.is_boolean() || (*k == "sshkeys" && v.is_array())))
    {
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
    let mut params = Map::new();
    for (k, v) in set {
        params.insert(k.clone(), cloudinit::wire_value(k, v)?);
    }
    if !delete.is_empty() {
        params.insert("delete".into(), json!(delete.join(",")));
    }
    if let Some(d) = current["digest"].as_str() {
        params.insert("digest".into(), json!(d));
    }
    let sent = writes.send(Method::Put, &["nodes", &g.node, g.kind, &vmid, "config"], &Value::Object(params))?;
    let keys = if changes.len() == 1 { "1 key".to_string() } else { format!("{} keys", changes.len()) };
    let what = format!("change {keys} of {g}");
    // What waits for the next start (a running guest's hardware and
    // cloud-init changes): Proxmox's pending list says.
    let pending_until_restart: Vec<String> = match &sent {
        Some(_) => {
            let pending = pve::get(&["nodes", &g.node, g.kind, &vmid, "pending"], &Value::Null)?;
            proxmcp_sdk::value::items(&pending)
                .iter()
                .filter(|p| {
                    !p["pending"].is_null() && changes.iter().any(|c| Some(c.key.as_str()) == p["key"].as_str())
                })
                .filter_map(|p| p["key"].as_str().map(str::to_string))
                .collect()
        }
        None => Vec::new(),
    };
    let mut answer = writes.finish(&g.node, sent, &what, Changes { changes, pending_until_restart })?;
    if !answer.data.details.pending_until_restart.is_empty() {
        answer.text.push_str(&format!(
            "; pending until {} restarts: {}",
            g,
            answer.data.details.pending_until_restart.join(", ")
        ));
    }
    Ok(answer)
}
