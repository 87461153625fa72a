//! Users, tokens, roles and ACLs, and what the caller may do: each token
//! or user holds roles on paths, a role on a path reaches the paths below
//! it (propagate), and a write passes only when the caller holds the
//! privilege the simulator's endpoint needs on its path. Built-in roles
//! are the simulator's own rendering of PVE's.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;

use serde_json::{Value, json};

use super::*;
use crate::sim::params::{Ty, first, opt, req};

pub(super) static ROUTES: &[Route] = &[
    ("GET", "/access/permissions", "The caller's effective privileges on each path it has roles on.", permissions),
    ("GET", "/access/roles", "Roles with their privileges; built-in ones are special.", roles),
    ("GET", "/access/acl", "The access control list.", acl),
    ("PUT", "/access/acl", "Grant (or with delete, revoke) roles on a path.", set_acl),
    ("GET", "/access/users", "Users (full: with their API tokens, never secrets).", users),
    ("GET", "/access/groups", "Groups with their members.", groups),
    ("GET", "/nodes/{node}/time", "The node's clock and time zone.", time),
];

const VM_USER: &[&str] =
    &["VM.Audit", "VM.Backup", "VM.Config.CDROM", "VM.Config.Cloudinit", "VM.Console", "VM.PowerMgmt", "Pool.Audit"];
const VM_ADMIN: &[&str] = &[
    "VM.Allocate",
    "VM.Audit",
    "VM.Backup",
    "VM.Clone",
    "VM.Config.CDROM",
    "VM.Config.CPU",
    "VM.Config.Cloudinit",
    "VM.Config.Disk",
    "VM.Config.HWType",
    "VM.Config.Memory",
    "VM.Config.Network",
    "VM.Config.Options",
    "VM.Console",
    "VM.GuestAgent.Audit",
    "VM.GuestAgent.Unrestricted",
    "VM.Migrate",
    "VM.PowerMgmt",
    "VM.Replicate",
    "VM.Snapshot",
    "VM.Snapshot.Rollback",
    "Datastore.AllocateSpace",
    "Datastore.Audit",
    "Pool.Audit",
];
const AUDITOR: &[&str] =
    &["Datastore.Audit", "Mapping.Audit", "Pool.Audit", "SDN.Audit", "Sys.Audit", "VM.Audit", "VM.GuestAgent.Audit"];
const SYS_ADMIN: &[&str] =
    &["Sys.AccessNetwork", "Sys.Audit", "Sys.Console", "Sys.Incoming", "Sys.Modify", "Sys.PowerMgmt", "Sys.Syslog"];
const OTHER: &[&str] = &[
    "Datastore.Allocate",
    "Datastore.AllocateTemplate",
    "Group.Allocate",
    "Mapping.Modify",
    "Mapping.Use",
    "Pool.Allocate",
    "Realm.AllocateUser",
    "SDN.Allocate",
    "SDN.Use",
    "User.Modify",
];

/// The built-in roles: name and privileges (built once; every write checks
/// against them).
static BUILTIN_ROLES: LazyLock<Vec<(&'static str, Vec<&'static str>)>> = LazyLock::new(|| {
    let all: Vec<&str> = [VM_ADMIN, AUDITOR, SYS_ADMIN, OTHER]
        .concat()
        .into_iter()
        .chain(["Permissions.Modify", "Realm.Allocate"])
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let admin: Vec<&str> = all
        .iter()
        .copied()
        .filter(|p| !matches!(*p, "Sys.PowerMgmt" | "Sys.Modify" | "Realm.Allocate" | "Permissions.Modify"))
        .collect();
    vec![
        ("Administrator", all),
        ("NoAccess", vec![]),
        ("PVEAdmin", admin),
        ("PVEAuditor", AUDITOR.to_vec()),
        (
            "PVEDatastoreAdmin",
            vec!["Datastore.Allocate", "Datastore.AllocateSpace", "Datastore.AllocateTemplate", "Datastore.Audit"],
        ),
        ("PVEDatastoreUser", vec!["Datastore.AllocateSpace", "Datastore.Audit"]),
        ("PVEPoolAdmin", vec!["Pool.Allocate", "Pool.Audit"]),
        ("PVEPoolUser", vec!["Pool.Audit"]),
        ("PVESDNAdmin", vec!["SDN.Allocate", "SDN.Audit", "SDN.Use"]),
        ("PVESysAdmin", SYS_ADMIN.to_vec()),
        ("PVETemplateUser", vec!["VM.Audit", "VM.Clone"]),
        ("PVEUserAdmin", vec!["Group.Allocate", "Realm.AllocateUser", "User.Modify"]),
        ("PVEVMAdmin", VM_ADMIN.to_vec()),
        ("PVEVMUser", VM_USER.to_vec()),
    ]
});

/// Whether `path` is `base` or below it.
fn under(path: &str, base: &str) -> bool {
    base == "/" || path == base || path.starts_with(&format!("{base}/"))
}

/// The caller's privileges on `path`: its roles there and on the paths
/// above it that propagate.
pub(super) fn privileges_at(c: &Cluster, caller: &Caller, path: &str) -> BTreeSet<&'static str> {
    let roles: &[(&str, Vec<&str>)] = &BUILTIN_ROLES;
    c.acl
        .iter()
        .filter(|e| e.ugid == caller.auth_id && (e.path == path || (e.propagate && under(path, &e.path))))
        .filter_map(|e| roles.iter().find(|(r, _)| *r == e.roleid))
        .flat_map(|(_, privs)| privs.iter().copied())
        .collect()
}

