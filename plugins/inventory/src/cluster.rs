//! Cluster-wide tools: version, quorum, nodes, resources, pools, next id.

use proxmcp_sdk::{Output, ToolDef, ToolError, parse_args, pve};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::common::*;

pub fn tools() -> Vec<ToolDef> {
    vec![
        ToolDef::new("pve_get_version", "Proxmox VE version of the cluster.", input(json!({}), &[]))
            .title("Get Proxmox version")
            .output_schema(obj(&[("version", "string"), ("release", "string"), ("repoid", "string?")])),
        ToolDef::new(
            "pve_get_cluster_status",
            "Cluster name, quorum and node membership (works on a single node too).",
            input(json!({}), &[]),
        )
        .title("Get cluster status")
        .output_schema(json!({"type": "object", "properties": {
            "cluster": {"type": ["string", "null"]}, "quorate": {"type": "boolean"},
            "nodes_online": {"type": "integer"},
            "nodes": {"type": "array", "items": obj(&[("name", "string"), ("online", "boolean"), ("ip", "string?"), ("local", "boolean")])}
        }, "required": ["quorate", "nodes", "nodes_online"]})),
        ToolDef::new(
            "pve_list_nodes",
            "Nodes with online state, CPU, memory and uptime.",
            input(json!({"limit": limit_prop()}), &[]),
        )
        .title("List nodes")
        .output_schema(list_of("nodes", node_item())),
        ToolDef::new(
            "pve_get_node",
            "One node's load, CPU, memory, root disk, kernel, PVE version and uptime.",
            input(json!({"node": {"type": "string"}}), &["node"]),
        )
        .title("Get node")
        .output_schema(obj(&[
            ("node", "string"),
            ("cpu_percent", "number"),
            ("cpus", "integer?"),
            ("cpu_model", "string?"),
            ("loadavg", "number[]"),
            ("memory", "object"),
            ("rootfs", "object"),
            ("kernel", "string?"),
            ("pve_version", "string?"),
            ("uptime", "integer?"),
            ("uptime_human", "string?"),
        ])),
        ToolDef::new(
            "pve_get_node_metrics",
            "A node's CPU, memory, load, I/O wait and network over a timeframe, summarised as min/avg/max/last.",
            input(Value::Object(with_node(metrics_props())), &["node"]),
        )
        .title("Get node metrics")
        .output_schema(metrics_schema()),
        ToolDef::new(
            "pve_list_resources",
            "Everything in the cluster (nodes, guests, storages, pools) in one list, optionally of one type.",
            input(
                json!({"type": {"type": "string", "enum": ["vm", "storage", "node", "pool", "sdn"]}, "limit": limit_prop()}),
                &[],
            ),
        )
        .title("List cluster resources")
        .output_schema(list_of(
            "resources",
            obj(&[("id", "string"), ("type", "string"), ("node", "string?"), ("name", "string?"), ("status", "string?")]),
        )),
        ToolDef::new("pve_list_pools", "Resource pools with their members.", input(json!({"limit": limit_prop()}), &[]))
            .title("List pools")
            .output_schema(list_of(
                "pools",
                obj(&[("poolid", "string"), ("comment", "string?"), ("member_count", "integer"), ("members", "array")]),
            )),
        ToolDef::new("pve_get_next_vmid", "The next free VM/CT id.", input(json!({}), &[]))
            .title("Get next free vmid")
            .output_schema(obj(&[("vmid", "integer")])),
    ]
}

fn with_node(mut props: Map<String, Value>) -> Map<String, Value> {
    props.insert("node".into(), json!({"type": "string"}));
    props
}

