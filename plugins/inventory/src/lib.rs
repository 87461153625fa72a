//! The read-only inventory plugin: what runs where, and is it healthy.
//!
//! Every tool here only reads (`GET`), so this plugin loads in read-only
//! mode. Outputs are whitelisted fields, never raw API dumps; byte counts
//! and uptimes gain `*_human` companions.

use proxmcp_sdk::{Hints, Output, Plugin, ToolDef, ToolError, format, parse_args, pve};
use serde::Deserialize;
use serde_json::{Map, Value, json};

struct Inventory;

/// Default and maximum list lengths: keep answers small for the model.
const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 1000;

impl Plugin for Inventory {
    fn tools() -> Vec<ToolDef> {
        vec![
            ToolDef::new(
                "pve_get_version",
                "Proxmox VE version of the cluster the server talks to.",
                json!({"type": "object", "properties": {}, "additionalProperties": false}),
            )
            .title("Get Proxmox version")
            .output_schema(json!({
                "type": "object",
                "properties": {
                    "version": {"type": "string"},
                    "release": {"type": "string"},
                    "repoid": {"type": "string"}
                },
                "required": ["version", "release"]
            }))
            .hints(Hints::READ_ONLY),
            ToolDef::new(
                "pve_list_nodes",
                "Cluster nodes with online state, CPU, memory and uptime.",
                json!({
                    "type": "object",
                    "properties": {"limit": limit_schema()},
                    "additionalProperties": false
                }),
            )
            .title("List nodes")
            .output_schema(list_schema("nodes", node_schema()))
            .hints(Hints::READ_ONLY),
            ToolDef::new(
                "pve_list_vms",
                "QEMU VMs and LXC containers across the cluster, with optional filters.",
                json!({
                    "type": "object",
                    "properties": {
                        "node": {"type": "string", "description": "Only guests on this node."},
                        "type": {"type": "string", "enum": ["qemu", "lxc"]},
                        "status": {"type": "string", "description": "e.g. running, stopped, paused."},
                        "name": {"type": "string", "description": "Case-insensitive substring of the name."},
                        "tag": {"type": "string", "description": "Only guests carrying this tag."},
                        "pool": {"type": "string", "description": "Only guests in this pool."},
                        "limit": limit_schema()
                    },
                    "additionalProperties": false
                }),
            )
            .title("List VMs and containers")
            .output_schema(list_schema("vms", vm_schema()))
            .hints(Hints::READ_ONLY),
        ]
    }

    fn call(name: &str, args: Value) -> Result<Output, ToolError> {
        match name {
            "pve_get_version" => get_version(args),
            "pve_list_nodes" => list_nodes(args),
            "pve_list_vms" => list_vms(args),
            other => Err(ToolError::UnknownTool(other.to_string())),
        }
    }
}

proxmcp_sdk::plugin! {
    plugin: Inventory,
    name: "inventory",
    description: "Read-only inventory: version, nodes, guests",
    grants: ["GET /version", "GET /nodes", "GET /cluster/resources"],
}

fn limit_schema() -> Value {
    json!({"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "description": "Maximum items (default 100)."})
}

fn list_schema(key: &str, item: Value) -> Value {
    json!({
        "type": "object",
        "properties": {
            key: {"type": "array", "items": item},
            "count": {"type": "integer"},
            "total": {"type": "integer"},
            "truncated": {"type": "boolean"}
        },
        "required": [key, "count", "total", "truncated"]
    })
}

fn node_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "node": {"type": "string"},
            "status": {"type": "string"},
            "online": {"type": "boolean"},
            "cpu_percent": {"type": ["number", "null"]},
            "maxcpu": {"type": ["integer", "null"]},
            "mem": {"type": ["integer", "null"]},
            "mem_human": {"type": ["string", "null"]},
            "maxmem": {"type": ["integer", "null"]},
            "maxmem_human": {"type": ["string", "null"]},
            "uptime": {"type": ["integer", "null"]},
            "uptime_human": {"type": ["string", "null"]}
        },
        "required": ["node", "status", "online"]
    })
}

