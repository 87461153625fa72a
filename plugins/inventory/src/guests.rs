//! Guest tools: list, status, config with pending changes, metrics,
//! snapshots. Node and type are optional wherever a vmid is given.

use std::collections::BTreeMap;

use proxmcp_sdk::guest::OnGuest;
use proxmcp_sdk::{Answer, NoArgs, Router, ToolError, pve};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::common::*;

/// Config keys whose values are secrets and never returned.
const SECRET_KEYS: &[&str] = &["cipassword"];

/// The requests this file's tools send.
pub const GRANTS: &[&str] = &[
    "GET /cluster/resources",
    "GET /nodes/{node}/qemu/{vmid}/status/current",
    "GET /nodes/{node}/lxc/{vmid}/status/current",
    "GET /nodes/{node}/qemu/{vmid}/config",
    "GET /nodes/{node}/lxc/{vmid}/config",
    "GET /nodes/{node}/qemu/{vmid}/pending",
    "GET /nodes/{node}/lxc/{vmid}/pending",
    "GET /nodes/{node}/qemu/{vmid}/rrddata",
    "GET /nodes/{node}/lxc/{vmid}/rrddata",
    "GET /nodes/{node}/qemu/{vmid}/snapshot",
    "GET /nodes/{node}/lxc/{vmid}/snapshot",
];

pub fn router() -> Router {
    Router::new()
        .read(
            "pve_list_vms",
            "List VMs and containers",
            "QEMU VMs and LXC containers across the cluster. Filters: node, type, status, name (substring), tag, pool.",
            list_vms,
        )
        .read("pve_get_vm_status", "Get VM status", "Live status of one VM or container.", get_vm_status)
        .read(
            "pve_get_vm_config",
            "Get VM config",
            "Configuration of one VM or container; changes waiting for a restart are listed under pending.",
            get_vm_config,
        )
        .read(
            "pve_get_vm_metrics",
            "Get VM metrics",
            "A guest's CPU, memory, network and disk I/O over a timeframe, summarised as min/avg/max/last.",
            get_vm_metrics,
        )
        .read(
            "pve_list_snapshots",
            "List snapshots",
            "Snapshots of one VM or container as a tree, with the one the current state descends from.",
            list_snapshots,
        )
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ListVmsArgs {
    node: Option<String>,
    #[serde(rename = "type")]
    kind: Option<GuestType>,
    status: Option<GuestStatus>,
    name: Option<String>,
    tag: Option<String>,
    pool: Option<String>,
    #[schemars(range(min = 1, max = 1000))]
    limit: Option<usize>,
}

/// The filters are enums, so a typo is refused with the valid values
/// instead of matching nothing.
#[derive(Deserialize, JsonSchema, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum GuestType {
    Qemu,
    Lxc,
}

/// `unknown`: the guest's node is offline.
#[derive(Deserialize, JsonSchema, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum GuestStatus {
    Running,
    Stopped,
    Paused,
    Unknown,
}

impl GuestType {
    fn as_str(self) -> &'static str {
        match self {
            GuestType::Qemu => "qemu",
            GuestType::Lxc => "lxc",
        }
    }
}

impl GuestStatus {
    fn as_str(self) -> &'static str {
        match self {
            GuestStatus::Running => "running",
            GuestStatus::Stopped => "stopped",
            GuestStatus::Paused => "paused",
            GuestStatus::Unknown => "unknown",
        }
    }
}

#[derive(Serialize, JsonSchema)]
struct Vm {
    vmid: Option<u64>,
    name: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    node: String,
    status: String,
    template: bool,
    maxcpu: Option<f64>,
    #[serde(flatten)]
    load: Load,
    tags: Vec<String>,
    pool: Option<String>,
}

#[derive(Serialize, JsonSchema)]
struct Vms {
    vms: Vec<Vm>,
    #[serde(flatten)]
    page: Page,
}

fn vm_entry(r: &Value) -> Vm {
    Vm {
        vmid: uint(r, "vmid"),
        name: text(r, "name"),
        kind: text(r, "type"),
        node: text(r, "node").unwrap_or_default(),
        status: text(r, "status").unwrap_or_else(|| "unknown".into()),
        template: flag(r, "template"),
        maxcpu: float(r, "maxcpu"),
        load: Load::of(r),
        tags: tags(r),
        pool: text(r, "pool"),
    }
}

