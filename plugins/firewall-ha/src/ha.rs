//! Guests under HA: add, change, remove. The cluster's version decides
//! how placement is said: an HA group on PVE 8, a node-affinity rule on
//! PVE 9; asking for the other is an error that says what to use.

use proxmcp_firewall_ha_common::{invalid, items, pve_major, text};
use proxmcp_sdk::guest::{Located, locate};
use proxmcp_sdk::write::{Outcome, Writes};
use proxmcp_sdk::{Answer, Hints, Method, Router, ToolError, pve};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

type Done = Result<Answer<Outcome<Ha>>, ToolError>;

/// The requests this file's tools send.
pub const GRANTS: &[&str] = &[
    "GET /version",
    "GET /cluster/ha/resources",
    "GET /cluster/ha/resources/{sid}",
    "POST /cluster/ha/resources",
    "PUT /cluster/ha/resources/{sid}",
    "DELETE /cluster/ha/resources/{sid}",
    "GET /cluster/ha/rules",
    "POST /cluster/ha/rules",
];

pub fn router() -> Router {
    Router::new()
        .write(
            "pve_add_ha_resource",
            "Add HA resource",
            "Put a guest under HA; placement by group (PVE 8) or nodes (PVE 9 node-affinity rule).",
            Hints::WRITE,
            add,
        )
        .write("pve_update_ha_resource", "Update HA resource", "Change a guest's HA settings.", Hints::WRITE, update)
        .write("pve_remove_ha_resource", "Remove HA resource", "Take a guest out of HA.", Hints::DESTRUCTIVE, remove)
}

#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
enum State {
    Started,
    Stopped,
    Disabled,
    Ignored,
}

#[derive(Serialize, JsonSchema)]
struct Ha {
    sid: String,
    pve_major: u32,
    /// What was (or would be) done, in order.
    steps: Vec<String>,
}

/// `vm:100` or `ct:200`.
fn sid(g: &Located) -> String {
    format!("{}:{}", if g.kind == "lxc" { "ct" } else { "vm" }, g.vmid)
}

/// The settings both add and update take, as PVE parameters, checked
/// against the cluster's version.
fn settings(
    major: u32,
    state: Option<State>,
    max_restart: Option<u32>,
    max_relocate: Option<u32>,
    comment: &Option<String>,
    group: &Option<String>,
    failback: Option<bool>,
) -> Result<Map<String, Value>, ToolError> {
    if group.is_some() && major >= 9 {
        return Err(invalid(format!(
            "PVE {major} replaced HA groups with rules; pass nodes (pve_add_ha_resource) to pin the guest with a node-affinity rule"
        )));
    }
    if failback.is_some() && major < 9 {
        return Err(invalid(format!(
            "failback is a resource option from PVE 9; on PVE {major} it is the group's nofailback"
        )));
    }
    let mut p = Map::new();
    if let Some(s) = state {
        p.insert("state".into(), json!(format!("{s:?}").to_lowercase()));
    }
    for (k, v) in [("max_restart", max_restart), ("max_relocate", max_relocate)] {
        if let Some(v) = v {
            p.insert(k.into(), json!(v));
        }
    }
    for (k, v) in [("comment", comment), ("group", group)] {
        if let Some(v) = v {
            p.insert(k.into(), json!(v));
        }
    }
    if let Some(f) = failback {
        p.insert("failback".into(), json!(u8::from(f)));
    }
    Ok(p)
}