fn vm_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "vmid": {"type": "integer"},
            "name": {"type": ["string", "null"]},
            "type": {"type": "string", "enum": ["qemu", "lxc"]},
            "node": {"type": "string"},
            "status": {"type": "string"},
            "template": {"type": "boolean"},
            "cpu_percent": {"type": ["number", "null"]},
            "maxcpu": {"type": ["number", "null"]},
            "mem": {"type": ["integer", "null"]},
            "mem_human": {"type": ["string", "null"]},
            "maxmem": {"type": ["integer", "null"]},
            "maxmem_human": {"type": ["string", "null"]},
            "uptime": {"type": ["integer", "null"]},
            "uptime_human": {"type": ["string", "null"]},
            "tags": {"type": "array", "items": {"type": "string"}},
            "pool": {"type": ["string", "null"]}
        },
        "required": ["vmid", "type", "node", "status", "template", "tags"]
    })
}

fn limit(value: Option<usize>) -> Result<usize, ToolError> {
    match value {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(n) => {
            Err(ToolError::InvalidArguments(format!("limit {n} is out of range; pass a value from 1 to {MAX_LIMIT}")))
        }
    }
}

/// Reads an unsigned integer field that PVE may send as a number or a
/// numeric string.
fn uint(v: &Value, key: &str) -> Option<u64> {
    match &v[key] {
        Value::Number(n) => n.as_u64().or_else(|| n.as_f64().map(|f| f as u64)),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn text(v: &Value, key: &str) -> Option<String> {
    v[key].as_str().map(str::to_string)
}

fn with_human_bytes(out: &mut Map<String, Value>, key: &str, n: Option<u64>) {
    out.insert(key.into(), json!(n));
    out.insert(format!("{key}_human"), json!(n.map(format::bytes)));
}

fn with_uptime(out: &mut Map<String, Value>, n: Option<u64>) {
    out.insert("uptime".into(), json!(n));
    out.insert("uptime_human".into(), json!(n.map(format::duration)));
}

fn list_output(key: &str, items: Vec<Value>, limit: usize, noun: &str) -> Output {
    let total = items.len();
    let truncated = total > limit;
    let items: Vec<Value> = items.into_iter().take(limit).collect();
    let count = items.len();
    let summary = if truncated {
        format!("{count} of {total} {noun} shown (raise limit to see more)")
    } else {
        format!("{count} {noun}")
    };
    Output::new(json!({key: items, "count": count, "total": total, "truncated": truncated}), summary)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoArgs {}

fn get_version(args: Value) -> Result<Output, ToolError> {
    let NoArgs {} = parse_args(args)?;
    let v = pve::get(&["version"], &Value::Null)?;
    let version = text(&v, "version").unwrap_or_default();
    let release = text(&v, "release").unwrap_or_default();
    let mut out = json!({"version": version, "release": release});
    if let Some(repoid) = text(&v, "repoid") {
        out["repoid"] = json!(repoid);
    }
    Ok(Output::new(out, format!("Proxmox VE {version}")))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListNodesArgs {
    limit: Option<usize>,
}

fn list_nodes(args: Value) -> Result<Output, ToolError> {
    let a: ListNodesArgs = parse_args(args)?;
    let limit = limit(a.limit)?;
    let data = pve::get(&["nodes"], &Value::Null)?;
    let mut nodes: Vec<Value> = data
        .as_array()
        .map(|a| a.as_slice())
        .unwrap_or_default()
        .iter()
        .map(|n| {
            let status = text(n, "status").unwrap_or_else(|| "unknown".into());
            let mut out = Map::new();
            out.insert("node".into(), json!(text(n, "node").unwrap_or_default()));
            out.insert("online".into(), json!(status == "online"));
            out.insert("status".into(), json!(status));
            out.insert("cpu_percent".into(), json!(n["cpu"].as_f64().map(round_percent)));
            out.insert("maxcpu".into(), json!(uint(n, "maxcpu")));
            with_human_bytes(&mut out, "mem", uint(n, "mem"));
            with_human_bytes(&mut out, "maxmem", uint(n, "maxmem"));
            with_uptime(&mut out, uint(n, "uptime"));
            Value::Object(out)
        })
        .collect();
    nodes.sort_by(|a, b| a["node"].as_str().cmp(&b["node"].as_str()));
    let offline = nodes.iter().filter(|n| n["online"] == json!(false)).count();
    let mut output = list_output("nodes", nodes, limit, "nodes");
    if offline > 0 {
        output.text.push_str(&format!(", {offline} not online"));
    }
    Ok(output)
}

fn round_percent(fraction: f64) -> f64 {
    (fraction * 1000.0).round() / 10.0
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListVmsArgs {
    node: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    status: Option<String>,
    name: Option<String>,
    tag: Option<String>,
    pool: Option<String>,
    limit: Option<usize>,
}

fn list_vms(args: Value) -> Result<Output, ToolError> {
    let a: ListVmsArgs = parse_args(args)?;
    let limit = limit(a.limit)?;
    if let Some(kind) = &a.kind
        && kind != "qemu"
        && kind != "lxc"
    {
        return Err(ToolError::InvalidArguments(format!("type {kind:?} is not a guest type; use \"qemu\" or \"lxc\"")));
    }
    let data = pve::get(&["cluster", "resources"], &json!({"type": "vm"}))?;
    let name_filter = a.name.as_deref().map(str::to_lowercase);
    let mut vms: Vec<Value> = data
        .as_array()
        .map(|a| a.as_slice())
        .unwrap_or_default()
        .iter()
        .filter(|r| matches!(r["type"].as_str(), Some("qemu" | "lxc")))
        .map(vm_entry)
        .filter(|vm| {
            a.node.as_deref().is_none_or(|n| vm["node"] == n)
                && a.kind.as_deref().is_none_or(|k| vm["type"] == k)
                && a.status.as_deref().is_none_or(|s| vm["status"] == s)
                && a.pool.as_deref().is_none_or(|p| vm["pool"] == p)
                && a.tag
                    .as_deref()
                    .is_none_or(|t| vm["tags"].as_array().is_some_and(|tags| tags.iter().any(|x| x == t)))
                && name_filter
                    .as_deref()
                    .is_none_or(|f| vm["name"].as_str().is_some_and(|n| n.to_lowercase().contains(f)))
        })
        .collect();
    vms.sort_by_key(|vm| vm["vmid"].as_u64());
    let running = vms.iter().filter(|v| v["status"] == "running").count();
    let mut output = list_output("vms", vms, limit, "guests");
    output.text.push_str(&format!(" ({running} running)"));
    Ok(output)
}

fn vm_entry(r: &Value) -> Value {
    let mut out = Map::new();
    out.insert("vmid".into(), json!(uint(r, "vmid")));
    out.insert("name".into(), json!(text(r, "name")));
    out.insert("type".into(), json!(text(r, "type")));
    out.insert("node".into(), json!(text(r, "node").unwrap_or_default()));
    out.insert("status".into(), json!(text(r, "status").unwrap_or_else(|| "unknown".into())));
    out.insert("template".into(), json!(uint(r, "template") == Some(1) || r["template"] == json!(true)));
    out.insert("cpu_percent".into(), json!(r["cpu"].as_f64().map(round_percent)));
    out.insert("maxcpu".into(), json!(r["maxcpu"].as_f64()));
    with_human_bytes(&mut out, "mem", uint(r, "mem"));
    with_human_bytes(&mut out, "maxmem", uint(r, "maxmem"));
    with_uptime(&mut out, uint(r, "uptime"));
    // PVE separates tags with ';' (older releases also ',' or ' ').
    let tags: Vec<&str> = r["tags"].as_str().unwrap_or("").split([';', ',', ' ']).filter(|t| !t.is_empty()).collect();
    out.insert("tags".into(), json!(tags));
    out.insert("pool".into(), json!(text(r, "pool")));
    Value::Object(out)
}
