//! What the credentials in use may do, in Proxmox's terms: their effective
//! privileges on each ACL path (`GET /access/permissions`), the roles that
//! bundle privileges (`GET /access/roles`), and whether a privilege is held
//! on every object under a path, on some of them, or on none.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::{ApiError, Method, PveClient};

/// The caller's effective privileges by ACL path, as Proxmox computes them
/// (inherited privileges included).
#[derive(Debug, Clone, Default)]
pub struct Holdings {
    paths: BTreeMap<String, BTreeSet<String>>,
}

/// Where a privilege is held, relative to an ACL path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Coverage {
    /// On the path or above it: every object under it.
    Everywhere,
    /// Only on these paths below it (or, for guests, these pools).
    Some(Vec<String>),
    /// Nowhere.
    Nowhere,
}

/// `base` is `path` or above it.
fn above(base: &str, path: &str) -> bool {
    base == "/" || path == base || path.starts_with(&format!("{base}/"))
}

/// The ACL path a template stands for as a whole: up to its first
/// `{variable}` (`/vms/{vmid}` → `/vms`).
pub fn generic(template: &str) -> String {
    let fixed: Vec<&str> = template.split('/').take_while(|s| !s.starts_with('{')).collect();
    match fixed.join("/") {
        s if s.is_empty() => "/".into(),
        s => s,
    }
}

impl Holdings {
    /// Reads the caller's own privileges.
    pub async fn fetch(client: &PveClient) -> Result<Holdings, ApiError> {
        Ok(Holdings::from_answer(&client.request(Method::Get, &["access", "permissions"], &Value::Null).await?))
    }

    /// From `GET /access/permissions`' answer: path → {privilege: 1}.
    pub fn from_answer(v: &Value) -> Holdings {
        let paths = v
            .as_object()
            .into_iter()
            .flatten()
            .map(|(path, privs)| {
                let held = privs
                    .as_object()
                    .into_iter()
                    .flatten()
                    .filter(|(_, on)| on.as_u64() != Some(0) && on.as_bool() != Some(false))
                    .map(|(p, _)| p.clone())
                    .collect();
                (path.clone(), held)
            })
            .collect();
        Holdings { paths }
    }

    fn has(privs: &BTreeSet<String>, any_of: &[&str]) -> bool {
        any_of.iter().any(|want| match want.strip_suffix('*') {
            Some(prefix) => privs.iter().any(|p| p.starts_with(prefix)),
            None => privs.contains(*want),
        })
    }

    /// Where one of `any_of` is held for the ACL template `template`
    /// (`/vms/{vmid}`: on all guests, some, or none). A guest's privileges
    /// may also come from a pool it is in.
    pub fn coverage(&self, any_of: &[&str], template: &str) -> Coverage {
        let base = generic(template);
        let holding = |(path, privs): &(&String, &BTreeSet<String>)| Self::has(privs, any_of) && !path.is_empty();
        if self.paths.iter().filter(holding).any(|(p, _)| above(p, &base)) {
            return Coverage::Everywhere;
        }
        let some: Vec<String> = self
            .paths
            .iter()
            .filter(holding)
            .filter(|(p, _)| above(&base, p) || (base == "/vms" && p.starts_with("/pool/")))
            .map(|(p, _)| p.to_string())
            .collect();
        if some.is_empty() { Coverage::Nowhere } else { Coverage::Some(some) }
    }
}

/// Proxmox's roles: name, privileges, and whether it is built in.
#[derive(Debug, Clone, Default)]
pub struct Roles(Vec<(String, BTreeSet<String>, bool)>);

impl Roles {
    /// Reads the cluster's roles.
    pub async fn fetch(client: &PveClient) -> Result<Roles, ApiError> {
        Ok(Roles::from_answer(&client.request(Method::Get, &["access", "roles"], &Value::Null).await?))
    }

    /// From `GET /access/roles`' answer.
    pub fn from_answer(v: &Value) -> Roles {
        let roles = v
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| {
                let name = r["roleid"].as_str()?.to_string();
                let privs = r["privs"].as_str().unwrap_or("").split(',').filter(|p| !p.is_empty()).map(str::to_string);
                let special = r["special"].as_u64() == Some(1) || r["special"].as_bool() == Some(true);
                Some((name, privs.collect(), special))
            })
            .collect();
        Roles(roles)
    }

    /// The built-in role with the fewest privileges that holds, for each
    /// group, one of its alternatives (`["VM.Snapshot.Rollback",
    /// "VM.Snapshot"]`); `Administrator` never wins over a smaller one.
    pub fn smallest_covering(&self, needs: &[Vec<&str>]) -> Option<&str> {
        self.0
            .iter()
            .filter(|(_, privs, special)| *special && needs.iter().all(|any_of| Holdings::has(privs, any_of)))
            .min_by_key(|(name, privs, _)| (privs.len(), name.clone()))
            .map(|(name, _, _)| name.as_str())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_privilege_is_held_everywhere_on_some_objects_or_nowhere() {
        let h = Holdings::from_answer(&json!({
            "/": {"Sys.Audit": 1, "VM.Audit": 1},
            "/vms/100": {"VM.Audit": 1, "VM.PowerMgmt": 1},
            "/pool/dev": {"VM.Snapshot": 1},
            "/storage/local": {"Datastore.Audit": 1}
        }));
        assert_eq!(h.coverage(&["VM.Audit"], "/vms/{vmid}"), Coverage::Everywhere);
        assert_eq!(h.coverage(&["Sys.Audit"], "/nodes/{node}"), Coverage::Everywhere);
        assert_eq!(h.coverage(&["VM.PowerMgmt"], "/vms/{vmid}"), Coverage::Some(vec!["/vms/100".into()]));
        assert_eq!(h.coverage(&["VM.Snapshot"], "/vms/{vmid}"), Coverage::Some(vec!["/pool/dev".into()]));
        assert_eq!(
            h.coverage(&["Datastore.Audit"], "/storage/{storage}"),
            Coverage::Some(vec!["/storage/local".into()])
        );
        assert_eq!(h.coverage(&["Sys.Modify"], "/"), Coverage::Nowhere);
        assert_eq!(h.coverage(&["VM.Config.*"], "/vms/{vmid}"), Coverage::Nowhere);
        assert_eq!(generic("/vms/{vmid}"), "/vms");
        assert_eq!(generic("/"), "/");
        assert_eq!(generic("/access"), "/access");
    }

    #[test]
    fn the_smallest_built_in_role_covering_the_needs_is_chosen() {
        let roles = Roles::from_answer(&json!([
            {"roleid": "Administrator", "privs": "VM.PowerMgmt,VM.Audit,Sys.Modify,VM.Snapshot", "special": 1},
            {"roleid": "PVEVMUser", "privs": "VM.PowerMgmt,VM.Audit", "special": 1},
            {"roleid": "Mine", "privs": "VM.PowerMgmt", "special": 0},
            {"roleid": "PVEAuditor", "privs": "VM.Audit", "special": 1}
        ]));
        assert_eq!(roles.smallest_covering(&[vec!["VM.PowerMgmt"]]), Some("PVEVMUser"));
        assert_eq!(roles.smallest_covering(&[vec!["VM.PowerMgmt"], vec!["VM.Snapshot"]]), Some("Administrator"));
        assert_eq!(roles.smallest_covering(&[vec!["VM.Snapshot.Rollback", "VM.Snapshot"]]), Some("Administrator"));
        assert_eq!(roles.smallest_covering(&[vec!["Nope.Nothing"]]), None);
    }
}
