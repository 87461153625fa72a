//! Reads: only their privileges matter (the 403 hint).

use super::super::Methods::One;
use super::super::{Endpoint, ROW};
use crate::pve::Method::Get;

use super::{FIREWALL_ALL, VMS_ACL};

/// A read that needs no privilege of its own: anyone may call it, and
/// Proxmox filters what it returns to what the caller may see.
const OPEN: Endpoint = Endpoint { methods: One(Get), ..ROW };

pub(super) static ROWS: &[Endpoint] = &[
    // ---- reads that need no privilege (their answers are filtered)
    Endpoint { path: "/version", ..OPEN },
    Endpoint { path: "/cluster/resources", ..OPEN },
    Endpoint { path: "/cluster/nextid", ..OPEN },
    Endpoint { path: "/cluster/tasks", ..OPEN },
    Endpoint { path: "/cluster/replication", ..OPEN },
    Endpoint { path: "/nodes", ..OPEN },
    Endpoint { path: "/pools", ..OPEN },
    Endpoint { path: "/nodes/{node}/storage", ..OPEN },
    Endpoint { path: "/nodes/{node}/tasks", ..OPEN },
    Endpoint { path: "/nodes/{node}/tasks/{upid}/{what:status|log}", ..OPEN },
    Endpoint { path: "/access/{what:permissions|roles|users|groups|acl}", ..OPEN },
    Endpoint { path: "/nodes/{node}/aplinfo", ..OPEN },
    // ---- reads that need a privilege (the permissions doctor, 403 hints)
    Endpoint {
        methods: One(Get),
        path: "/nodes/{node}/{what:firewall|replication|time}/**",
        privileges: "Sys.Audit",
        acl: "/nodes/{node}",
        role: "PVEAuditor",
        tools: &[
            "pve_list_firewall_rules",
            "pve_get_firewall_options",
            "pve_get_firewall_log",
            "pve_add_firewall_rule",
            "pve_update_firewall_rule",
            "pve_delete_firewall_rule",
            "pve_set_firewall_options",
            "pve_list_replication_jobs",
        ],
        ..ROW
    },
    Endpoint {
        methods: One(Get),
        path: "/cluster/status",
        privileges: "Sys.Audit",
        role: "PVEAuditor",
        tools: &["pve_get_cluster_status"],
        ..ROW
    },
    Endpoint {
        methods: One(Get),
        path: "/cluster/backup/**",
        privileges: "Sys.Audit",
        role: "PVEAuditor",
        // Changing or deleting a job reads it first (protection checks its guests).
        tools: &["pve_list_backup_jobs", "pve_create_backup_job", "pve_update_backup_job", "pve_delete_backup_job"],
        ..ROW
    },
    Endpoint {
        methods: One(Get),
        path: "/cluster/backup-info/**",
        privileges: "Sys.Audit",
        role: "PVEAuditor",
        tools: &["pve_backup_coverage"],
        ..ROW
    },
    Endpoint {
        methods: One(Get),
        path: "/cluster/ha/**",
        privileges: "Sys.Audit",
        role: "PVEAuditor",
        tools: &[
            "pve_get_ha_status",
            "pve_list_ha_resources",
            "pve_list_ha_rules",
            "pve_add_ha_resource",
            "pve_update_ha_resource",
            "pve_remove_ha_resource",
        ],
        ..ROW
    },
    Endpoint {
        methods: One(Get),
        path: "/cluster/firewall/**",
        privileges: "Sys.Audit",
        role: "PVEAuditor",
        tools: FIREWALL_ALL,
        ..ROW
    },
    Endpoint {
        methods: One(Get),
        path: "/cluster/acme/plugins/**",
        privileges: "Sys.Audit",
        role: "PVEAuditor",
        secret_answer: &["data"],
        ..ROW
    },
    Endpoint {
        methods: One(Get),
        path: "/nodes/{node}/{what:status|rrddata}",
        privileges: "Sys.Audit",
        acl: "/nodes/{node}",
        role: "PVEAuditor",
        tools: &["pve_get_node", "pve_get_node_metrics"],
        ..ROW
    },
    Endpoint {
        methods: One(Get),
        path: "/nodes/{node}/storage/{storage}/{what:status|content}",
        privileges: "Datastore.Audit or Datastore.AllocateSpace",
        acl: "/storage/{storage}",
        role: "PVEAuditor",
        tools: &["pve_list_storage_content", "pve_list_backups", "pve_backup_coverage", "pve_delete_volume"],
        ..ROW
    },
    Endpoint {
        methods: One(Get),
        path: "/nodes/{node}/qemu/{vmid}/agent/exec-status",
        privileges: "VM.GuestAgent.Unrestricted",
        acl: VMS_ACL,
        role: "PVEVMAdmin",
        tools: &["pve_vm_exec"],
        ..ROW
    },
    Endpoint {
        methods: One(Get),
        path: guest!("/agent/**"),
        privileges: "VM.GuestAgent.Audit or VM.GuestAgent.Unrestricted",
        acl: VMS_ACL,
        role: "PVEVMAdmin",
        tools: &["pve_get_guest_network", "pve_get_guest_info", "pve_wait_for_guest"],
        ..ROW
    },
    Endpoint {
        methods: One(Get),
        path: guest!("/migrate"),
        privileges: "VM.Migrate",
        acl: VMS_ACL,
        role: "PVEVMAdmin",
        tools: &["pve_migrate_vm"],
        ..ROW
    },
    Endpoint {
        methods: One(Get),
        path: guest!("/**"),
        privileges: "VM.Audit",
        acl: VMS_ACL,
        role: "PVEAuditor",
        tools: &[
            "pve_get_vm_status",
            "pve_get_vm_config",
            "pve_get_vm_metrics",
            "pve_list_snapshots",
            "pve_set_vm_config",
            "pve_list_firewall_rules",
            "pve_get_firewall_options",
            "pve_list_firewall_objects",
            "pve_get_firewall_log",
            "pve_add_firewall_rule",
            "pve_update_firewall_rule",
            "pve_delete_firewall_rule",
            "pve_set_firewall_options",
            "pve_get_guest_network",
            "pve_get_guest_info",
            "pve_wait_for_guest",
            "pve_convert_to_template",
            "pve_move_disk",
            "pve_delete_volume",
        ],
        ..ROW
    },
    Endpoint {
        methods: One(Get),
        path: "/pools/{poolid}",
        privileges: "Pool.Audit",
        acl: "/pool/{poolid}",
        role: "PVEPoolUser",
        ..ROW
    },
];