fn list_vms(a: ListVmsArgs) -> Result<Answer<Vms>, ToolError> {
    let limit = limit(a.limit, 100)?;
    let kind = a.kind.map(GuestType::as_str);
    let status = a.status.map(GuestStatus::as_str);
    let data = pve::get(&["cluster", "resources"], &json!({"type": "vm"}))?;
    let name_filter = a.name.as_deref().map(str::to_lowercase);
    let same = |want: &Option<String>, have: Option<&str>| want.as_deref().is_none_or(|w| have == Some(w));
    let mut vms: Vec<Vm> = items(&data)
        .iter()
        .filter(|r| matches!(r["type"].as_str(), Some("qemu" | "lxc")))
        .map(vm_entry)
        .filter(|vm| {
            same(&a.node, Some(&vm.node))
                && kind.is_none_or(|k| vm.kind.as_deref() == Some(k))
                && status.is_none_or(|st| vm.status == st)
                && same(&a.pool, vm.pool.as_deref())
                && a.tag.as_deref().is_none_or(|t| vm.tags.iter().any(|x| x == t))
                && name_filter
                    .as_deref()
                    .is_none_or(|f| vm.name.as_deref().is_some_and(|n| n.to_lowercase().contains(f)))
        })
        .collect();
    vms.sort_by_key(|vm| vm.vmid);
    let running = vms.iter().filter(|v| v.status == "running").count();
    let page = Page::cut(&mut vms, limit);
    let summary = format!("{} ({running} running)", page.summary("guests"));
    Ok(Answer::new(Vms { vms, page }, summary))
}

#[derive(Serialize, JsonSchema)]
struct VmStatus {
    vmid: u32,
    name: Option<String>,
    #[serde(rename = "type")]
    kind: &'static str,
    node: String,
    status: String,
    qmpstatus: Option<String>,
    cpus: Option<f64>,
    #[serde(flatten)]
    load: Load,
    agent: Option<bool>,
    lock: Option<String>,
    template: bool,
    tags: Vec<String>,
}

fn get_vm_status(a: OnGuest<NoArgs>) -> Result<Answer<VmStatus>, ToolError> {
    let g = a.locate()?;
    let vmid = g.vmid.to_string();
    let s =
        pve::get(&["nodes", &g.node, g.kind, &vmid, "status", "current"], &Value::Null).map_err(on_node(&g.node))?;
    let status = text(&s, "status").unwrap_or_else(|| "unknown".into());
    let shown = match text(&s, "qmpstatus") {
        Some(q) if q != status => format!("{status} ({q})"),
        _ => status.clone(),
    };
    let summary = format!("{} {} on {}: {shown}", g.kind, g.vmid, g.node);
    let out = VmStatus {
        vmid: g.vmid,
        name: text(&s, "name"),
        kind: g.kind,
        node: g.node,
        status,
        qmpstatus: text(&s, "qmpstatus"),
        cpus: float(&s, "cpus"),
        load: Load::of(&s),
        agent: s.get("agent").map(|_| flag(&s, "agent")),
        lock: text(&s, "lock"),
        template: flag(&s, "template"),
        tags: tags(&s),
    };
    Ok(Answer::new(out, summary))
}

/// A change waiting for the guest's restart; secret values redacted.
#[derive(Serialize, JsonSchema)]
struct Pending {
    key: String,
    current: Option<String>,
    pending: Option<String>,
    delete: bool,
}

#[derive(Serialize, JsonSchema)]
struct VmConfig {
    vmid: u32,
    #[serde(rename = "type")]
    kind: &'static str,
    node: String,
    digest: Option<String>,
    config: BTreeMap<String, Value>,
    pending: Vec<Pending>,
}