/// Whether the caller holds `privilege` on `path`.
pub(super) fn holds(c: &Cluster, caller: &Caller, privilege: &str, path: &str) -> bool {
    privileges_at(c, caller, path).contains(privilege)
}

fn permissions(x: &mut Ctx<'_>) -> R {
    check(x.params, &[opt("path", Ty::Str), opt("userid", Ty::Str)])?;
    let mut paths: BTreeSet<String> =
        x.c.acl.iter().filter(|e| e.ugid == x.caller.auth_id).map(|e| e.path.clone()).collect();
    if let Some(p) = first(x.params, "path") {
        paths = BTreeSet::from([p.to_string()]);
    }
    let out: BTreeMap<String, Value> = paths
        .into_iter()
        .map(|p| {
            let privs: BTreeMap<&str, u8> = privileges_at(x.c, x.caller, &p).into_iter().map(|n| (n, 1)).collect();
            (p, json!(privs))
        })
        .collect();
    Ok(json!(out).into())
}

fn roles(x: &mut Ctx<'_>) -> R {
    check(x.params, &[])?;
    let list: Vec<Value> =
        BUILTIN_ROLES.iter().map(|(r, privs)| json!({"roleid": r, "privs": privs.join(","), "special": 1})).collect();
    Ok(json!(list).into())
}

fn acl(x: &mut Ctx<'_>) -> R {
    check(x.params, &[])?;
    let list: Vec<Value> = x
        .c
        .acl
        .iter()
        .map(|e| json!({"path": e.path, "type": e.kind, "ugid": e.ugid, "roleid": e.roleid, "propagate": u8::from(e.propagate)}))
        .collect();
    Ok(json!(list).into())
}

fn set_acl(x: &mut Ctx<'_>) -> R {
    check(
        x.params,
        &[
            req("path", Ty::Str),
            req("roles", Ty::Str),
            opt("users", Ty::Str),
            opt("groups", Ty::Str),
            opt("tokens", Ty::Str),
            opt("propagate", Ty::Bool),
            opt("delete", Ty::Bool),
        ],
    )?;
    let path = first(x.params, "path").unwrap_or_default().to_string();
    if !path.starts_with('/') {
        return Err(bad_param("path", format!("invalid ACL path '{path}'")));
    }
    let known: &[(&str, Vec<&str>)] = &BUILTIN_ROLES;
    let list = |k: &str| -> Vec<String> {
        first(x.params, k)
            .unwrap_or_default()
            .split([',', ';', ' '])
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    };
    let roles = list("roles");
    if let Some(r) = roles.iter().find(|r| !known.iter().any(|(k, _)| k == r)) {
        return Err(fail(500, format!("role '{r}' does not exist")));
    }
    let propagate = first(x.params, "propagate").is_none_or(|p| p == "1" || p == "true");
    let delete = first(x.params, "delete").is_some_and(|p| p == "1" || p == "true");
    for (kind, ugids) in [("user", list("users")), ("group", list("groups")), ("token", list("tokens"))] {
        for ugid in ugids {
            for roleid in &roles {
                x.c.acl.retain(|e| !(e.path == path && e.ugid == ugid && e.roleid == *roleid));
                if !delete {
                    x.c.acl.push(crate::sim::state::AclEntry {
                        path: path.clone(),
                        kind,
                        ugid: ugid.clone(),
                        roleid: roleid.clone(),
                        propagate,
                    });
                }
            }
        }
    }
    Ok(Value::Null.into())
}

fn users(x: &mut Ctx<'_>) -> R {
    check(x.params, &[opt("enabled", Ty::Bool), opt("full", Ty::Bool)])?;
    let full = first(x.params, "full").is_some_and(|f| f == "1" || f == "true");
    let mut users: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for e in x.c.acl.iter().filter(|e| e.kind != "group") {
        let (user, token) = e.ugid.split_once('!').map_or((e.ugid.as_str(), None), |(u, t)| (u, Some(t)));
        let tokens = users.entry(user.to_string()).or_default();
        if let Some(t) = token.filter(|t| !tokens.iter().any(|v| v["tokenid"] == *t)) {
            tokens.push(json!({"tokenid": t, "privsep": 1, "expire": 0}));
        }
    }
    let list: Vec<Value> = users
        .into_iter()
        .map(|(userid, tokens)| {
            let realm = userid.rsplit('@').next().unwrap_or_default().to_string();
            let mut v = json!({"userid": userid, "enable": 1, "expire": 0, "realm-type": realm});
            if full {
                v["tokens"] = json!(tokens);
            }
            v
        })
        .collect();
    Ok(json!(list).into())
}

fn groups(x: &mut Ctx<'_>) -> R {
    check(x.params, &[])?;
    let list: Vec<Value> =
        x.c.acl
            .iter()
            .filter(|e| e.kind == "group")
            .map(|e| e.ugid.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .map(|g| json!({"groupid": g}))
            .collect();
    Ok(json!(list).into())
}

fn time(x: &mut Ctx<'_>) -> R {
    check(x.params, &[])?;
    let now = crate::sim::state::now();
    Ok(json!({"time": now, "localtime": now, "timezone": "UTC"}).into())
}
