//! Storage tools: storages with usage, their content, and backups across
//! every backup-capable storage.

use std::collections::BTreeSet;

use proxmcp_sdk::{Output, ToolDef, ToolError, parse_args, pve};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::common::*;

pub fn tools() -> Vec<ToolDef> {
    vec![
        ToolDef::new(
            "pve_list_storage",
            "Storages with type, content types and usage; cluster-wide (per node) or for one node.",
            input(json!({"node": {"type": "string"}, "limit": limit_prop()}), &[]),
        )
        .title("List storage")
        .output_schema(list_of("storages", storage_item())),
        ToolDef::new(
            "pve_list_storage_content",
            "Volumes on one storage (ISOs, templates, disks, backups); filter by content type or vmid.",
            input(
                json!({"storage": {"type": "string"}, "node": {"type": "string", "description": "Optional; any node that has the storage."},
                       "content": {"type": "string", "enum": ["images", "rootdir", "iso", "vztmpl", "backup", "snippets", "import"]},
                       "vmid": {"type": "integer", "minimum": 100}, "limit": limit_prop()}),
                &["storage"],
            ),
        )
        .title("List storage content")
        .output_schema(list_of("volumes", volume_item())),
        ToolDef::new(
            "pve_list_backups",
            "Backups across all backup storages, newest first; filter by vmid, storage or node.",
            input(
                json!({"vmid": {"type": "integer", "minimum": 100}, "storage": {"type": "string"},
                       "node": {"type": "string"}, "limit": limit_prop()}),
                &[],
            ),
        )
        .title("List backups")
        .output_schema(list_of("backups", volume_item())),
    ]
}

fn storage_item() -> Value {
    obj(&[
        ("storage", "string"),
        ("node", "string?"),
        ("type", "string?"),
        ("content", "string[]"),
        ("shared", "boolean"),
        ("status", "string?"),
        ("total", "integer?"),
        ("total_human", "string?"),
        ("used", "integer?"),
        ("used_human", "string?"),
        ("used_percent", "number?"),
    ])
}

fn volume_item() -> Value {
    obj(&[
        ("volid", "string"),
        ("storage", "string"),
        ("node", "string?"),
        ("content", "string?"),
        ("format", "string?"),
        ("size", "integer?"),
        ("size_human", "string?"),
        ("vmid", "integer?"),
        ("ctime", "integer?"),
        ("notes", "string?"),
        ("protected", "boolean"),
    ])
}

fn content_list(v: &Value) -> Vec<String> {
    v["content"].as_str().unwrap_or("").split(',').filter(|c| !c.is_empty()).map(str::to_string).collect()
}

