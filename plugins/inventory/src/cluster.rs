//! Cluster-wide tools: version, quorum, nodes, resources, pools, next id.

use proxmcp_sdk::{Answer, NoArgs, Router, ToolError, pve};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::common::*;

/// The requests this file's tools send.
pub const GRANTS: &[&str] = &[
    "GET /version",
    "GET /cluster/status",
    "GET /cluster/resources",
    "GET /cluster/nextid",
    "GET /nodes",
    "GET /nodes/{node}/status",
    "GET /nodes/{node}/rrddata",
    "GET /pools",
];

pub fn router() -> Router {
    Router::new()
        .read("pve_get_version", "Get Proxmox version", "Proxmox VE version of the cluster.", get_version)
        .read(
            "pve_get_cluster_status",
            "Get cluster status",
            "Cluster name, quorum and node membership (works on a single node too).",
            get_cluster_status,
        )
        .read("pve_list_nodes", "List nodes", "Nodes with online state, CPU, memory and uptime.", list_nodes)
        .read(
            "pve_get_node",
            "Get node",
            "One node's load, CPU, memory, root disk, kernel, PVE version and uptime.",
            get_node,
        )
        .read(
            "pve_get_node_metrics",
            "Get node metrics",
            "A node's CPU, memory, load, I/O wait and network over a timeframe, summarised as min/avg/max/last.",
            get_node_metrics,
        )
        .read(
            "pve_list_resources",
            "List cluster resources",
            "Everything in the cluster (nodes, guests, storages, pools) in one list, optionally of one type.",
            list_resources,
        )
        .read("pve_list_pools", "List pools", "Resource pools with their members.", list_pools)
        .read("pve_get_next_vmid", "Get next free vmid", "The next free VM/CT id.", get_next_vmid)
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct LimitArgs {
    #[schemars(range(min = 1, max = 1000))]
    limit: Option<usize>,
}

#[derive(Serialize, JsonSchema)]
struct Version {
    version: String,
    release: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    repoid: Option<String>,
}

fn get_version(_: NoArgs) -> Result<Answer<Version>, ToolError> {
    let v = pve::get(&["version"], &Value::Null)?;
    let version = text(&v, "version").unwrap_or_default();
    let text_line = format!("Proxmox VE {version}");
    Ok(Answer::new(
        Version { version, release: text(&v, "release").unwrap_or_default(), repoid: text(&v, "repoid") },
        text_line,
    ))
}

#[derive(Serialize, JsonSchema)]
struct Member {
    name: String,
    online: bool,
    ip: Option<String>,
    local: bool,
}

#[derive(Serialize, JsonSchema)]
struct ClusterStatus {
    cluster: Option<String>,
    quorate: bool,
    nodes_online: usize,
    nodes: Vec<Member>,
}

fn get_cluster_status(_: NoArgs) -> Result<Answer<ClusterStatus>, ToolError> {
    let data = pve::get(&["cluster", "status"], &Value::Null)?;
    let cluster = items(&data).iter().find(|e| e["type"] == "cluster");
    let nodes: Vec<Member> = items(&data)
        .iter()
        .filter(|e| e["type"] == "node")
        .map(|n| Member {
            name: text(n, "name").unwrap_or_default(),
            online: flag(n, "online"),
            ip: text(n, "ip"),
            local: flag(n, "local"),
        })
        .collect();
    let online = nodes.iter().filter(|n| n.online).count();
    // A standalone node has no cluster entry and is always quorate.
    let quorate = cluster.is_none_or(|c| flag(c, "quorate"));
    let name = cluster.and_then(|c| text(c, "name"));
    let summary = format!(
        "{}: {}, {online} of {} nodes online",
        if name.is_some() { "cluster" } else { "standalone node" },
        if quorate { "quorate" } else { "NOT quorate" },
        nodes.len()
    );
    Ok(Answer::new(ClusterStatus { cluster: name, quorate, nodes_online: online, nodes }, summary))
}

#[derive(Serialize, JsonSchema)]
struct Node {
    node: String,
    status: String,
    online: bool,
    maxcpu: Option<u64>,
    #[serde(flatten)]
    load: Load,
}

#[derive(Serialize, JsonSchema)]
struct Nodes {
    nodes: Vec<Node>,
    #[serde(flatten)]
    page: Page,
}

fn list_nodes(a: LimitArgs) -> Result<Answer<Nodes>, ToolError> {
    let limit = limit(a.limit, DEFAULT_LIMIT)?;
    let data = pve::get(&["nodes"], &Value::Null)?;
    let mut nodes: Vec<Node> = items(&data)
        .iter()
        .map(|n| {
            let status = text(n, "status").unwrap_or_else(|| "unknown".into());
            Node {
                node: text(n, "node").unwrap_or_default(),
                online: status == "online",
                status,
                maxcpu: uint(n, "maxcpu"),
                load: Load::of(n),
            }
        })
        .collect();
    nodes.sort_by(|a, b| a.node.cmp(&b.node));
    let offline = nodes.iter().filter(|n| !n.online).count();
    let page = Page::cut(&mut nodes, limit);
    let mut summary = page.summary("nodes");
    if offline > 0 {
        summary.push_str(&format!(", {offline} not online"));
    }
    Ok(Answer::new(Nodes { nodes, page }, summary))
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct NodeArgs {
    node: String,
}

#[derive(Serialize, JsonSchema)]
struct NodeStatus {
    node: String,
    cpu_percent: f64,
    cpus: Option<u64>,
    cpu_model: Option<String>,
    loadavg: Vec<f64>,
    memory: Usage,
    rootfs: Usage,
    kernel: Option<String>,
    pve_version: Option<String>,
    uptime: Option<u64>,
    uptime_human: Option<String>,
}

fn get_node(a: NodeArgs) -> Result<Answer<NodeStatus>, ToolError> {
    let s = pve::get(&["nodes", &a.node, "status"], &Value::Null).map_err(on_node(&a.node))?;
    let loadavg: Vec<f64> = items(&s["loadavg"])
        .iter()
        .filter_map(|l| l.as_str().and_then(|x| x.parse().ok()).or_else(|| l.as_f64()))
        .collect();
    let usage = |v: &Value| Usage::new(uint(v, "total"), uint(v, "used"));
    let out = NodeStatus {
        node: a.node,
        cpu_percent: pct(float(&s, "cpu").unwrap_or_default()),
        cpus: uint(&s["cpuinfo"], "cpus"),
        cpu_model: text(&s["cpuinfo"], "model"),
        loadavg,
        memory: usage(&s["memory"]),
        rootfs: usage(&s["rootfs"]),
        kernel: text(&s["current-kernel"], "release").or_else(|| text(&s, "kversion")),
        pve_version: text(&s, "pveversion"),
        uptime: uint(&s, "uptime"),
        uptime_human: human_secs(uint(&s, "uptime")),
    };
    let summary = format!(
        "node {}: CPU {}%, memory {}% used, load {}",
        out.node,
        json!(out.cpu_percent),
        json!(out.memory.used_percent),
        out.loadavg.first().map_or("?".into(), |l| format!("{l:.2}"))
    );
    Ok(Answer::new(out, summary))
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct NodeMetricsArgs {
    node: String,
    #[schemars(extend("enum" = ["hour", "day", "week", "month", "year"]))]
    timeframe: Option<String>,
    #[schemars(extend("enum" = ["AVERAGE", "MAX"]))]
    cf: Option<String>,
}

fn get_node_metrics(a: NodeMetricsArgs) -> Result<Answer<Metrics>, ToolError> {
    let (tf, cf) = timeframe(a.timeframe, a.cf)?;
    let data =
        pve::get(&["nodes", &a.node, "rrddata"], &json!({"timeframe": tf, "cf": cf})).map_err(on_node(&a.node))?;
    let keys = [
        ("cpu", "percent"),
        ("iowait", "percent"),
        ("loadavg", "load"),
        ("memused", "bytes"),
        ("memtotal", "bytes"),
        ("netin", "bytes/s"),
        ("netout", "bytes/s"),
        ("rootused", "bytes"),
    ];
    let metrics = Metrics::summarise(&data, &keys, tf, cf);
    let summary = metrics.summary(&format!("node {}", a.node));
    Ok(Answer::new(metrics, summary))
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ResourcesArgs {
    #[serde(rename = "type")]
    #[schemars(extend("enum" = ["vm", "storage", "node", "pool", "sdn"]))]
    kind: Option<String>,
    #[schemars(range(min = 1, max = 1000))]
    limit: Option<usize>,
}

/// One entry of `/cluster/resources`; fields PVE leaves out stay out.
#[derive(Serialize, JsonSchema)]
struct Resource {
    id: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    node: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pool: Option<String>,
    name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    vmid: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cpu_percent: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mem: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mem_human: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    maxmem: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    maxmem_human: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    disk: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    disk_human: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    maxdisk: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    maxdisk_human: Option<String>,
}

#[derive(Serialize, JsonSchema)]
struct Resources {
    resources: Vec<Resource>,
    #[serde(flatten)]
    page: Page,
}

fn list_resources(a: ResourcesArgs) -> Result<Answer<Resources>, ToolError> {
    let limit = limit(a.limit, 100)?;
    let query = match a.kind.as_deref() {
        None | Some("pool") => json!({}),
        Some(t @ ("vm" | "storage" | "node" | "sdn")) => json!({"type": t}),
        Some(other) => {
            return Err(ToolError::InvalidArguments(format!(
                "type {other:?} must be one of vm, storage, node, pool, sdn"
            )));
        }
    };
    let data = pve::get(&["cluster", "resources"], &query)?;
    let mut resources: Vec<Resource> = items(&data)
        .iter()
        .filter(|r| a.kind.as_deref() != Some("pool") || r["type"] == "pool")
        .map(|r| Resource {
            id: text(r, "id"),
            kind: text(r, "type"),
            node: text(r, "node"),
            status: text(r, "status"),
            pool: text(r, "pool"),
            name: text(r, "name").or_else(|| text(r, "storage")).or_else(|| text(r, "pool")),
            vmid: uint(r, "vmid"),
            cpu_percent: float(r, "cpu").map(pct),
            mem: uint(r, "mem"),
            mem_human: human(uint(r, "mem")),
            maxmem: uint(r, "maxmem"),
            maxmem_human: human(uint(r, "maxmem")),
            disk: uint(r, "disk"),
            disk_human: human(uint(r, "disk")),
            maxdisk: uint(r, "maxdisk"),
            maxdisk_human: human(uint(r, "maxdisk")),
        })
        .collect();
    let page = Page::cut(&mut resources, limit);
    let summary = page.summary("resources");
    Ok(Answer::new(Resources { resources, page }, summary))
}

#[derive(Serialize, JsonSchema)]
struct PoolMember {
    id: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    vmid: Option<u64>,
    node: Option<String>,
}

#[derive(Serialize, JsonSchema)]
struct Pool {
    poolid: String,
    comment: Option<String>,
    member_count: usize,
    members: Vec<PoolMember>,
}

#[derive(Serialize, JsonSchema)]
struct Pools {
    pools: Vec<Pool>,
    #[serde(flatten)]
    page: Page,
}

fn list_pools(a: LimitArgs) -> Result<Answer<Pools>, ToolError> {
    let limit = limit(a.limit, DEFAULT_LIMIT)?;
    let data = pve::get(&["pools"], &Value::Null)?;
    let mut pools: Vec<Pool> = items(&data)
        .iter()
        .map(|p| {
            let members: Vec<PoolMember> = items(&p["members"])
                .iter()
                .map(|m| PoolMember {
                    id: text(m, "id"),
                    kind: text(m, "type"),
                    vmid: uint(m, "vmid"),
                    node: text(m, "node"),
                })
                .collect();
            Pool {
                poolid: text(p, "poolid").unwrap_or_default(),
                comment: text(p, "comment"),
                member_count: members.len(),
                members,
            }
        })
        .collect();
    let page = Page::cut(&mut pools, limit);
    let summary = page.summary("pools");
    Ok(Answer::new(Pools { pools, page }, summary))
}

#[derive(Serialize, JsonSchema)]
struct NextId {
    vmid: u64,
}

fn get_next_vmid(_: NoArgs) -> Result<Answer<NextId>, ToolError> {
    let v = pve::get(&["cluster", "nextid"], &Value::Null)?;
    let vmid = v
        .as_u64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        .ok_or_else(|| ToolError::Other(format!("Proxmox answered /cluster/nextid with {v}, not a number")))?;
    Ok(Answer::new(NextId { vmid }, format!("next free vmid: {vmid}")))
}
