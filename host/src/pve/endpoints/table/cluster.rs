//! Cluster-wide actions on guests, HA, replication, backup jobs, pools,
//! storage definitions, users and permissions.

use super::super::Methods::{One, Writes};
use super::super::Touch::*;
use super::super::{Endpoint, ROW};
use crate::pve::Method::{Post, Put};

use super::{FIREWALL_WRITES, VM};

pub(super) static ROWS: &[Endpoint] = &[
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
        tools: &["pve_create_backup_job"],
        ..ROW
    },
    Endpoint {
        methods: Writes,
        path: "/cluster/backup/{id}",
        guests: &[BackupJob],
        privileges: "Sys.Modify",
        role: "PVEAdmin",
        action: "change or delete backup job {id}",
        tools: &["pve_update_backup_job", "pve_delete_backup_job"],
        ..ROW
    },
    Endpoint {
        methods: One(Post),
        path: "/cluster/ha/resources",
        guests: &[HaSid("sid")],
        privileges: "Sys.Console",
        role: "PVEAdmin",
        action: "put a guest under HA",
        tools: &["pve_add_ha_resource"],
        ..ROW
    },
    Endpoint {
        methods: Writes,
        path: "/cluster/ha/resources/{sid}/**",
        guests: &[HaSid("sid")],
        privileges: "Sys.Console",
        role: "PVEAdmin",
        action: "change, move or remove HA resource {sid}",
        tools: &["pve_update_ha_resource", "pve_remove_ha_resource"],
        ..ROW
    },
    Endpoint {
        methods: One(Post),
        path: "/cluster/ha/rules",
        guests: &[HaSid("resources")],
        privileges: "Sys.Console",
        role: "PVEAdmin",
        action: "create an HA rule",
        tools: &["pve_add_ha_resource"],
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
        tools: &["pve_create_replication_job"],
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
        tools: &["pve_delete_replication_job"],
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
        path: "/cluster/firewall/**",
        privileges: "Sys.Modify",
        role: "PVEAdmin",
        action: "change the cluster's firewall",
        tools: FIREWALL_WRITES,
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