fn answer(writes: &mut Writes, sent: Option<Value>, what: &str, ha: Ha) -> Done {
    writes.finish("", sent, what, ha)
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct AddArgs {
    #[schemars(range(min = 100))]
    vmid: u32,
    /// Default started.
    state: Option<State>,
    #[schemars(range(max = 10))]
    max_restart: Option<u32>,
    #[schemars(range(max = 10))]
    max_relocate: Option<u32>,
    comment: Option<String>,
    /// PVE 8: the HA group.
    group: Option<String>,
    /// PVE 9: nodes to keep the guest on (creates a node-affinity rule).
    nodes: Option<Vec<String>>,
    /// PVE 9, with nodes: never run elsewhere.
    strict: Option<bool>,
    /// PVE 9: move back to the preferred node when it returns.
    failback: Option<bool>,
}

fn add(a: AddArgs, writes: &mut Writes) -> Done {
    let g = locate(a.vmid, None, None)?;
    let sid = sid(&g);
    let major = pve_major()?;
    if a.nodes.is_some() && major < 9 {
        return Err(invalid(format!("HA rules need PVE 9; on PVE {major} use group (an HA group's name)")));
    }
    if a.strict.is_some() && a.nodes.is_none() {
        return Err(invalid("strict applies to nodes; give nodes too"));
    }
    let configured = pve::get(&["cluster", "ha", "resources"], &Value::Null)?;
    if items(&configured).iter().any(|r| text(r, "sid").as_deref() == Some(sid.as_str())) {
        return Err(invalid(format!("{g} is already under HA as {sid}; change it with pve_update_ha_resource")));
    }
    let mut params = settings(
        major,
        a.state.or(Some(State::Started)),
        a.max_restart,
        a.max_relocate,
        &a.comment,
        &a.group,
        a.failback,
    )?;
    params.insert("sid".into(), json!(sid));
    let mut steps = vec![format!("add {sid} to HA ({})", params["state"].as_str().unwrap_or("started"))];
    let mut sent = writes.send(Method::Post, &["cluster", "ha", "resources"], &Value::Object(params))?;
    if let Some(nodes) = a.nodes.as_ref().filter(|n| !n.is_empty()) {
        let rule = format!("ha-{}-nodes", a.vmid);
        let mut p = json!({"rule": rule, "type": "node-affinity", "resources": sid, "nodes": nodes.join(",")});
        if let Some(s) = a.strict {
            p["strict"] = json!(u8::from(s));
        }
        steps.push(format!("create node-affinity rule {rule}: {sid} on {}", nodes.join(", ")));
        sent = writes.send(Method::Post, &["cluster", "ha", "rules"], &p)?.or(sent);
    }
    let what = format!("put {g} under HA");
    answer(writes, sent, &what, Ha { sid, pve_major: major, steps })
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct UpdateArgs {
    #[schemars(range(min = 100))]
    vmid: u32,
    state: Option<State>,
    #[schemars(range(max = 10))]
    max_restart: Option<u32>,
    #[schemars(range(max = 10))]
    max_relocate: Option<u32>,
    comment: Option<String>,
    /// PVE 8 only.
    group: Option<String>,
    /// PVE 9 only.
    failback: Option<bool>,
    /// From pve_list_ha_resources; refused if HA changed since.
    digest: Option<String>,
}

/// The HA resource of a guest, or an error saying it is not under HA.
fn configured(g: &Located) -> Result<(String, Value), ToolError> {
    let sid = sid(g);
    let current = pve::get(&["cluster", "ha", "resources", &sid], &Value::Null).map_err(|e| match e {
        proxmcp_sdk::ApiError::NotFound(_) => invalid(format!("{g} is not under HA; add it with pve_add_ha_resource")),
        other => other.into(),
    })?;
    Ok((sid, current))
}

fn update(a: UpdateArgs, writes: &mut Writes) -> Done {
    let g = locate(a.vmid, None, None)?;
    let major = pve_major()?;
    let mut params = settings(major, a.state, a.max_restart, a.max_relocate, &a.comment, &a.group, a.failback)?;
    if params.is_empty() {
        return Err(invalid("nothing to change: give state, max_restart, max_relocate, comment, group or failback"));
    }
    let (sid, current) = configured(&g)?;
    let digest = a.digest.or_else(|| text(&current, "digest"));
    if let Some(d) = digest {
        params.insert("digest".into(), json!(d));
    }
    let steps = vec![format!(
        "set {} on {sid}",
        params.keys().filter(|k| *k != "digest").cloned().collect::<Vec<_>>().join(", ")
    )];
    let sent = writes.send(Method::Put, &["cluster", "ha", "resources", &sid], &Value::Object(params))?;
    answer(writes, sent, &format!("change HA settings of {g}"), Ha { sid, pve_major: major, steps })
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct RemoveArgs {
    #[schemars(range(min = 100))]
    vmid: u32,
}

fn remove(a: RemoveArgs, writes: &mut Writes) -> Done {
    let g = locate(a.vmid, None, None)?;
    let major = pve_major()?;
    let (sid, _) = configured(&g)?;
    let mut steps = vec![format!("remove {sid} from HA (the guest keeps running as it is)")];
    if major >= 9 {
        let rules = pve::get(&["cluster", "ha", "rules"], &json!({"resource": sid}))?;
        let named: Vec<String> = items(&rules).iter().filter_map(|r| text(r, "rule")).collect();
        if !named.is_empty() {
            steps.push(format!("Proxmox drops {sid} from HA rules {}", named.join(", ")));
        }
    }
    let sent = writes.send(Method::Delete, &["cluster", "ha", "resources", &sid], &json!({}))?;
    answer(writes, sent, &format!("take {g} out of HA"), Ha { sid, pve_major: major, steps })
}
