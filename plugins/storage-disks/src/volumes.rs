//! `pve_delete_volume`: deletes one volume from a storage, never one a
//! guest's configuration still uses (the host also refuses a protected
//! guest's volumes).

use proxmcp_sdk::value::{flag, items, text, uint};
use proxmcp_sdk::write::{Outcome, Writes};
use proxmcp_sdk::{Answer, Hints, Method, Router, ToolError, pve};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The requests this file's tools send.
pub const GRANTS: &[&str] = &[
    "GET /nodes",
    "GET /nodes/{node}/storage",
    "GET /cluster/resources",
    "GET /nodes/{node}/storage/{storage}/content",
    "GET /nodes/{node}/qemu/{vmid}/config",
    "GET /nodes/{node}/lxc/{vmid}/config",
    "DELETE /nodes/{node}/storage/{storage}/content/{volume}",
];

pub fn router() -> Router {
    Router::new().write(
        "pve_delete_volume",
        "Delete volume",
        "Delete a volume (ISO, template, backup, unused disk) by its id, e.g. local:iso/x.iso. Refused while a guest uses it.",
        Hints::DESTRUCTIVE,
        delete,
    )
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Args {
    /// storage:path, as listed by pve_list_storage_content.
    volume: String,
    /// Required for a volume on a node's local storage held by several nodes.
    node: Option<String>,
}

#[derive(Serialize, JsonSchema)]
struct Deleted {
    volume: String,
    content: Option<String>,
    size: Option<u64>,
}

/// Where the volume is: the nodes that list it, each with its entry.
fn find(storage: &str, volume: &str, node: Option<&str>) -> Result<Vec<(String, Value)>, ToolError> {
    let nodes: Vec<String> = match node {
        Some(n) => vec![n.to_string()],
        None => {
            let list = pve::get(&["nodes"], &Value::Null)?;
            items(&list).iter().filter(|n| n["status"] == "online").filter_map(|n| text(n, "node")).collect()
        }
    };
    let mut found = Vec::new();
    for n in nodes {
        let content = match pve::get(&["nodes", &n, "storage", storage, "content"], &Value::Null) {
            Ok(c) => c,
            // A node without this storage simply does not hold it.
            Err(_) if node.is_none() => continue,
            Err(e) => return Err(e.into()),
        };
        if let Some(v) = items(&content).iter().find(|v| v["volid"] == volume) {
            found.push((n, v.clone()));
        }
    }
    Ok(found)
}

/// Whether `storage` is shared between nodes, as `node` sees it.
fn shared_storage(node: &str, storage: &str) -> Result<bool, ToolError> {
    let storages = pve::get(&["nodes", node, "storage"], &Value::Null)?;
    Ok(items(&storages).iter().any(|s| s["storage"] == storage && flag(s, "shared") == Some(true)))
}

/// The guests whose configuration uses `volume`, as `VM 100 (scsi0)`; only
/// those on `node` when given.
fn users_of(volume: &str, owner: Option<u64>, node: Option<&str>) -> Result<Vec<String>, ToolError> {
    let guests = pve::get(&["cluster", "resources"], &json!({"type": "vm"}))?;
    let mut users = Vec::new();
    for g in items(&guests) {
        let (Some(vmid), Some(guest_node), Some(kind)) = (uint(g, "vmid"), text(g, "node"), text(g, "type")) else {
            continue;
        };
        // Disk images belong to their owner; ISOs and templates may be
        // attached anywhere.
        if owner.is_some_and(|o| o != vmid) || g["status"] == "unknown" || node.is_some_and(|n| n != guest_node) {
            continue;
        }
        let config = pve::get(&["nodes", &guest_node, &kind, &vmid.to_string(), "config"], &Value::Null)?;
        let Some(map) = config.as_object() else { continue };
        for (key, value) in map {
            let used = value
                .as_str()
                .is_some_and(|v| v.split(',').any(|part| part == volume || part.ends_with(&format!("={volume}"))));
            if used {
                let label = if kind == "lxc" { "CT" } else { "VM" };
                users.push(format!("{label} {vmid} ({key})"));
            }
        }
    }
    Ok(users)
}

/// The vmid a volume's name gives (`vm-100-disk-0`, `base-100-disk-0`,
/// `subvol-100-disk-0`).
fn owner(path: &str) -> Option<u64> {
    let name = path.rsplit('/').next().unwrap_or(path);
    let rest = ["vm-", "base-", "subvol-"].iter().find_map(|p| name.strip_prefix(p))?;
    rest.split('-').next()?.parse().ok()
}

fn delete(a: Args, writes: &mut Writes) -> Result<Answer<Outcome<Deleted>>, ToolError> {
    let Some((storage, path)) = a.volume.split_once(':').filter(|(s, p)| !s.is_empty() && !p.is_empty()) else {
        return Err(ToolError::InvalidArguments(format!(
            "volume {:?} is not a volume id: write storage:path, e.g. local:iso/debian.iso (pve_list_storage_content lists them)",
            a.volume
        )));
    };
    let found = find(storage, &a.volume, a.node.as_deref())?;
    let Some((node, entry)) = found.first().cloned() else {
        let on = a.node.as_deref().map(|n| format!(" on node {n}")).unwrap_or_default();
        return Err(ToolError::InvalidArguments(format!(
            "no volume {}{on}; list the storage with pve_list_storage_content",
            a.volume
        )));
    };
    // A shared storage lists the same volume on every node; a node's own
    // storage only on that node, where only its guests can use it.
    let shared = shared_storage(&node, storage)?;
    if found.len() > 1 && !shared {
        let names: Vec<&str> = found.iter().map(|(n, _)| n.as_str()).collect();
        return Err(ToolError::InvalidArguments(format!(
            "{} exists on nodes {}; say which one with node",
            a.volume,
            names.join(", ")
        )));
    }
    if flag(&entry, "protected") == Some(true) {
        return Err(ToolError::InvalidArguments(format!(
            "{} is protected; remove its protection in Proxmox first if it really should go",
            a.volume
        )));
    }
    let on_node = if shared { None } else { Some(node.as_str()) };
    let users = users_of(&a.volume, owner(path), on_node)?;
    if !users.is_empty() {
        return Err(ToolError::InvalidArguments(format!(
            "{} is in use by {}: detach it from the guest's configuration first (pve_set_vm_config delete=KEY), then delete it",
            a.volume,
            users.join(", ")
        )));
    }
    let details = Deleted { volume: a.volume.clone(), content: text(&entry, "content"), size: uint(&entry, "size") };
    let sent =
        writes.send(Method::Delete, &["nodes", &node, "storage", storage, "content", &a.volume], &Value::Null)?;
    writes.finish(&node, sent, &format!("delete volume {}", a.volume), details)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_volume_name_tells_its_owner() {
        assert_eq!(owner("vm-100-disk-0"), Some(100));
        assert_eq!(owner("base-9000-disk-1"), Some(9000));
        assert_eq!(owner("images/101/vm-101-disk-0.qcow2"), Some(101));
        assert_eq!(owner("iso/debian.iso"), None);
    }
}