fn get_vm_config(a: OnGuest<NoArgs>) -> Result<Answer<VmConfig>, ToolError> {
    let g = a.locate()?;
    let vmid = g.vmid.to_string();
    let cfg = pve::get(&["nodes", &g.node, g.kind, &vmid, "config"], &Value::Null).map_err(on_node(&g.node))?;
    let pending = pve::get(&["nodes", &g.node, g.kind, &vmid, "pending"], &Value::Null).map_err(on_node(&g.node))?;
    let config: BTreeMap<String, Value> = cfg
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, _)| *k != "digest")
        .map(|(k, v)| (k.clone(), if SECRET_KEYS.contains(&k.as_str()) { json!("[redacted]") } else { v.clone() }))
        .collect();
    let changes: Vec<Pending> = items(&pending)
        .iter()
        .filter(|p| p.get("pending").is_some() || uint(p, "delete").is_some_and(|d| d > 0))
        .map(|p| {
            let key = text(p, "key").unwrap_or_default();
            let hide = SECRET_KEYS.contains(&key.as_str());
            let shown = |field: &str| {
                p.get(field).map(|v| {
                    if hide {
                        "[redacted]".to_string()
                    } else {
                        v.as_str().map_or_else(|| v.to_string(), str::to_string)
                    }
                })
            };
            Pending {
                current: shown("value"),
                pending: shown("pending"),
                delete: uint(p, "delete").is_some_and(|d| d > 0),
                key,
            }
        })
        .collect();
    let summary = if changes.is_empty() {
        format!("config of {} {} ({} keys)", g.kind, g.vmid, config.len())
    } else {
        format!(
            "config of {} {} ({} keys, {} pending changes apply at next restart)",
            g.kind,
            g.vmid,
            config.len(),
            changes.len()
        )
    };
    let out =
        VmConfig { vmid: g.vmid, kind: g.kind, node: g.node, digest: text(&cfg, "digest"), config, pending: changes };
    Ok(Answer::new(out, summary))
}

fn get_vm_metrics(a: OnGuest<Window>) -> Result<Answer<Metrics>, ToolError> {
    let (tf, cf) = timeframe(a.args.timeframe.clone(), a.args.cf.clone())?;
    let g = a.locate()?;
    let vmid = g.vmid.to_string();
    let data = pve::get(&["nodes", &g.node, g.kind, &vmid, "rrddata"], &json!({"timeframe": tf, "cf": cf}))
        .map_err(on_node(&g.node))?;
    let keys = [
        ("cpu", "percent"),
        ("mem", "bytes"),
        ("maxmem", "bytes"),
        ("netin", "bytes/s"),
        ("netout", "bytes/s"),
        ("diskread", "bytes/s"),
        ("diskwrite", "bytes/s"),
    ];
    let metrics = Metrics::summarise(&data, &keys, tf, cf);
    let summary = metrics.summary(&format!("{} {}", g.kind, g.vmid));
    Ok(Answer::new(metrics, summary))
}

/// A snapshot and the ones taken after it from its state.
#[derive(Serialize, JsonSchema)]
struct Snapshot {
    name: Option<String>,
    description: String,
    snaptime: Option<u64>,
    vmstate: bool,
    children: Vec<Map>,
}

/// Nested snapshots; typed loosely so the schema stays finite.
type Map = serde_json::Map<String, Value>;

#[derive(Serialize, JsonSchema)]
struct Snapshots {
    vmid: u32,
    count: usize,
    current_parent: Option<String>,
    tree: Vec<Map>,
}

/// The snapshots whose parent is `parent`, each with its children.
fn attach(parent: Option<&str>, snaps: &[&Value], depth: usize) -> Vec<Map> {
    if depth > 64 {
        return Vec::new();
    }
    snaps
        .iter()
        .filter(|s| s["parent"].as_str() == parent)
        .map(|s| {
            let node = Snapshot {
                name: text(s, "name"),
                description: text(s, "description").unwrap_or_default(),
                snaptime: uint(s, "snaptime"),
                vmstate: flag(s, "vmstate"),
                children: attach(s["name"].as_str(), snaps, depth + 1),
            };
            match serde_json::to_value(node) {
                Ok(Value::Object(m)) => m,
                _ => Map::new(),
            }
        })
        .collect()
}

fn list_snapshots(a: OnGuest<NoArgs>) -> Result<Answer<Snapshots>, ToolError> {
    let g = a.locate()?;
    let vmid = g.vmid.to_string();
    let data = pve::get(&["nodes", &g.node, g.kind, &vmid, "snapshot"], &Value::Null).map_err(on_node(&g.node))?;
    let current_parent = items(&data).iter().find(|s| s["name"] == "current").and_then(|s| text(s, "parent"));
    let snaps: Vec<&Value> = items(&data).iter().filter(|s| s["name"] != "current").collect();
    let tree = attach(None, &snaps, 0);
    let summary = format!(
        "{} of {} {}{}",
        counted(snaps.len(), "snapshots"),
        g.kind,
        g.vmid,
        if current_parent.is_some() { "; current state descends from the marked parent" } else { "" }
    );
    Ok(Answer::new(Snapshots { vmid: g.vmid, count: snaps.len(), current_parent, tree }, summary))
}
