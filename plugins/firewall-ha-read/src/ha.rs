//! HA reads: the stack's status, the resources with their live state, and
//! the placement rules (PVE 9) or groups (PVE 8), whichever the cluster's
//! version has.

use std::collections::BTreeMap;

use proxmcp_firewall_ha_common::{flag, items, pve_major, text, uint};
use proxmcp_sdk::{Answer, NoArgs, Router, ToolError, pve};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// The requests this file's tools send.
pub const GRANTS: &[&str] = &[
    "GET /version",
    "GET /cluster/ha/status/current",
    "GET /cluster/ha/resources",
    "GET /cluster/ha/rules",
    "GET /cluster/ha/groups",
];

pub fn router() -> Router {
    Router::new()
        .read(
            "pve_get_ha_status",
            "Get HA status",
            "HA manager, quorum, each node's HA state and each resource's state and node.",
            status,
        )
        .read(
            "pve_list_ha_resources",
            "List HA resources",
            "Guests under HA with their settings and live state.",
            resources,
        )
        .read(
            "pve_list_ha_rules",
            "List HA rules",
            "HA placement: node- and resource-affinity rules (PVE 9) or HA groups (PVE 8).",
            rules,
        )
}

#[derive(Serialize, JsonSchema)]
struct NodeState {
    node: String,
    /// The node's HA resource manager: active, idle, or dead.
    status: String,
}

#[derive(Serialize, JsonSchema, Clone)]
struct Live {
    sid: String,
    node: Option<String>,
    /// What the HA manager reports (started, stopped, fence, error, ...).
    state: Option<String>,
    /// What was asked for.
    request_state: Option<String>,
}

#[derive(Serialize, JsonSchema)]
struct Status {
    quorate: bool,
    /// The node running the HA manager, and its status line.
    manager: Option<String>,
    nodes: Vec<NodeState>,
    resources: Vec<Live>,
}

fn live() -> Result<Value, ToolError> {
    Ok(pve::get(&["cluster", "ha", "status", "current"], &Value::Null)?)
}

fn services(current: &Value) -> Vec<Live> {
    items(current)
        .iter()
        .filter(|e| text(e, "type").as_deref() == Some("service"))
        .map(|e| Live {
            sid: text(e, "sid").unwrap_or_default(),
            node: text(e, "node"),
            state: text(e, "state"),
            request_state: text(e, "request_state"),
        })
        .collect()
}

fn status(_: NoArgs) -> Result<Answer<Status>, ToolError> {
    let current = live()?;
    let of_type = |t: &'static str| items(&current).iter().filter(move |e| text(e, "type").as_deref() == Some(t));
    let quorate = of_type("quorum").any(|e| flag(e, "quorate").unwrap_or(false));
    let manager = of_type("master").find_map(|e| text(e, "status"));
    let nodes: Vec<NodeState> = of_type("lrm")
        .map(|e| {
            let line = text(e, "status").unwrap_or_default();
            let state = line.split_once('(').map_or(line.as_str(), |(_, r)| r).split(',').next().unwrap_or("");
            NodeState { node: text(e, "node").unwrap_or_default(), status: state.trim().to_string() }
        })
        .collect();
    let resources = services(&current);
    let troubled: Vec<&str> = resources
        .iter()
        .filter(|r| r.state.as_deref().is_some_and(|s| !matches!(s, "started" | "stopped" | "ignored")))
        .map(|r| r.sid.as_str())
        .collect();
    let mut summary = format!(
        "HA {}: {} resources on {} nodes",
        if quorate { "quorate" } else { "NOT quorate" },
        resources.len(),
        nodes.len()
    );
    if !troubled.is_empty() {
        summary.push_str(&format!("; needing attention: {}", troubled.join(", ")));
    }
    Ok(Answer::new(Status { quorate, manager, nodes, resources }, summary))
}

#[derive(Serialize, JsonSchema)]
struct Resource {
    sid: String,
    vmid: Option<u64>,
    /// Requested state: started, stopped, disabled, ignored.
    state: Option<String>,
    max_restart: Option<u64>,
    max_relocate: Option<u64>,
    /// PVE 8 HA group.
    #[serde(skip_serializing_if = "Option::is_none")]
    group: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    comment: Option<String>,
    /// Where it runs and what the HA manager reports.
    node: Option<String>,
    live_state: Option<String>,
}

#[derive(Serialize, JsonSchema)]
struct Resources {
    resources: Vec<Resource>,
    /// Pass to pve_update_ha_resource.
    #[serde(skip_serializing_if = "Option::is_none")]
    digest: Option<String>,
}

fn resources(_: NoArgs) -> Result<Answer<Resources>, ToolError> {
    let list = pve::get(&["cluster", "ha", "resources"], &Value::Null)?;
    let live: BTreeMap<String, Live> = services(&live()?).into_iter().map(|l| (l.sid.clone(), l)).collect();
    let resources: Vec<Resource> = items(&list)
        .iter()
        .map(|r| {
            let sid = text(r, "sid").unwrap_or_default();
            let l = live.get(&sid);
            Resource {
                vmid: sid.rsplit(':').next().and_then(|v| v.parse().ok()),
                state: text(r, "state"),
                max_restart: uint(r, "max_restart"),
                max_relocate: uint(r, "max_relocate"),
                group: text(r, "group"),
                comment: text(r, "comment"),
                node: l.and_then(|l| l.node.clone()),
                live_state: l.and_then(|l| l.state.clone()),
                sid,
            }
        })
        .collect();
    let digest = items(&list).first().and_then(|r| text(r, "digest"));
    let summary = format!("{} HA resources", resources.len());
    Ok(Answer::new(Resources { resources, digest }, summary))
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct RulesArgs {
    /// Only rules naming this guest (PVE 9).
    #[schemars(range(min = 100))]
    vmid: Option<u32>,
}

#[derive(Serialize, JsonSchema)]
struct Rules {
    /// `rules` (PVE 9) or `groups` (PVE 8).
    api: String,
    pve_major: u32,
    /// Each rule or group as Proxmox stores it.
    items: Vec<Map<String, Value>>,
}

fn rules(a: RulesArgs) -> Result<Answer<Rules>, ToolError> {
    let major = pve_major()?;
    let (api, list) = if major >= 9 {
        let mut q = json!({});
        if let Some(vmid) = a.vmid {
            let sid = pve::resolve_guest(vmid)?;
            let kind = if matches!(sid.kind, proxmcp_sdk::GuestKind::Lxc) { "ct" } else { "vm" };
            q["resource"] = json!(format!("{kind}:{vmid}"));
        }
        ("rules", pve::get(&["cluster", "ha", "rules"], &q)?)
    } else {
        if a.vmid.is_some() {
            return Err(proxmcp_firewall_ha_common::invalid(format!(
                "PVE {major} has HA groups, which name nodes, not guests; leave out vmid"
            )));
        }
        ("groups", pve::get(&["cluster", "ha", "groups"], &Value::Null)?)
    };
    let items: Vec<Map<String, Value>> = items(&list).iter().filter_map(|r| r.as_object().cloned()).collect();
    let summary = format!("{} HA {api} (PVE {major})", items.len());
    Ok(Answer::new(Rules { api: api.into(), pve_major: major, items }, summary))
}
