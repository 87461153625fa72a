//! MCP resources: the inventory's main views readable by URI, served by
//! the tools that already produce them, and completions for the `vmid`
//! and `node` variables of their templates.

use proxmcp_sdk::resources::ResourceDef;
use proxmcp_sdk::{Router, ToolError, pve};
use serde_json::json;

use crate::common::*;

/// The requests the completions send (the resources' tools list theirs).
pub const GRANTS: &[&str] = &["GET /cluster/resources", "GET /nodes"];

pub fn router() -> Router {
    let def = |uri, name, title, description| ResourceDef::new(uri, name, description).title(title);
    Router::new()
        .resource(
            def("pve://cluster/status", "cluster-status", "Cluster status", "Cluster name, quorum and members."),
            "pve_get_cluster_status",
        )
        .resource(def("pve://nodes", "nodes", "Nodes", "Nodes with state, CPU, memory and uptime."), "pve_list_nodes")
        .resource(def("pve://guests", "guests", "Guests", "VMs and containers (first 100)."), "pve_list_vms")
        .resource(
            def(
                "pve://guest/{vmid}/config",
                "guest-config",
                "Guest config",
                "A guest's configuration and pending changes.",
            )
            .ttl_ms(30_000),
            "pve_get_vm_config",
        )
        .resource(
            def("pve://guest/{vmid}/status", "guest-status", "Guest status", "A guest's live status."),
            "pve_get_vm_status",
        )
        .resource(
            def("pve://node/{node}/status", "node-status", "Node status", "A node's load, memory, disk and versions."),
            "pve_get_node",
        )
        .resource(
            def("pve://task/{node}/{upid}/log", "task-log", "Task log", "The first lines of a task's log.")
                .ttl_ms(2_000),
            "pve_get_task_log",
        )
        .completion("vmid", complete_vmid)
        .completion("node", complete_node)
}

/// Existing vmids that start with `prefix`, in numeric order.
fn complete_vmid(prefix: &str) -> Result<Vec<String>, ToolError> {
    let data = pve::get(&["cluster", "resources"], &json!({"type": "vm"}))?;
    let mut ids: Vec<u64> = items(&data).iter().filter_map(|g| uint(g, "vmid")).collect();
    ids.sort_unstable();
    ids.dedup();
    Ok(ids.into_iter().map(|id| id.to_string()).filter(|id| id.starts_with(prefix.trim())).take(100).collect())
}

/// Node names that start with `prefix`, sorted.
fn complete_node(prefix: &str) -> Result<Vec<String>, ToolError> {
    let data = pve::get(&["nodes"], &json!({}))?;
    let mut nodes: Vec<String> =
        items(&data).iter().filter_map(|n| text(n, "node")).filter(|n| n.starts_with(prefix.trim())).collect();
    nodes.sort();
    Ok(nodes)
}
