//! Reading backups across a cluster: every storage that holds backups is
//! read once (a shared one through the first of its nodes that answers),
//! and a node that does not answer is named instead of failing the read.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use crate::value::{flag, items, text};
use crate::{ApiError, pve};

/// Which backup storages to read.
#[derive(Debug, Default, Clone)]
pub struct Filter {
    /// Only this guest's backups.
    pub vmid: Option<u32>,
    /// Only this storage.
    pub storage: Option<String>,
    /// Only storages of this node.
    pub node: Option<String>,
}

/// One backup volume as Proxmox lists it, with where it was read.
#[derive(Debug, Clone)]
pub struct Found {
    /// The storage.
    pub storage: String,
    /// The node it was read through.
    pub node: String,
    /// The storage's type (`dir`, `nfs`, `pbs`, ...).
    pub kind: String,
    /// The volume, as `GET .../storage/{storage}/content` lists it.
    pub volume: Value,
}

/// What a scan found.
#[derive(Debug, Default)]
pub struct Scan {
    /// Every backup volume, once.
    pub backups: Vec<Found>,
    /// Storages read.
    pub storages_read: usize,
    /// Nodes that did not answer (their local storages are missing).
    pub unreachable_nodes: Vec<String>,
}

/// Reads the backups of every available backup storage `filter` selects.
/// Fails only for errors other than an unreachable node (a refused
/// request, a bad answer).
pub fn scan(filter: &Filter) -> Result<Scan, ApiError> {
    let resources = pve::get(&["cluster", "resources"], &json!({"type": "storage"}))?;
    // storage (shared) or storage@node -> its type and the nodes that show it
    let mut targets: BTreeMap<String, (String, Vec<String>)> = BTreeMap::new();
    let mut storages: Vec<&Value> = items(&resources).iter().filter(|r| r["type"] == "storage").collect();
    storages
        .sort_by(|x, y| (x["storage"].as_str(), x["node"].as_str()).cmp(&(y["storage"].as_str(), y["node"].as_str())));
    for s in storages {
        let (Some(storage), Some(node)) = (text(s, "storage"), text(s, "node")) else { continue };
        let holds_backups = s["content"].as_str().unwrap_or("").split(',').any(|c| c == "backup");
        if !holds_backups || s["status"] != "available" {
            continue;
        }
        if filter.storage.as_deref().is_some_and(|w| w != storage) || filter.node.as_deref().is_some_and(|w| w != node)
        {
            continue;
        }
        let key = if flag(s, "shared") == Some(true) { storage.clone() } else { format!("{storage}@{node}") };
        let kind = text(s, "plugintype").unwrap_or_default();
        targets.entry(key).or_insert_with(|| (kind, Vec::new())).1.push(node);
    }
    let mut query = json!({"content": "backup"});
    if let Some(v) = filter.vmid {
        query["vmid"] = json!(v);
    }
    let mut scan = Scan::default();
    let mut seen = BTreeSet::new();
    let mut unreachable = BTreeSet::new();
    for (key, (kind, nodes)) in &targets {
        let storage = key.split('@').next().unwrap_or(key);
        for node in nodes {
            if unreachable.contains(node) {
                continue;
            }
            match pve::get(&["nodes", node, "storage", storage, "content"], &query) {
                Ok(data) => {
                    scan.storages_read += 1;
                    for v in items(&data) {
                        if seen.insert(text(v, "volid").unwrap_or_default()) {
                            scan.backups.push(Found {
                                storage: storage.to_string(),
                                node: node.clone(),
                                kind: kind.clone(),
                                volume: v.clone(),
                            });
                        }
                    }
                    break;
                }
                Err(ApiError::NodeUnreachable(_)) => {
                    unreachable.insert(node.clone());
                }
                Err(e) => return Err(e),
            }
        }
    }
    scan.unreachable_nodes = unreachable.into_iter().collect();
    Ok(scan)
}
