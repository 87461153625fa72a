//! Storage tools: storages with usage, their content, and backups across
//! every backup-capable storage.

use std::collections::BTreeSet;

use proxmcp_sdk::{Answer, Router, ToolError, backups, format, pve};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::common::*;

/// The requests this file's tools send.
pub const GRANTS: &[&str] =
    &["GET /cluster/resources", "GET /nodes/{node}/storage", "GET /nodes/{node}/storage/{storage}/content"];

pub fn router() -> Router {
    Router::new()
        .read(
            "pve_list_storage",
            "List storage",
            "Storages with type, content types and usage; cluster-wide (per node) or for one node.",
            list_storage,
        )
        .read(
            "pve_list_storage_content",
            "List storage content",
            "Volumes on one storage (ISOs, templates, disks, backups); filter by content type or vmid.",
            list_storage_content,
        )
        .read(
            "pve_list_backups",
            "List backups",
            "Backups across all backup storages, newest first; filter by vmid, storage or node.",
            list_backups,
        )
}

#[derive(Serialize, JsonSchema)]
struct Storage {
    storage: String,
    node: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    content: Vec<String>,
    shared: bool,
    status: Option<String>,
    #[serde(flatten)]
    usage: Usage,
}

#[derive(Serialize, JsonSchema)]
struct Storages {
    storages: Vec<Storage>,
    #[serde(flatten)]
    page: Page,
}

#[derive(Serialize, JsonSchema)]
struct Volume {
    volid: String,
    storage: String,
    node: Option<String>,
    content: Option<String>,
    format: Option<String>,
    size: Option<u64>,
    size_human: Option<String>,
    vmid: Option<u64>,
    ctime: Option<u64>,
    /// ISO-8601 UTC of ctime.
    ctime_utc: Option<String>,
    /// How long before now_utc: "3h 12m ago".
    age: Option<String>,
    notes: Option<String>,
    protected: bool,
    /// PBS: whether the last verification passed (null: never verified).
    #[serde(skip_serializing_if = "Option::is_none")]
    verified: Option<bool>,
}

#[derive(Serialize, JsonSchema)]
struct Volumes {
    volumes: Vec<Volume>,
    #[serde(flatten)]
    page: Page,
    now_utc: String,
}

#[derive(Serialize, JsonSchema)]
struct Backups {
    backups: Vec<Volume>,
    #[serde(flatten)]
    page: Page,
    /// Nodes that did not answer; their storages' backups are missing.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    unreachable_nodes: Vec<String>,
    now_utc: String,
}

fn content_list(v: &Value) -> Vec<String> {
    v["content"].as_str().unwrap_or("").split(',').filter(|c| !c.is_empty()).map(str::to_string).collect()
}