fn storage_entry(s: &Value, node: Option<&str>, total_key: &str, used_key: &str, kind_key: &str) -> Value {
    let total = uint(s, total_key);
    let used = uint(s, used_key);
    let mut out = Map::new();
    out.insert("storage".into(), json!(text(s, "storage").unwrap_or_default()));
    out.insert("node".into(), json!(node.map(str::to_string).or_else(|| text(s, "node"))));
    out.insert("type".into(), json!(text(s, kind_key)));
    out.insert("content".into(), json!(content_list(s)));
    out.insert("shared".into(), json!(flag(s, "shared")));
    let status = text(s, "status").or_else(|| {
        (s.get("active").is_some()).then(|| if flag(s, "active") { "available".into() } else { "inactive".into() })
    });
    out.insert("status".into(), json!(status));
    usage_into(&mut out, total, used);
    Value::Object(out)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListStorageArgs {
    node: Option<String>,
    limit: Option<usize>,
}

/// Storage entries of `/cluster/resources` (one per node and storage).
fn cluster_storages() -> Result<Vec<Value>, ToolError> {
    let data = pve::get(&["cluster", "resources"], &json!({"type": "storage"}))?;
    Ok(items(&data).iter().filter(|r| r["type"] == "storage").cloned().collect())
}

pub fn list_storage(args: Value) -> Result<Output, ToolError> {
    let a: ListStorageArgs = parse_args(args)?;
    let limit = limit(a.limit, 100)?;
    let mut list: Vec<Value> = match &a.node {
        Some(node) => {
            let data = pve::get(&["nodes", node, "storage"], &Value::Null).map_err(on_node(node))?;
            items(&data).iter().map(|s| storage_entry(s, Some(node), "total", "used", "type")).collect()
        }
        None => cluster_storages()?.iter().map(|s| storage_entry(s, None, "maxdisk", "disk", "plugintype")).collect(),
    };
    list.sort_by(|a, b| (a["storage"].as_str(), a["node"].as_str()).cmp(&(b["storage"].as_str(), b["node"].as_str())));
    let full: Vec<String> = list
        .iter()
        .filter(|s| s["used_percent"].as_f64().is_some_and(|p| p >= 85.0))
        .filter_map(|s| s["storage"].as_str().map(str::to_string))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut out = list_output("storages", list, limit, "storage entries");
    if !full.is_empty() {
        out.text.push_str(&format!(", {} at 85% or more", full.len()));
    }
    Ok(out)
}

fn volume_entry(v: &Value, storage: &str, node: &str) -> Value {
    let mut out = Map::new();
    out.insert("volid".into(), json!(text(v, "volid").unwrap_or_default()));
    out.insert("storage".into(), json!(storage));
    out.insert("node".into(), json!(node));
    out.insert("content".into(), json!(text(v, "content")));
    out.insert("format".into(), json!(text(v, "format")));
    bytes(&mut out, "size", uint(v, "size"));
    out.insert("vmid".into(), json!(uint(v, "vmid")));
    out.insert("ctime".into(), json!(uint(v, "ctime")));
    out.insert("notes".into(), json!(text(v, "notes")));
    out.insert("protected".into(), json!(flag(v, "protected")));
    Value::Object(out)
}

/// A node where `storage` is available, preferring `wanted`.
fn node_for(storage: &str) -> Result<String, ToolError> {
    let mut nodes: Vec<String> = cluster_storages()?
        .iter()
        .filter(|s| s["storage"] == storage && s["status"] == "available")
        .filter_map(|s| text(s, "node"))
        .collect();
    nodes.sort();
    nodes.into_iter().next().ok_or_else(|| {
        ToolError::InvalidArguments(format!(
            "no online node has a storage named {storage:?}; list storages with pve_list_storage"
        ))
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ContentArgs {
    storage: String,
    node: Option<String>,
    content: Option<String>,
    vmid: Option<u32>,
    limit: Option<usize>,
}

pub fn list_storage_content(args: Value) -> Result<Output, ToolError> {
    let a: ContentArgs = parse_args(args)?;
    let limit = limit(a.limit, 100)?;
    let node = match a.node {
        Some(n) => n,
        None => node_for(&a.storage)?,
    };
    let mut query = Map::new();
    if let Some(c) = &a.content {
        query.insert("content".into(), json!(c));
    }
    if let Some(v) = a.vmid {
        query.insert("vmid".into(), json!(v));
    }
    let data =
        pve::get(&["nodes", &node, "storage", &a.storage, "content"], &Value::Object(query)).map_err(on_node(&node))?;
    let mut volumes: Vec<Value> = items(&data).iter().map(|v| volume_entry(v, &a.storage, &node)).collect();
    volumes.sort_by(|a, b| a["volid"].as_str().cmp(&b["volid"].as_str()));
    Ok(list_output("volumes", volumes, limit, "volumes"))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BackupArgs {
    vmid: Option<u32>,
    storage: Option<String>,
    node: Option<String>,
    limit: Option<usize>,
}

pub fn list_backups(args: Value) -> Result<Output, ToolError> {
    let a: BackupArgs = parse_args(args)?;
    let limit = limit(a.limit, DEFAULT_LIMIT)?;
    let mut targets: Vec<(String, String)> = Vec::new();
    let mut shared_done = BTreeSet::new();
    let mut storages = cluster_storages()?;
    storages
        .sort_by(|x, y| (x["storage"].as_str(), x["node"].as_str()).cmp(&(y["storage"].as_str(), y["node"].as_str())));
    for s in &storages {
        let (Some(storage), Some(node)) = (text(s, "storage"), text(s, "node")) else { continue };
        if !content_list(s).iter().any(|c| c == "backup") || s["status"] != "available" {
            continue;
        }
        if a.storage.as_deref().is_some_and(|w| w != storage) || a.node.as_deref().is_some_and(|w| w != node) {
            continue;
        }
        // A shared storage shows the same backups on every node: ask once.
        if flag(s, "shared") && !shared_done.insert(storage.clone()) {
            continue;
        }
        targets.push((storage, node));
    }
    if targets.is_empty() && a.storage.is_some() {
        return Err(ToolError::InvalidArguments(format!(
            "no online backup storage named {:?}{}; list storages with pve_list_storage",
            a.storage.unwrap_or_default(),
            a.node.map(|n| format!(" on node {n:?}")).unwrap_or_default()
        )));
    }
    let mut backups = Vec::new();
    let mut seen = BTreeSet::new();
    for (storage, node) in &targets {
        let mut query = json!({"content": "backup"});
        if let Some(v) = a.vmid {
            query["vmid"] = json!(v);
        }
        let data = pve::get(&["nodes", node, "storage", storage, "content"], &query).map_err(on_node(node))?;
        for v in items(&data) {
            let entry = volume_entry(v, storage, node);
            if seen.insert(entry["volid"].as_str().unwrap_or_default().to_string()) {
                backups.push(entry);
            }
        }
    }
    backups.sort_by(|x, y| y["ctime"].as_u64().cmp(&x["ctime"].as_u64()));
    let mut out = list_output("backups", backups, limit, "backups");
    out.text.push_str(&format!(" from {} storages, newest first", targets.len()));
    Ok(out)
}
