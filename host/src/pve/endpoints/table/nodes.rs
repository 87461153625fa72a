//! Node-wide actions, storage content (a guest's volumes are the
//! guest's) and node disks and Ceph.

use super::super::Methods::{One, Writes};
use super::super::Touch::*;
use super::super::{Endpoint, ROW};
use crate::pve::Method::{Delete, Post};

use super::{FIREWALL_WRITES, VM};

pub(super) static ROWS: &[Endpoint] = &[
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
        tools: &["pve_run_replication_now"],
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
        tools: &["pve_delete_volume"],
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
        tools: &["pve_download_to_storage"],
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
    Endpoint {
        methods: One(Post),
        path: "/nodes/{node}/aplinfo",
        privileges: "Datastore.AllocateTemplate on the target storage",
        acl: "/storage",
        role: "PVEDatastoreAdmin",
        action: "download an appliance template on {node}",
        tools: &["pve_download_appliance_template"],
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
        path: "/nodes/{node}/firewall/**",
        privileges: "Sys.Modify",
        acl: "/nodes/{node}",
        role: "PVEAdmin",
        action: "change the firewall of node {node}",
        tools: FIREWALL_WRITES,
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
];
