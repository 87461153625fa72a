//! Guest tools: list, status, config with pending changes, metrics,
//! snapshots. Node and type are optional wherever a vmid is given.

use proxmcp_sdk::{Output, ToolDef, ToolError, parse_args, pve};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::common::*;

/// Config keys whose values are secrets and never returned.
const SECRET_KEYS: &[&str] = &["cipassword"];

pub fn tools() -> Vec<ToolDef> {
    let guest = Value::Object(guest_props());
    let mut metrics = guest_props();
    metrics.extend(metrics_props());
    vec![
        ToolDef::new(
            "pve_list_vms",
            "QEMU VMs and LXC containers across the cluster. Filters: node, type, status, name (substring), tag, pool.",
            input(
                json!({
                    "node": {"type": "string"},
                    "type": {"type": "string", "enum": ["qemu", "lxc"]},
                    "status": {"type": "string", "description": "running, stopped, paused, ..."},
                    "name": {"type": "string"},
                    "tag": {"type": "string"},
                    "pool": {"type": "string"},
                    "limit": limit_prop()
                }),
                &[],
            ),
        )
        .title("List VMs and containers")
        .output_schema(list_of("vms", vm_item())),
        ToolDef::new("pve_get_vm_status", "Live status of one VM or container.", input(guest.clone(), &["vmid"]))
            .title("Get VM status")
            .output_schema(obj(&[
                ("vmid", "integer"),
                ("name", "string?"),
                ("type", "string"),
                ("node", "string"),
                ("status", "string"),
                ("qmpstatus", "string?"),
                ("cpu_percent", "number?"),
                ("cpus", "number?"),
                ("mem", "integer?"),
                ("mem_human", "string?"),
                ("maxmem", "integer?"),
                ("maxmem_human", "string?"),
                ("uptime", "integer?"),
                ("uptime_human", "string?"),
                ("agent", "boolean?"),
                ("lock", "string?"),
                ("template", "boolean"),
                ("tags", "string[]"),
            ])),
        ToolDef::new(
            "pve_get_vm_config",
            "Configuration of one VM or container; changes waiting for a restart are listed under pending.",
            input(guest, &["vmid"]),
        )
        .title("Get VM config")
        .output_schema(json!({"type": "object", "properties": {
            "vmid": {"type": "integer"}, "type": {"type": "string"}, "node": {"type": "string"},
            "digest": {"type": ["string", "null"]}, "config": {"type": "object"},
            "pending": {"type": "array", "items": obj(&[("key", "string"), ("current", "string?"), ("pending", "string?"), ("delete", "boolean")])}
        }, "required": ["vmid", "type", "node", "config", "pending"]})),
        ToolDef::new(
            "pve_get_vm_metrics",
            "A guest's CPU, memory, network and disk I/O over a timeframe, summarised as min/avg/max/last.",
            input(Value::Object(metrics), &["vmid"]),
        )
        .title("Get VM metrics")
        .output_schema(metrics_schema()),
        ToolDef::new(
            "pve_list_snapshots",
            "Snapshots of one VM or container as a tree, with the one the current state descends from.",
            input(Value::Object(guest_props()), &["vmid"]),
        )
        .title("List snapshots")
        .output_schema(json!({"type": "object", "properties": {
            "vmid": {"type": "integer"}, "count": {"type": "integer"}, "current_parent": {"type": ["string", "null"]},
            "tree": {"type": "array", "items": {"type": "object"}}
        }, "required": ["vmid", "count", "tree"]})),
    ]
}