fn node_item() -> Value {
    obj(&[
        ("node", "string"),
        ("status", "string"),
        ("online", "boolean"),
        ("cpu_percent", "number?"),
        ("maxcpu", "integer?"),
        ("mem", "integer?"),
        ("mem_human", "string?"),
        ("maxmem", "integer?"),
        ("maxmem_human", "string?"),
        ("uptime", "integer?"),
        ("uptime_human", "string?"),
    ])
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoArgs {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitArgs {
    limit: Option<usize>,
}

pub fn get_version(args: Value) -> Result<Output, ToolError> {
    let NoArgs {} = parse_args(args)?;
    let v = pve::get(&["version"], &Value::Null)?;
    let version = text(&v, "version").unwrap_or_default();
    let mut out = json!({"version": version, "release": text(&v, "release").unwrap_or_default()});
    if let Some(repoid) = text(&v, "repoid") {
        out["repoid"] = json!(repoid);
    }
    Ok(Output::new(out, format!("Proxmox VE {version}")))
}

pub fn get_cluster_status(args: Value) -> Result<Output, ToolError> {
    let NoArgs {} = parse_args(args)?;
    let data = pve::get(&["cluster", "status"], &Value::Null)?;
    let cluster = items(&data).iter().find(|e| e["type"] == "cluster");
    let nodes: Vec<Value> = items(&data)
        .iter()
        .filter(|e| e["type"] == "node")
        .map(|n| {
            json!({"name": text(n, "name").unwrap_or_default(), "online": flag(n, "online"),
                   "ip": text(n, "ip"), "local": flag(n, "local")})
        })
        .collect();
    let online = nodes.iter().filter(|n| n["online"] == true).count();
    // A standalone node has no cluster entry and is always quorate.
    let quorate = cluster.is_none_or(|c| flag(c, "quorate"));
    let name = cluster.and_then(|c| text(c, "name"));
    let summary = format!(
        "{}: {}, {online} of {} nodes online",
        if name.is_some() { "cluster" } else { "standalone node" },
        if quorate { "quorate" } else { "NOT quorate" },
        nodes.len()
    );
    Ok(Output::new(json!({"cluster": name, "quorate": quorate, "nodes_online": online, "nodes": nodes}), summary))
}

pub fn list_nodes(args: Value) -> Result<Output, ToolError> {
    let a: LimitArgs = parse_args(args)?;
    let limit = limit(a.limit, DEFAULT_LIMIT)?;
    let data = pve::get(&["nodes"], &Value::Null)?;
    let mut nodes: Vec<Value> = items(&data)
        .iter()
        .map(|n| {
            let status = text(n, "status").unwrap_or_else(|| "unknown".into());
            let mut out = Map::new();
            out.insert("node".into(), json!(text(n, "node").unwrap_or_default()));
            out.insert("online".into(), json!(status == "online"));
            out.insert("status".into(), json!(status));
            out.insert("cpu_percent".into(), json!(float(n, "cpu").map(pct)));
            out.insert("maxcpu".into(), json!(uint(n, "maxcpu")));
            bytes(&mut out, "mem", uint(n, "mem"));
            bytes(&mut out, "maxmem", uint(n, "maxmem"));
            uptime(&mut out, uint(n, "uptime"));
            Value::Object(out)
        })
        .collect();
    nodes.sort_by(|a, b| a["node"].as_str().cmp(&b["node"].as_str()));
    let offline = nodes.iter().filter(|n| n["online"] == false).count();
    let mut output = list_output("nodes", nodes, limit, "nodes");
    if offline > 0 {
        output.text.push_str(&format!(", {offline} not online"));
    }
    Ok(output)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NodeArgs {
    node: String,
}

fn usage(v: &Value, used_key: &str) -> Value {
    let mut out = Map::new();
    usage_into(&mut out, uint(v, "total"), uint(v, used_key));
    Value::Object(out)
}

pub fn get_node(args: Value) -> Result<Output, ToolError> {
    let a: NodeArgs = parse_args(args)?;
    let s = pve::get(&["nodes", &a.node, "status"], &Value::Null).map_err(on_node(&a.node))?;
    let loadavg: Vec<f64> = items(&s["loadavg"])
        .iter()
        .filter_map(|l| l.as_str().and_then(|x| x.parse().ok()).or_else(|| l.as_f64()))
        .collect();
    let mut out = Map::new();
    out.insert("node".into(), json!(a.node));
    out.insert("cpu_percent".into(), json!(pct(float(&s, "cpu").unwrap_or_default())));
    out.insert("cpus".into(), json!(uint(&s["cpuinfo"], "cpus")));
    out.insert("cpu_model".into(), json!(text(&s["cpuinfo"], "model")));
    out.insert("loadavg".into(), json!(loadavg));
    out.insert("memory".into(), usage(&s["memory"], "used"));
    out.insert("rootfs".into(), usage(&s["rootfs"], "used"));
    out.insert("kernel".into(), json!(text(&s["current-kernel"], "release").or_else(|| text(&s, "kversion"))));
    out.insert("pve_version".into(), json!(text(&s, "pveversion")));
    uptime(&mut out, uint(&s, "uptime"));
    let summary = format!(
        "node {}: CPU {}%, memory {}% used, load {}",
        a.node,
        out["cpu_percent"],
        out["memory"]["used_percent"],
        loadavg.first().map_or("?".into(), |l| format!("{l:.2}"))
    );
    Ok(Output::new(Value::Object(out), summary))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NodeMetricsArgs {
    node: String,
    timeframe: Option<String>,
    cf: Option<String>,
}

pub fn get_node_metrics(args: Value) -> Result<Output, ToolError> {
    let a: NodeMetricsArgs = parse_args(args)?;
    let (tf, cf) = timeframe(a.timeframe, a.cf)?;
    let data =
        pve::get(&["nodes", &a.node, "rrddata"], &json!({"timeframe": tf, "cf": cf})).map_err(on_node(&a.node))?;
    Ok(metrics_output(
        &data,
        &[
            ("cpu", "percent"),
            ("iowait", "percent"),
            ("loadavg", "load"),
            ("memused", "bytes"),
            ("memtotal", "bytes"),
            ("netin", "bytes/s"),
            ("netout", "bytes/s"),
            ("rootused", "bytes"),
        ],
        &tf,
        &cf,
        &format!("node {}", a.node),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResourcesArgs {
    #[serde(rename = "type")]
    kind: Option<String>,
    limit: Option<usize>,
}

pub fn list_resources(args: Value) -> Result<Output, ToolError> {
    let a: ResourcesArgs = parse_args(args)?;
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
    let resources: Vec<Value> = items(&data)
        .iter()
        .filter(|r| a.kind.as_deref() != Some("pool") || r["type"] == "pool")
        .map(|r| {
            let mut out = Map::new();
            for key in ["id", "type", "node", "status", "pool"] {
                if let Some(v) = text(r, key) {
                    out.insert(key.into(), json!(v));
                }
            }
            let name = text(r, "name").or_else(|| text(r, "storage")).or_else(|| text(r, "pool"));
            out.insert("name".into(), json!(name));
            if let Some(vmid) = uint(r, "vmid") {
                out.insert("vmid".into(), json!(vmid));
            }
            if let Some(c) = float(r, "cpu") {
                out.insert("cpu_percent".into(), json!(pct(c)));
            }
            for key in ["mem", "maxmem", "disk", "maxdisk"] {
                if let Some(n) = uint(r, key) {
                    bytes(&mut out, key, Some(n));
                }
            }
            Value::Object(out)
        })
        .collect();
    Ok(list_output("resources", resources, limit, "resources"))
}

pub fn list_pools(args: Value) -> Result<Output, ToolError> {
    let a: LimitArgs = parse_args(args)?;
    let limit = limit(a.limit, DEFAULT_LIMIT)?;
    let data = pve::get(&["pools"], &Value::Null)?;
    let pools: Vec<Value> = items(&data)
        .iter()
        .map(|p| {
            let members: Vec<Value> = items(&p["members"])
                .iter()
                .map(|m| json!({"id": text(m, "id"), "type": text(m, "type"), "vmid": uint(m, "vmid"), "node": text(m, "node")}))
                .collect();
            json!({"poolid": text(p, "poolid").unwrap_or_default(), "comment": text(p, "comment"),
                   "member_count": members.len(), "members": members})
        })
        .collect();
    Ok(list_output("pools", pools, limit, "pools"))
}

pub fn get_next_vmid(args: Value) -> Result<Output, ToolError> {
    let NoArgs {} = parse_args(args)?;
    let v = pve::get(&["cluster", "nextid"], &Value::Null)?;
    let vmid = v
        .as_u64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        .ok_or_else(|| ToolError::Other(format!("Proxmox answered /cluster/nextid with {v}, not a number")))?;
    Ok(Output::new(json!({"vmid": vmid}), format!("next free vmid: {vmid}")))
}
