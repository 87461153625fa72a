//! A guest's own endpoints, and creating guests (a restore or create
//! with an existing vmid acts on that guest).

use super::super::Methods::{One, Writes};
use super::super::Touch::*;
use super::super::{Endpoint, ROW};
use crate::pve::Method::{Delete, Post, Put};

use super::{FIREWALL_WRITES, VM, VMS_ACL};

pub(super) static ROWS: &[Endpoint] = &[
    // ---- a guest's own endpoints
    Endpoint {
        methods: One(Post),
        path: guest!("/status/start"),
        guests: VM,
        privileges: "VM.PowerMgmt",
        acl: VMS_ACL,
        role: "PVEVMUser",
        action: "start {guest}",
        tools: &["pve_start_vm", "pve_clone_vm"],
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
        tools: &["pve_migrate_vm", "pve_evacuate_node"],
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
        tools: &["pve_move_disk"],
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
        tools: &["pve_convert_to_template"],
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
        tools: &["pve_set_vm_config", "pve_clone_vm"],
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
        tools: FIREWALL_WRITES,
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
];