fn vm_item() -> Value {
    obj(&[
        ("vmid", "integer"),
        ("name", "string?"),
        ("type", "string"),
        ("node", "string"),
        ("status", "string"),
        ("template", "boolean"),
        ("cpu_percent", "number?"),
        ("maxcpu", "number?"),
        ("mem", "integer?"),
        ("mem_human", "string?"),
        ("maxmem", "integer?"),
        ("maxmem_human", "string?"),
        ("uptime", "integer?"),
        ("uptime_human", "string?"),
        ("tags", "string[]"),
        ("pool", "string?"),
    ])
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

pub fn list_vms(args: Value) -> Result<Output, ToolError> {
    let a: ListVmsArgs = parse_args(args)?;
    let limit = limit(a.limit, 100)?;
    if let Some(kind) = &a.kind
        && kind != "qemu"
        && kind != "lxc"
    {
        return Err(ToolError::InvalidArguments(format!("type {kind:?} is not a guest type; use \"qemu\" or \"lxc\"")));
    }
    let data = pve::get(&["cluster", "resources"], &json!({"type": "vm"}))?;
    let name_filter = a.name.as_deref().map(str::to_lowercase);
    let mut vms: Vec<Value> = items(&data)
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
    out.insert("template".into(), json!(flag(r, "template")));
    out.insert("cpu_percent".into(), json!(float(r, "cpu").map(pct)));
    out.insert("maxcpu".into(), json!(float(r, "maxcpu")));
    bytes(&mut out, "mem", uint(r, "mem"));
    bytes(&mut out, "maxmem", uint(r, "maxmem"));
    uptime(&mut out, uint(r, "uptime"));
    out.insert("tags".into(), json!(tags(r)));
    out.insert("pool".into(), json!(text(r, "pool")));
    Value::Object(out)
}

pub fn get_vm_status(args: Value) -> Result<Output, ToolError> {
    let a: GuestArgs = parse_args(args)?;
    let g = locate(a.vmid, a.node.as_deref(), a.kind.as_deref())?;
    let vmid = g.vmid.to_string();
    let s =
        pve::get(&["nodes", &g.node, g.kind, &vmid, "status", "current"], &Value::Null).map_err(on_node(&g.node))?;
    let mut out = Map::new();
    out.insert("vmid".into(), json!(g.vmid));
    out.insert("name".into(), json!(text(&s, "name")));
    out.insert("type".into(), json!(g.kind));
    out.insert("node".into(), json!(g.node));
    let status = text(&s, "status").unwrap_or_else(|| "unknown".into());
    out.insert("status".into(), json!(status));
    out.insert("qmpstatus".into(), json!(text(&s, "qmpstatus")));
    out.insert("cpu_percent".into(), json!(float(&s, "cpu").map(pct)));
    out.insert("cpus".into(), json!(float(&s, "cpus")));
    bytes(&mut out, "mem", uint(&s, "mem"));
    bytes(&mut out, "maxmem", uint(&s, "maxmem"));
    uptime(&mut out, uint(&s, "uptime"));
    out.insert("agent".into(), json!(if s.get("agent").is_some() { Some(flag(&s, "agent")) } else { None }));
    out.insert("lock".into(), json!(text(&s, "lock")));
    out.insert("template".into(), json!(flag(&s, "template")));
    out.insert("tags".into(), json!(tags(&s)));
    let shown = match text(&s, "qmpstatus") {
        Some(q) if q != status => format!("{status} ({q})"),
        _ => status,
    };
    let summary = format!("{} {} on {}: {shown}", g.kind, g.vmid, g.node);
    Ok(Output::new(Value::Object(out), summary))
}

pub fn get_vm_config(args: Value) -> Result<Output, ToolError> {
    let a: GuestArgs = parse_args(args)?;
    let g = locate(a.vmid, a.node.as_deref(), a.kind.as_deref())?;
    let vmid = g.vmid.to_string();
    let cfg = pve::get(&["nodes", &g.node, g.kind, &vmid, "config"], &Value::Null).map_err(on_node(&g.node))?;
    let pending = pve::get(&["nodes", &g.node, g.kind, &vmid, "pending"], &Value::Null).map_err(on_node(&g.node))?;
    let mut config = Map::new();
    if let Value::Object(map) = &cfg {
        for (k, v) in map {
            if k == "digest" {
                continue;
            }
            let value = if SECRET_KEYS.contains(&k.as_str()) { json!("[redacted]") } else { v.clone() };
            config.insert(k.clone(), value);
        }
    }
    let changes: Vec<Value> = items(&pending)
        .iter()
        .filter(|p| p.get("pending").is_some() || uint(p, "delete").is_some_and(|d| d > 0))
        .map(|p| {
            let key = text(p, "key").unwrap_or_default();
            let hide = SECRET_KEYS.contains(&key.as_str());
            let shown = |field: &str| p.get(field).map(|v| if hide { "[redacted]".to_string() } else { v.as_str().map_or_else(|| v.to_string(), str::to_string) });
            json!({"key": key, "current": shown("value"), "pending": shown("pending"), "delete": uint(p, "delete").is_some_and(|d| d > 0)})
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
    Ok(Output::new(
        json!({"vmid": g.vmid, "type": g.kind, "node": g.node, "digest": text(&cfg, "digest"), "config": config, "pending": changes}),
        summary,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GuestMetricsArgs {
    vmid: u32,
    node: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    timeframe: Option<String>,
    cf: Option<String>,
}

pub fn get_vm_metrics(args: Value) -> Result<Output, ToolError> {
    let a: GuestMetricsArgs = parse_args(args)?;
    let (tf, cf) = timeframe(a.timeframe, a.cf)?;
    let g = locate(a.vmid, a.node.as_deref(), a.kind.as_deref())?;
    let vmid = g.vmid.to_string();
    let data = pve::get(&["nodes", &g.node, g.kind, &vmid, "rrddata"], &json!({"timeframe": tf, "cf": cf}))
        .map_err(on_node(&g.node))?;
    Ok(metrics_output(
        &data,
        &[
            ("cpu", "percent"),
            ("mem", "bytes"),
            ("maxmem", "bytes"),
            ("netin", "bytes/s"),
            ("netout", "bytes/s"),
            ("diskread", "bytes/s"),
            ("diskwrite", "bytes/s"),
        ],
        &tf,
        &cf,
        &format!("{} {}", g.kind, g.vmid),
    ))
}

pub fn list_snapshots(args: Value) -> Result<Output, ToolError> {
    let a: GuestArgs = parse_args(args)?;
    let g = locate(a.vmid, a.node.as_deref(), a.kind.as_deref())?;
    let vmid = g.vmid.to_string();
    let data = pve::get(&["nodes", &g.node, g.kind, &vmid, "snapshot"], &Value::Null).map_err(on_node(&g.node))?;
    let current_parent = items(&data).iter().find(|s| s["name"] == "current").and_then(|s| text(s, "parent"));
    let snaps: Vec<&Value> = items(&data).iter().filter(|s| s["name"] != "current").collect();
    let node_of = |s: &Value| {
        json!({"name": text(s, "name"), "description": text(s, "description").unwrap_or_default(),
               "snaptime": uint(s, "snaptime"), "vmstate": flag(s, "vmstate"), "children": []})
    };
    fn attach(parent: Option<&str>, snaps: &[&Value], make: &dyn Fn(&Value) -> Value, depth: usize) -> Vec<Value> {
        if depth > 64 {
            return Vec::new();
        }
        snaps
            .iter()
            .filter(|s| s["parent"].as_str() == parent)
            .map(|s| {
                let mut n = make(s);
                n["children"] = json!(attach(s["name"].as_str(), snaps, make, depth + 1));
                n
            })
            .collect()
    }
    let tree = attach(None, &snaps, &node_of, 0);
    let summary = format!(
        "{} snapshots of {} {}{}",
        snaps.len(),
        g.kind,
        g.vmid,
        if current_parent.is_some() { "; current state descends from the marked parent" } else { "" }
    );
    Ok(Output::new(
        json!({"vmid": g.vmid, "count": snaps.len(), "current_parent": current_parent, "tree": tree}),
        summary,
    ))
}
