//! Who may do what on the cluster: users with their API tokens (never a
//! secret), groups, the roles in use with their privileges, and the ACL,
//! filtered by user or path.

use std::collections::BTreeSet;

use proxmcp_firewall_ha_common::{flag, items, text, uint};
use proxmcp_sdk::{Answer, Router, ToolError, pve};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The requests this file's tools send.
pub const GRANTS: &[&str] = &["GET /access/users", "GET /access/groups", "GET /access/roles", "GET /access/acl"];

pub fn router() -> Router {
    Router::new().read(
        "pve_list_access",
        "List access",
        "Users with their API tokens (no secrets), groups, ACL entries and the roles they grant; filter by user or path.",
        list,
    )
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Args {
    /// A user (mcp@pve) or token (mcp@pve!proxmcp): its entries and groups.
    user: Option<String>,
    /// An ACL path (/vms/100): the entries that apply to it.
    path: Option<String>,
}

#[derive(Serialize, JsonSchema)]
struct Token {
    tokenid: String,
    /// Privilege separation: the token has only its own ACL entries.
    privsep: bool,
    expire: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    comment: Option<String>,
}

#[derive(Serialize, JsonSchema)]
struct User {
    userid: String,
    enabled: bool,
    expire: Option<u64>,
    groups: Vec<String>,
    tokens: Vec<Token>,
}

#[derive(Serialize, JsonSchema)]
struct Group {
    groupid: String,
    users: Vec<String>,
}

#[derive(Serialize, JsonSchema)]
struct Entry {
    path: String,
    /// user, group or token.
    #[serde(rename = "type")]
    kind: String,
    ugid: String,
    role: String,
    propagate: bool,
}

#[derive(Serialize, JsonSchema)]
struct Role {
    roleid: String,
    builtin: bool,
    privileges: Vec<String>,
}

#[derive(Serialize, JsonSchema)]
struct Access {
    users: Vec<User>,
    groups: Vec<Group>,
    acl: Vec<Entry>,
    /// The roles the listed entries grant.
    roles: Vec<Role>,
}

fn list_of(v: &Value, key: &str) -> Vec<String> {
    text(v, key)
        .map(|s| s.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect())
        .unwrap_or_default()
}

/// `base` is `path` or above it.
fn applies(base: &str, path: &str) -> bool {
    base == "/" || base == path || path.starts_with(&format!("{base}/"))
}

fn list(a: Args) -> Result<Answer<Access>, ToolError> {
    let users_raw = pve::get(&["access", "users"], &json!({"full": 1}))?;
    let groups: Vec<Group> = items(&pve::get(&["access", "groups"], &Value::Null)?)
        .iter()
        .map(|g| Group { groupid: text(g, "groupid").unwrap_or_default(), users: list_of(g, "users") })
        .collect();
    let user = a.user.as_deref().map(|u| u.split('!').next().unwrap_or(u).to_string());
    let users: Vec<User> = items(&users_raw)
        .iter()
        .filter(|u| user.as_ref().is_none_or(|want| text(u, "userid").as_deref() == Some(want.as_str())))
        .map(|u| User {
            userid: text(u, "userid").unwrap_or_default(),
            enabled: flag(u, "enable").unwrap_or(true),
            expire: uint(u, "expire").filter(|e| *e > 0),
            groups: list_of(u, "groups"),
            tokens: items(&u["tokens"])
                .iter()
                .map(|t| Token {
                    tokenid: text(t, "tokenid").unwrap_or_default(),
                    privsep: flag(t, "privsep").unwrap_or(true),
                    expire: uint(t, "expire").filter(|e| *e > 0),
                    comment: text(t, "comment"),
                })
                .collect(),
        })
        .collect();
    // Whose entries count for the user filter: the user, its tokens, its groups.
    let whose: Option<BTreeSet<String>> = a.user.as_ref().map(|given| {
        let mut ids: BTreeSet<String> = BTreeSet::from([given.clone()]);
        for u in &users {
            ids.insert(u.userid.clone());
            ids.extend(u.tokens.iter().map(|t| format!("{}!{}", u.userid, t.tokenid)));
            ids.extend(u.groups.iter().cloned());
        }
        ids.extend(
            groups.iter().filter(|g| g.users.iter().any(|m| Some(m) == user.as_ref())).map(|g| g.groupid.clone()),
        );
        ids
    });
    let acl: Vec<Entry> = items(&pve::get(&["access", "acl"], &Value::Null)?)
        .iter()
        .map(|e| Entry {
            path: text(e, "path").unwrap_or_default(),
            kind: text(e, "type").unwrap_or_default(),
            ugid: text(e, "ugid").unwrap_or_default(),
            role: text(e, "roleid").unwrap_or_default(),
            propagate: flag(e, "propagate").unwrap_or(true),
        })
        .filter(|e| whose.as_ref().is_none_or(|ids| ids.contains(&e.ugid)))
        .filter(|e| a.path.as_deref().is_none_or(|p| e.path == p || (e.propagate && applies(&e.path, p))))
        .collect();
    let used: BTreeSet<&str> = acl.iter().map(|e| e.role.as_str()).collect();
    let roles: Vec<Role> = items(&pve::get(&["access", "roles"], &Value::Null)?)
        .iter()
        .filter(|r| text(r, "roleid").is_some_and(|id| used.contains(id.as_str())))
        .map(|r| Role {
            roleid: text(r, "roleid").unwrap_or_default(),
            builtin: flag(r, "special").unwrap_or(false),
            privileges: list_of(r, "privs"),
        })
        .collect();
    let groups = match &whose {
        Some(ids) => groups.into_iter().filter(|g| ids.contains(&g.groupid)).collect(),
        None => groups,
    };
    let summary = format!(
        "{} users, {} groups, {} ACL entries, {} roles in use",
        users.len(),
        groups.len(),
        acl.len(),
        roles.len()
    );
    Ok(Answer::new(Access { users, groups, acl, roles }, summary))
}
