//! Which privilege an endpoint needs, from the official schema's
//! `permissions` for the endpoints proxmcp's tools use, so a 403 can say
//! exactly what to grant and which built-in role has it.

use super::Method;

/// What an endpoint requires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    /// The ACL path, e.g. `/vms/100`.
    pub acl_path: String,
    /// The privilege(s), e.g. `VM.PowerMgmt`.
    pub privileges: &'static str,
    /// A built-in role that grants it.
    pub role: &'static str,
}

fn req(acl_path: impl Into<String>, privileges: &'static str, role: &'static str) -> Option<Requirement> {
    Some(Requirement { acl_path: acl_path.into(), privileges, role })
}

/// The requirement of `method` on `segs`, where known.
pub fn required<S: AsRef<str>>(method: Method, segs: &[S]) -> Option<Requirement> {
    use Method::{Delete, Get, Post, Put};
    let s: Vec<&str> = segs.iter().map(AsRef::as_ref).collect();
    match (method, s.as_slice()) {
        (Get, ["cluster", "status" | "backup" | "ha" | "firewall", ..]) => req("/", "Sys.Audit", "PVEAuditor"),
        (Post, ["cluster", "backup"]) => req("/", "Sys.Modify", "PVEAdmin"),
        (Post | Delete, ["cluster", "ha", ..]) => req("/", "Sys.Console", "PVEAdmin"),
        (Get, ["nodes", node, "status" | "rrddata"]) => req(format!("/nodes/{node}"), "Sys.Audit", "PVEAuditor"),
        (Get, ["nodes", _, "storage", storage, "status" | "content"]) => {
            req(format!("/storage/{storage}"), "Datastore.Audit or Datastore.AllocateSpace", "PVEAuditor")
        }
        (Post, ["nodes", _, "storage", storage, "download-url"]) => {
            req(format!("/storage/{storage}"), "Datastore.AllocateTemplate", "PVEDatastoreAdmin")
        }
        (Post, ["nodes", _, "vzdump"]) => {
            req("/vms/{vmid}", "VM.Backup on the guest and Datastore.AllocateSpace on the storage", "PVEVMUser")
        }
        (Post, ["nodes", _, "qemu" | "lxc"]) => req("/vms/{vmid}", "VM.Allocate", "PVEVMAdmin"),
        (Delete, ["nodes", _, "qemu" | "lxc", vmid]) | (Post, ["nodes", _, "qemu" | "lxc", vmid, "template"]) => {
            req(format!("/vms/{vmid}"), "VM.Allocate", "PVEVMAdmin")
        }
        (Get, ["nodes", _, "qemu" | "lxc", vmid, "agent", ..]) | (Post, ["nodes", _, "qemu", vmid, "agent", ..]) => {
            let privilege = if s.contains(&"exec") || s.contains(&"exec-status") {
                "VM.GuestAgent.Unrestricted"
            } else {
                "VM.GuestAgent.Audit or VM.GuestAgent.Unrestricted"
            };
            req(format!("/vms/{vmid}"), privilege, "PVEVMAdmin")
        }
        (Get, ["nodes", _, "qemu" | "lxc", vmid, "migrate"])
        | (Post, ["nodes", _, "qemu" | "lxc", vmid, "migrate"]) => {
            req(format!("/vms/{vmid}"), "VM.Migrate", "PVEVMAdmin")
        }
        (Get, ["nodes", _, "qemu" | "lxc", vmid, ..]) => req(format!("/vms/{vmid}"), "VM.Audit", "PVEAuditor"),
        (Post, ["nodes", _, "qemu" | "lxc", vmid, "status", _]) => {
            req(format!("/vms/{vmid}"), "VM.PowerMgmt", "PVEVMUser")
        }
        (Post | Put, ["nodes", _, "qemu" | "lxc", vmid, "config"]) => {
            req(format!("/vms/{vmid}"), "VM.Config.* (the one for each changed option)", "PVEVMAdmin")
        }
        (Post | Put, ["nodes", _, "qemu" | "lxc", vmid, "firewall", ..]) => {
            req(format!("/vms/{vmid}"), "VM.Config.Network", "PVEVMAdmin")
        }
        (Post, ["nodes", _, "qemu" | "lxc", vmid, "snapshot", _, "rollback"]) => {
            req(format!("/vms/{vmid}"), "VM.Snapshot.Rollback or VM.Snapshot", "PVEVMAdmin")
        }
        (Post | Delete, ["nodes", _, "qemu" | "lxc", vmid, "snapshot", ..]) => {
            req(format!("/vms/{vmid}"), "VM.Snapshot", "PVEVMAdmin")
        }
        (Post, ["nodes", _, "qemu" | "lxc", vmid, "clone"]) => {
            req(format!("/vms/{vmid}"), "VM.Clone (and VM.Allocate on the new vmid)", "PVEVMAdmin")
        }
        (Put, ["nodes", _, "qemu" | "lxc", vmid, "resize"]) => {
            req(format!("/vms/{vmid}"), "VM.Config.Disk", "PVEVMAdmin")
        }
        (Get, ["pools", poolid]) => req(format!("/pool/{poolid}"), "Pool.Audit", "PVEPoolUser"),
        (Post | Put, ["pools"]) => req("/pool/{poolid}", "Pool.Allocate", "PVEPoolAdmin"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn power_actions_need_power_management_on_the_guest() {
        let r = required(Method::Post, &["nodes", "pve1", "qemu", "100", "status", "stop"]).unwrap();
        assert_eq!((r.acl_path.as_str(), r.privileges, r.role), ("/vms/100", "VM.PowerMgmt", "PVEVMUser"));
    }

    #[test]
    fn reads_of_guest_details_need_vm_audit() {
        let r = required(Method::Get, &["nodes", "pve1", "lxc", "200", "config"]).unwrap();
        assert_eq!((r.privileges, r.role), ("VM.Audit", "PVEAuditor"));
        let r = required(Method::Get, &["nodes", "pve1", "status"]).unwrap();
        assert_eq!((r.acl_path.as_str(), r.privileges), ("/nodes/pve1", "Sys.Audit"));
    }

    #[test]
    fn open_endpoints_have_no_requirement() {
        assert!(required(Method::Get, &["version"]).is_none());
        assert!(required(Method::Get, &["cluster", "resources"]).is_none());
    }
}