fn storage_entry(s: &Value, node: Option<&str>, total_key: &str, used_key: &str, kind_key: &str) -> Storage {
    let status = text(s, "status").or_else(|| {
        (s.get("active").is_some()).then(|| if flag(s, "active") { "available".into() } else { "inactive".into() })
    });
    Storage {
        storage: text(s, "storage").unwrap_or_default(),
        node: node.map(str::to_string).or_else(|| text(s, "node")),
        kind: text(s, kind_key),
        content: content_list(s),
        shared: flag(s, "shared"),
        status,
        usage: Usage::new(uint(s, total_key), uint(s, used_key)),
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ListStorageArgs {
    node: Option<String>,
    #[schemars(range(min = 1, max = 1000))]
    limit: Option<usize>,
}

/// Storage entries of `/cluster/resources` (one per node and storage).
fn cluster_storages() -> Result<Vec<Value>, ToolError> {
    let data = pve::get(&["cluster", "resources"], &json!({"type": "storage"}))?;
    Ok(items(&data).iter().filter(|r| r["type"] == "storage").cloned().collect())
}

fn list_storage(a: ListStorageArgs) -> Result<Answer<Storages>, ToolError> {
    let limit = limit(a.limit, 100)?;
    let mut list: Vec<Storage> = match &a.node {
        Some(node) => {
            let data = pve::get(&["nodes", node, "storage"], &Value::Null).map_err(on_node(node))?;
            items(&data).iter().map(|s| storage_entry(s, Some(node), "total", "used", "type")).collect()
        }
        None => cluster_storages()?.iter().map(|s| storage_entry(s, None, "maxdisk", "disk", "plugintype")).collect(),
    };
    list.sort_by(|a, b| (&a.storage, &a.node).cmp(&(&b.storage, &b.node)));
    let full: BTreeSet<&str> =
        list.iter().filter(|s| s.usage.used_percent.is_some_and(|p| p >= 85.0)).map(|s| s.storage.as_str()).collect();
    let full = full.len();
    let page = Page::cut(&mut list, limit);
    let mut summary = page.summary("storage entries");
    if full > 0 {
        summary.push_str(&format!(", {full} at 85% or more"));
    }
    Ok(Answer::new(Storages { storages: list, page }, summary))
}

fn volume_entry(v: &Value, storage: &str, node: &str, now: u64) -> Volume {
    let ctime = uint(v, "ctime");
    Volume {
        volid: text(v, "volid").unwrap_or_default(),
        storage: storage.to_string(),
        node: Some(node.to_string()),
        content: text(v, "content"),
        format: text(v, "format"),
        size: uint(v, "size"),
        size_human: human(uint(v, "size")),
        vmid: uint(v, "vmid"),
        ctime,
        ctime_utc: ctime.map(format::utc),
        age: ctime.map(|t| format::age(now, t)),
        notes: text(v, "notes"),
        protected: flag(v, "protected"),
        verified: v["verification"]["state"].as_str().map(|s| s == "ok"),
    }
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

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ContentArgs {
    storage: String,
    /// Optional; any node that has the storage.
    node: Option<String>,
    #[schemars(extend("enum" = ["images", "rootdir", "iso", "vztmpl", "backup", "snippets", "import"]))]
    content: Option<String>,
    #[schemars(range(min = 100))]
    vmid: Option<u32>,
    #[schemars(range(min = 1, max = 1000))]
    limit: Option<usize>,
}

fn list_storage_content(a: ContentArgs) -> Result<Answer<Volumes>, ToolError> {
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
    let now = format::now();
    let mut volumes: Vec<Volume> = items(&data).iter().map(|v| volume_entry(v, &a.storage, &node, now)).collect();
    volumes.sort_by(|a, b| a.volid.cmp(&b.volid));
    let page = Page::cut(&mut volumes, limit);
    let summary = page.summary("volumes");
    Ok(Answer::new(Volumes { volumes, page, now_utc: format::utc(now) }, summary))
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct BackupArgs {
    #[schemars(range(min = 100))]
    vmid: Option<u32>,
    storage: Option<String>,
    node: Option<String>,
    #[schemars(range(min = 1, max = 1000))]
    limit: Option<usize>,
}

fn list_backups(a: BackupArgs) -> Result<Answer<Backups>, ToolError> {
    let limit = limit(a.limit, DEFAULT_LIMIT)?;
    let now = format::now();
    let filter = backups::Filter { vmid: a.vmid, storage: a.storage.clone(), node: a.node.clone() };
    let scan = backups::scan(&filter)?;
    if scan.storages_read == 0 && scan.unreachable_nodes.is_empty() && a.storage.is_some() {
        return Err(ToolError::InvalidArguments(format!(
            "no online backup storage named {:?}{}; list storages with pve_list_storage",
            a.storage.unwrap_or_default(),
            a.node.map(|n| format!(" on node {n:?}")).unwrap_or_default()
        )));
    }
    let mut list: Vec<Volume> =
        scan.backups.iter().map(|f| volume_entry(&f.volume, &f.storage, &f.node, now)).collect();
    list.sort_by_key(|b| std::cmp::Reverse(b.ctime));
    let page = Page::cut(&mut list, limit);
    let mut summary = format!("{} from {} storages, newest first", page.summary("backups"), scan.storages_read);
    if !scan.unreachable_nodes.is_empty() {
        summary.push_str(&format!("; not reached: {}", scan.unreachable_nodes.join(", ")));
    }
    let unreachable_nodes = scan.unreachable_nodes;
    Ok(Answer::new(Backups { backups: list, page, unreachable_nodes, now_utc: format::utc(now) }, summary))
}
