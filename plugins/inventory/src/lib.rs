//! The read-only inventory plugin: what runs where, and is it healthy.
//!
//! Every tool only reads (`GET`), so this plugin loads in read-only mode.
//! Outputs are whitelisted fields, never raw API dumps; byte counts and
//! durations gain `*_human` companions; lists take `limit` and say
//! `truncated`. Guest-controlled text (names, notes, tags) stays in the
//! structured data, never in the summary line.

mod cluster;
mod common;
mod guests;
mod storage;
mod tasks;

use proxmcp_sdk::{Output, Plugin, ToolDef, ToolError};
use serde_json::Value;

struct Inventory;

impl Plugin for Inventory {
    fn tools() -> Vec<ToolDef> {
        let mut tools = cluster::tools();
        tools.extend(guests::tools());
        tools.extend(storage::tools());
        tools.extend(tasks::tools());
        tools
    }

    fn call(name: &str, args: Value) -> Result<Output, ToolError> {
        match name {
            "pve_get_version" => cluster::get_version(args),
            "pve_get_cluster_status" => cluster::get_cluster_status(args),
            "pve_list_nodes" => cluster::list_nodes(args),
            "pve_get_node" => cluster::get_node(args),
            "pve_get_node_metrics" => cluster::get_node_metrics(args),
            "pve_list_resources" => cluster::list_resources(args),
            "pve_list_pools" => cluster::list_pools(args),
            "pve_get_next_vmid" => cluster::get_next_vmid(args),
            "pve_list_vms" => guests::list_vms(args),
            "pve_get_vm_status" => guests::get_vm_status(args),
            "pve_get_vm_config" => guests::get_vm_config(args),
            "pve_get_vm_metrics" => guests::get_vm_metrics(args),
            "pve_list_snapshots" => guests::list_snapshots(args),
            "pve_list_storage" => storage::list_storage(args),
            "pve_list_storage_content" => storage::list_storage_content(args),
            "pve_list_backups" => storage::list_backups(args),
            "pve_list_tasks" => tasks::list_tasks(args),
            "pve_get_task_status" => tasks::get_task_status(args),
            "pve_get_task_log" => tasks::get_task_log(args),
            other => Err(ToolError::UnknownTool(other.to_string())),
        }
    }
}

proxmcp_sdk::plugin! {
    plugin: Inventory,
    name: "inventory",
    description: "Read-only inventory: cluster, nodes, guests, storage, backups, tasks, pools",
    grants: [
        "GET /version",
        "GET /cluster/status",
        "GET /cluster/resources",
        "GET /cluster/tasks",
        "GET /cluster/nextid",
        "GET /nodes",
        "GET /nodes/{node}/status",
        "GET /nodes/{node}/rrddata",
        "GET /nodes/{node}/storage",
        "GET /nodes/{node}/storage/{storage}/content",
        "GET /nodes/{node}/tasks",
        "GET /nodes/{node}/tasks/{upid}/status",
        "GET /nodes/{node}/tasks/{upid}/log",
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
        "GET /pools",
    ],
}
