//! The rows of the endpoint model. The first row that matches a request
//! wins, so a specific row stands before the family (`**`) that holds it.
//! Every write endpoint of the official schema is covered; a test checks it.

use super::Methods::{One, Writes};
use super::Touch::*;
use super::{Endpoint, ROW};
use crate::pve::Method::{Delete, Get, Post, Put};

/// A guest's subtree: `/nodes/{node}/qemu|lxc/{vmid}`.
macro_rules! guest {
    ($rest:literal) => {
        concat!("/nodes/{node}/{kind:qemu|lxc}/{vmid}", $rest)
    };
}

const VM: &[super::Touch] = &[Ids("vmid")];
const VMS_ACL: &str = "/vms/{vmid}";

pub(super) static ENDPOINTS: &[Endpoint] = &[
    // ---- reads: only their privileges matter (403 hints)
    Endpoint { methods: One(Get), path: "/cluster/status", privileges: "Sys.Audit", role: "PVEAuditor", ..ROW },
    Endpoint { methods: One(Get), path: "/cluster/backup/**", privileges: "Sys.Audit", role: "PVEAuditor", ..ROW },
    Endpoint { methods: One(Get), path: "/cluster/ha/**", privileges: "Sys.Audit", role: "PVEAuditor", ..ROW },
    Endpoint { methods: One(Get), path: "/cluster/firewall/**", privileges: "Sys.Audit", role: "PVEAuditor", ..ROW },
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
        ..ROW
    },
    Endpoint {
        methods: One(Get),
        path: "/nodes/{node}/storage/{storage}/{what:status|content}",
        privileges: "Datastore.Audit or Datastore.AllocateSpace",
        acl: "/storage/{storage}",
        role: "PVEAuditor",
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
        ..ROW
    },
    Endpoint {
        methods: One(Get),
        path: guest!("/migrate"),
        privileges: "VM.Migrate",
        acl: VMS_ACL,
        role: "PVEVMAdmin",
        ..ROW
    },
    Endpoint {
        methods: One(Get),
        path: guest!("/**"),
        privileges: "VM.Audit",
        acl: VMS_ACL,
        role: "PVEAuditor",
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
    // ---- a guest's own endpoints
    Endpoint {
        methods: One(Post),
        path: guest!("/status/start"),
        guests: VM,
        privileges: "VM.PowerMgmt",
        acl: VMS_ACL,
        role: "PVEVMUser",
        action: "start {guest}",
        tools: &["pve_start_vm"],
        ..ROW
    },
    Endpoint {
        methods: One(Post),
        path: guest!("/status/stop"),
        guests: VM,
        privileges: "VM.PowerMgmt",
        acl: VMS_ACL,
        role: "PVEVMUser",
        action: "stop {guest}",
        tools: &["pve_stop_vm"],
        ..ROW
    },
    Endpoint {
        methods: One(Post),
        path: guest!("/status/shutdown"),
        guests: VM,
        privileges: "VM.PowerMgmt",
        acl: VMS_ACL,
        role: "PVEVMUser",
        action: "shut {guest} down",
        tools: &["pve_shutdown_vm"],
        ..ROW
    },
    Endpoint {
        methods: One(Post),
        path: guest!("/status/reboot"),
        guests: VM,
        privileges: "VM.PowerMgmt",
        acl: VMS_ACL,
        role: "PVEVMUser",
        action: "reboot {guest}",
        tools: &["pve_reboot_vm"],
        ..ROW
    },
    Endpoint {
        methods: One(Post),
        path: guest!("/status/suspend"),
        guests: VM,
        privileges: "VM.PowerMgmt",
        acl: VMS_ACL,
        role: "PVEVMUser",
        action: "suspend {guest}",
        tools: &["pve_suspend_vm"],
        ..ROW
    },
    Endpoint {
        methods: One(Post),
        path: guest!("/status/resume"),
        guests: VM,
        privileges: "VM.PowerMgmt",
        acl: VMS_ACL,
        role: "PVEVMUser",
        action: "resume {guest}",
        tools: &["pve_resume_vm"],
        ..ROW
    },
    Endpoint {
        methods: One(Post),
        path: guest!("/status/{action}"),
        guests: VM,
        privileges: "VM.PowerMgmt",
        acl: VMS_ACL,
        role: "PVEVMUser",
        action: "{action} {guest}",
        ..ROW
    },
    Endpoint {
        methods: One(Post),
        path: guest!("/snapshot"),
        guests: VM,
        privileges: "VM.Snapshot",
        acl: VMS_ACL,
        role: "PVEVMAdmin",
        action: "create a snapshot of {guest}",
        tools: &["pve_create_snapshot"],
        ..ROW
    },
    Endpoint {
        methods: One(Post),
        path: guest!("/snapshot/{snapname}/rollback"),
        guests: VM,
        privileges: "VM.Snapshot.Rollback or VM.Snapshot",
        acl: VMS_ACL,
        role: "PVEVMAdmin",
        action: "roll {guest} back to snapshot \"{snapname}\", losing changes since",
        tools: &["pve_rollback_snapshot"],
        ..ROW
    },
    Endpoint {
        methods: One(Delete),
        path: guest!("/snapshot/{snapname}"),
        guests: VM,
        privileges: "VM.Snapshot",
        acl: VMS_ACL,
        role: "PVEVMAdmin",
        action: "delete snapshot \"{snapname}\" of {guest}",
        tools: &["pve_delete_snapshot"],
        ..ROW
    },
    Endpoint {
        methods: Writes,
        path: guest!("/snapshot/**"),
        guests: VM,
        privileges: "VM.Snapshot",
        acl: VMS_ACL,
        role: "PVEVMAdmin",
        action: "change snapshots of {guest}",
        ..ROW
    },
    Endpoint {
        methods: One(Post),
        path: guest!("/migrate"),
        guests: VM,
        privileges: "VM.Migrate",
        acl: VMS_ACL,
        role: "PVEVMAdmin",
        action: "migrate {guest}",
        tools: &["pve_migrate_vm"],
        ..ROW
    },
    Endpoint {
        methods: One(Post),
        path: guest!("/clone"),
        guests: &[Ids("vmid"), Ids("newid")],
        privileges: "VM.Clone (and VM.Allocate on the new vmid)",
        acl: VMS_ACL,
        role: "PVEVMAdmin",
        action: "clone {guest}",
        tools: &["pve_clone_vm"],
        ..ROW
    },
    Endpoint {
        methods: One(Post),
        path: guest!("/{what:move_disk|move_volume}"),
        guests: &[Ids("vmid"), Ids("target-vmid")],
        privileges: "VM.Config.Disk (and on the target guest)",
        acl: VMS_ACL,
        role: "PVEVMAdmin",
        action: "move a disk of {guest}",
        ..ROW
    },
    Endpoint {
        methods: One(Post),
        path: guest!("/template"),
        guests: VM,
        privileges: "VM.Allocate",
        acl: VMS_ACL,
        role: "PVEVMAdmin",
        action: "turn {guest} into a template, irreversibly",
        ..ROW
    },
    Endpoint {
        methods: One(Delete),
        path: guest!(""),
        guests: VM,
        privileges: "VM.Allocate",
        acl: VMS_ACL,
        role: "PVEVMAdmin",
        action: "delete {guest} and its disks",
        tools: &["pve_delete_vm"],
        ..ROW
    },
    Endpoint {
        methods: One(Put),
        path: guest!("/resize"),
        guests: VM,
        privileges: "VM.Config.Disk",
        acl: VMS_ACL,
        role: "PVEVMAdmin",
        action: "grow a disk of {guest}",
        tools: &["pve_resize_disk"],
        ..ROW
    },
    Endpoint {
        methods: Writes,
        path: guest!("/config"),
        guests: VM,
        privileges: "VM.Config.* (the one for each changed option)",
        acl: VMS_ACL,
        role: "PVEVMAdmin",
        action: "change the configuration of {guest}",
        tools: &["pve_set_vm_config"],
        ..ROW
    },
    Endpoint {
        methods: One(Post),
        path: "/nodes/{node}/qemu/{vmid}/agent/exec",
        guests: VM,
        privileges: "VM.GuestAgent.Unrestricted",
        acl: VMS_ACL,
        role: "PVEVMAdmin",
        action: "run a command inside {guest}",
        secret_params: &["input-data"],
        tools: &["pve_vm_exec"],
        ..ROW
    },
    Endpoint {
        methods: One(Post),
        path: "/nodes/{node}/qemu/{vmid}/agent/**",
        guests: VM,
        privileges: "VM.GuestAgent.Unrestricted",
        acl: VMS_ACL,
        role: "PVEVMAdmin",
        action: "act through the guest agent of {guest}",
        secret_params: &["content"],
        ..ROW
    },
    Endpoint {
        methods: Writes,
        path: guest!("/firewall/**"),
        guests: VM,
        privileges: "VM.Config.Network",
        acl: VMS_ACL,
        role: "PVEVMAdmin",
        action: "change the firewall of {guest}",
        ..ROW
    },
    Endpoint {
        methods: One(Post),
        path: guest!("/{what:vncproxy|termproxy|spiceproxy|mtunnel|remote_migrate|monitor}"),
        guests: VM,
        privileges: "VM.Console",
        acl: VMS_ACL,
        role: "PVEVMAdmin",
        action: "open {what} on {guest}",
        secret_answer: &["ticket", "password"],
        ..ROW
    },
    Endpoint { methods: Writes, path: guest!("/**"), guests: VM, acl: VMS_ACL, action: "change {guest}", ..ROW },
    // ---- creating guests: an existing vmid (restore with force) is acted on
    Endpoint {
        methods: One(Post),
        path: "/nodes/{node}/qemu",
        guests: VM,
        privileges: "VM.Allocate (VM.Backup on an existing guest to restore over it)",
        acl: "/vms",
        role: "PVEVMAdmin",
        action: "create or restore a VM on {node}",
        tools: &["pve_create_qemu_vm", "pve_restore_backup"],
        ..ROW
    },
    Endpoint {
        methods: One(Post),
        path: "/nodes/{node}/lxc",
        guests: VM,
        privileges: "VM.Allocate (VM.Backup on an existing guest to restore over it)",
        acl: "/vms",
        role: "PVEVMAdmin",
        action: "create or restore a container on {node}",
        secret_params: &["ssh-public-keys"],
        tools: &["pve_create_lxc", "pve_restore_backup"],
        ..ROW
    },
    // ---- node-wide actions
    Endpoint {
        methods: One(Post),
        path: "/nodes/{node}/vzdump",
        guests: &[BackupSelection],
        privileges: "VM.Backup on the guest and Datastore.AllocateSpace on the storage",
        acl: "/vms/{vmid}",
        role: "PVEVMUser",
        action: "start a backup on {node}",
        tools: &["pve_backup_vm"],
        ..ROW
    },
    Endpoint {
        methods: One(Post),
        path: "/nodes/{node}/{what:startall|stopall|suspendall|migrateall}",
        guests: &[NodeUnless("vms")],
        privileges: "VM.PowerMgmt on / or on each guest",
        acl: "/",
        role: "PVEVMUser",
        action: "{what} on {node}",
        ..ROW
    },
    Endpoint {
        methods: One(Post),
        path: "/nodes/{node}/status",
        guests: &[Node],
        privileges: "Sys.PowerMgmt",
        acl: "/nodes/{node}",
        role: "PVEAdmin",
        action: "reboot or shut down node {node} and every guest on it",
        ..ROW
    },
    Endpoint {
        methods: One(Post),
        path: "/nodes/{node}/execute",
        guests: &[Batch("commands")],
        privileges: "root@pam only",
        acl: "/",
        role: "Administrator",
        action: "run a batch of API commands on {node}",
        ..ROW
    },
    Endpoint {
        methods: One(Post),
        path: "/nodes/{node}/{what:termproxy|vncshell|spiceshell}",
        guests: &[Unknowable("a node shell can act on any guest")],
        privileges: "Sys.Console",
        acl: "/nodes/{node}",
        role: "PVEAdmin",
        action: "open a shell on node {node}",
        secret_answer: &["ticket", "password"],
        ..ROW
    },
    Endpoint {
        methods: One(Delete),
        path: "/nodes/{node}/tasks/{upid}",
        guests: &[Upid("upid")],
        privileges: "Sys.Modify (unless the task is proxmcp's own)",
        acl: "/nodes/{node}",
        role: "PVEAdmin",
        action: "stop task {upid}",
        ..ROW
    },
    Endpoint {
        methods: One(Post),
        path: "/nodes/{node}/replication/{id}/schedule_now",
        guests: &[ReplicationId("id")],
        privileges: "VM.Replicate",
        acl: "/vms",
        role: "PVEVMAdmin",
        action: "run replication job {id} now",
        ..ROW
    },
    // ---- storage content: a guest's volumes are the guest's
    Endpoint {
        methods: One(Post),
        path: "/nodes/{node}/storage/{storage}/content",
        guests: VM,
        privileges: "Datastore.AllocateSpace",
        acl: "/storage/{storage}",
        role: "PVEDatastoreUser",
        action: "allocate a volume on {storage}",
        ..ROW
    },
    Endpoint {
        methods: Writes,
        path: "/nodes/{node}/storage/{storage}/content/{volume}",
        guests: &[Volume("volume"), Volume("target")],
        privileges: "Datastore.Allocate (or Datastore.AllocateSpace with VM.Backup for backups)",
        acl: "/storage/{storage}",
        role: "PVEDatastoreAdmin",
        action: "change or delete volume {volume}",
        ..ROW
    },
    Endpoint {
        methods: One(Delete),
        path: "/nodes/{node}/storage/{storage}/prunebackups",
        guests: &[AllUnless("vmid")],
        privileges: "Datastore.Allocate (or Datastore.AllocateSpace with VM.Backup for one guest)",
        acl: "/storage/{storage}",
        role: "PVEDatastoreAdmin",
        action: "prune backups on {storage}",
        ..ROW
    },
    Endpoint {
        methods: One(Post),
        path: "/nodes/{node}/storage/{storage}/download-url",
        privileges: "Datastore.AllocateTemplate",
        acl: "/storage/{storage}",
        role: "PVEDatastoreAdmin",
        action: "download a file to {storage}",
        ..ROW
    },
    Endpoint {
        methods: One(Post),
        path: "/nodes/{node}/storage/{storage}/{what:upload|oci-registry-pull}",
        privileges: "Datastore.AllocateTemplate",
        acl: "/storage/{storage}",
        role: "PVEDatastoreAdmin",
        action: "add a file to {storage}",
        secret_params: &["password"],
        ..ROW
    },
    // ---- node disks and Ceph: destroying storage can destroy any guest's disks
    Endpoint {
        methods: Writes,
        path: "/nodes/{node}/disks/wipedisk",
        guests: &[Unknowable("a wiped disk may hold any guest's volumes")],
        privileges: "Sys.Modify",
        acl: "/",
        role: "PVEAdmin",
        action: "wipe a disk of {node}",
        ..ROW
    },
    Endpoint {
        methods: One(Delete),
        path: "/nodes/{node}/disks/{kind}/{name}",
        guests: &[Unknowable("a removed storage may hold any guest's volumes")],
        privileges: "Sys.Modify",
        acl: "/",
        role: "PVEAdmin",
        action: "destroy {kind} storage {name} on {node}",
        ..ROW
    },
    Endpoint {
        methods: One(Delete),
        path: "/nodes/{node}/ceph/{what:pool|fs|osd}/{name}",
        guests: &[Unknowable("a removed Ceph pool, file system or OSD may hold any guest's volumes")],
        privileges: "Sys.Modify",
        acl: "/",
        role: "PVEAdmin",
        action: "destroy Ceph {what} {name}",
        ..ROW
    },
    Endpoint {
        methods: Writes,
        path: "/nodes/{node}/{area:disks|ceph|apt|certificates|network|firewall|services|aplinfo|config|dns|hosts|time|subscription|wakeonlan}/**",
        privileges: "Sys.Modify",
        acl: "/nodes/{node}",
        role: "PVEAdmin",
        action: "change {area} of node {node}",
        secret_params: &["key", "password"],
        ..ROW
    },
    // ---- cluster-wide actions on guests
    Endpoint {
        methods: One(Post),
        path: "/cluster/bulk-action/guest/{action}",
        guests: &[AllUnless("vms")],
        privileges: "VM.PowerMgmt on / or on each guest",
        acl: "/",
        role: "PVEVMUser",
        action: "{action} guests in bulk",
        ..ROW
    },
    Endpoint {
        methods: One(Post),
        path: "/cluster/backup",
        guests: &[BackupSelection],
        privileges: "Sys.Modify",
        role: "PVEAdmin",
        action: "create a backup job",
        ..ROW
    },
    Endpoint {
        methods: Writes,
        path: "/cluster/backup/{id}",
        guests: &[BackupJob],
        privileges: "Sys.Modify",
        role: "PVEAdmin",
        action: "change or delete backup job {id}",
        ..ROW
    },
    Endpoint {
        methods: One(Post),
        path: "/cluster/ha/resources",
        guests: &[HaSid("sid")],
        privileges: "Sys.Console",
        role: "PVEAdmin",
        action: "put a guest under HA",
        ..ROW
    },
    Endpoint {
        methods: Writes,
        path: "/cluster/ha/resources/{sid}/**",
        guests: &[HaSid("sid")],
        privileges: "Sys.Console",
        role: "PVEAdmin",
        action: "change, move or remove HA resource {sid}",
        ..ROW
    },
    Endpoint {
        methods: One(Post),
        path: "/cluster/ha/rules",
        guests: &[HaSid("resources")],
        privileges: "Sys.Console",
        role: "PVEAdmin",
        action: "create an HA rule",
        ..ROW
    },
    Endpoint {
        methods: Writes,
        path: "/cluster/ha/rules/{rule}",
        guests: &[Unknowable("an HA rule's current guests are not read before changing it")],
        privileges: "Sys.Console",
        role: "PVEAdmin",
        action: "change or delete HA rule {rule}",
        ..ROW
    },
    Endpoint {
        methods: Writes,
        path: "/cluster/ha/**",
        privileges: "Sys.Console",
        role: "PVEAdmin",
        action: "change the HA configuration",
        ..ROW
    },
    Endpoint {
        methods: Writes,
        path: "/cluster/replication",
        guests: &[ReplicationId("id")],
        privileges: "VM.Replicate",
        acl: "/vms",
        role: "PVEVMAdmin",
        action: "create a replication job",
        ..ROW
    },
    Endpoint {
        methods: Writes,
        path: "/cluster/replication/{id}",
        guests: &[ReplicationId("id")],
        privileges: "VM.Replicate",
        acl: "/vms",
        role: "PVEVMAdmin",
        action: "change or delete replication job {id}",
        ..ROW
    },
    Endpoint {
        methods: Writes,
        path: "/cluster/sdn/vnets/{vnet}/ips",
        guests: VM,
        privileges: "SDN.Allocate",
        acl: "/sdn/zones",
        role: "PVESDNAdmin",
        action: "change IP mappings of vnet {vnet}",
        ..ROW
    },
    Endpoint {
        methods: Writes,
        path: "/cluster/acme/**",
        privileges: "Sys.Modify",
        role: "PVEAdmin",
        action: "change the ACME configuration",
        secret_params: &["data", "eab-kid"],
        secret_answer: &["data"],
        ..ROW
    },
    Endpoint {
        methods: Writes,
        path: "/cluster/{area:ceph|config|firewall|jobs|mapping|metrics|notifications|qemu|sdn}/**",
        privileges: "Sys.Modify",
        role: "PVEAdmin",
        action: "change the cluster's {area} configuration",
        secret_params: &["token", "key"],
        ..ROW
    },
    Endpoint {
        methods: Writes,
        path: "/cluster/{area:options}",
        privileges: "Sys.Modify",
        role: "PVEAdmin",
        action: "change the cluster's {area} configuration",
        ..ROW
    },
    // ---- pools, storage definitions, users and permissions
    Endpoint {
        methods: One(Put),
        path: "/pools/{poolid}",
        guests: &[Ids("vms")],
        privileges: "Pool.Allocate",
        acl: "/pool/{poolid}",
        role: "PVEPoolAdmin",
        action: "change pool {poolid}",
        ..ROW
    },
    Endpoint {
        methods: One(Put),
        path: "/pools",
        guests: &[Ids("vms")],
        privileges: "Pool.Allocate",
        acl: "/pool",
        role: "PVEPoolAdmin",
        action: "change a pool",
        ..ROW
    },
    Endpoint {
        methods: Writes,
        path: "/pools/**",
        privileges: "Pool.Allocate",
        acl: "/pool",
        role: "PVEPoolAdmin",
        action: "create or delete a pool (only empty pools can be deleted)",
        ..ROW
    },
    Endpoint {
        methods: Writes,
        path: "/storage/**",
        privileges: "Datastore.Allocate",
        acl: "/storage",
        role: "PVEDatastoreAdmin",
        action: "change the storage configuration",
        secret_params: &["key", "master-pubkey"],
        ..ROW
    },
    Endpoint {
        methods: One(Post),
        path: "/access/ticket",
        action: "log in",
        secret_answer: &["ticket", "CSRFPreventionToken"],
        ..ROW
    },
    Endpoint {
        methods: One(Post),
        path: "/access/users/{userid}/token/{tokenid}",
        privileges: "User.Modify",
        acl: "/access/users/{userid}",
        role: "PVEUserAdmin",
        action: "create API token {tokenid} of {userid}",
        secret_answer: &["value"],
        ..ROW
    },
    Endpoint {
        methods: One(Put),
        path: "/access/acl",
        privileges: "Permissions.Modify",
        role: "PVEAdmin",
        action: "change permissions",
        ..ROW
    },
    Endpoint {
        methods: Writes,
        path: "/access/**",
        privileges: "User.Modify or Permissions.Modify",
        acl: "/access",
        role: "PVEUserAdmin",
        action: "change users, groups, realms or roles",
        secret_params: &["value", "key"],
        secret_answer: &["value", "recovery", "ticket"],
        ..ROW
    },
];
