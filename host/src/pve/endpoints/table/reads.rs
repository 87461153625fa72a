//! Reads: only their privileges matter (the 403 hint).

use super::super::Methods::One;
use super::super::{Endpoint, ROW};
use crate::pve::Method::Get;

use super::VMS_ACL;

pub(super) static ROWS: &[Endpoint] = &[
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
];
