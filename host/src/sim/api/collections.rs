//! Proxmox's many config collections (backup jobs, HA resources,
//! replication jobs, and next firewall rules, users, ACLs, ...) served by
//! one generic store: list, create, read, update (with `digest` and
//! `delete`), remove, in PVE's words. A new collection is one row of
//! [`COLLECTIONS`] plus its option spec.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::*;
use crate::sim::params::{P, Params, Ty, first, opt};

/// How a collection is served.
pub(super) struct CollectionDef {
    /// The store's key (`backup`, `ha-resources`, ...).
    pub name: &'static str,
    /// The collection's path; items live at `{path}/{id}`.
    pub path: &'static str,
    /// The id's parameter and path variable.
    pub id: &'static str,
    /// What an item is called in errors (`backup job`, `resource`).
    pub what: &'static str,
    /// A new item without an id gets `{prefix}{n}` (`None`: the id is required).
    pub generated_id: Option<&'static str>,
    /// The items' options.
    pub options: &'static [P],
    /// Whether a single item's answer carries the collection's `digest`.
    pub item_digest: bool,
    /// Checks a new id (for example that an HA resource names a guest).
    pub check_id: fn(&Cluster, &str) -> Result<(), ApiErr>,
    /// Adds what PVE derives from the id to an answer (`type`, `guest`).
    pub derived: fn(&str, &mut Map<String, Value>),
}

fn nothing_derived(_: &str, _: &mut Map<String, Value>) {}

/// An HA resource's `type` comes from its sid.
fn ha_type(sid: &str, out: &mut Map<String, Value>) {
    let kind = if sid.starts_with("ct:") { "ct" } else { "vm" };
    out.entry("type").or_insert_with(|| json!(kind));
}

/// A replication job's `guest` and `jobnum` come from its id.
fn replication_parts(id: &str, out: &mut Map<String, Value>) {
    if let Some((guest, num)) = id.split_once('-') {
        out.insert("guest".into(), guest.parse::<u32>().map_or_else(|_| json!(guest), |g| json!(g)));
        out.insert("jobnum".into(), num.parse::<u32>().map_or_else(|_| json!(num), |n| json!(n)));
    }
    out.entry("type").or_insert_with(|| json!("local"));
}

fn any_id(_: &Cluster, _: &str) -> Result<(), ApiErr> {
    Ok(())
}

/// An HA resource id names an existing guest: `vm:N`, `ct:N` or `N`.
fn ha_sid(c: &Cluster, sid: &str) -> Result<(), ApiErr> {
    let id = sid.split_once(':').map_or(sid, |(kind, id)| if matches!(kind, "vm" | "ct") { id } else { "" });
    let vmid: u32 =
        id.parse().map_err(|_| bad_param("sid", format!("value '{sid}' does not look like a valid ha resource id")))?;
    if c.guests.contains_key(&vmid) { Ok(()) } else { Err(fail(500, format!("unable to find VM/CT {vmid}"))) }
}

/// A replication job id is `<vmid>-<n>` of an existing guest.
fn replication_id(c: &Cluster, id: &str) -> Result<(), ApiErr> {
    let vmid: Option<u32> =
        id.split_once('-').filter(|(_, n)| n.parse::<u32>().is_ok()).and_then(|(v, _)| v.parse().ok());
    match vmid {
        Some(v) if c.guests.contains_key(&v) => Ok(()),
        Some(v) => Err(fail(500, format!("guest '{v}' does not exist"))),
        None => Err(bad_param("id", format!("value '{id}' does not match the regex pattern"))),
    }
}

const BACKUP_OPTIONS: &[P] = &[
    opt("vmid", Ty::Str),
    opt("all", Ty::Bool),
    opt("exclude", Ty::Str),
    opt("pool", Ty::Str),
    opt("node", Ty::Str),
    opt("storage", Ty::Str),
    opt("schedule", Ty::Str),
    opt("mode", Ty::Enum(&["snapshot", "suspend", "stop"])),
    opt("compress", Ty::Enum(&["0", "1", "gzip", "lzo", "zstd"])),
    opt("enabled", Ty::Bool),
    opt("comment", Ty::Str),
    opt("notes-template", Ty::Str),
    opt("mailto", Ty::Str),
    opt("prune-backups", Ty::Str),
];

const HA_OPTIONS: &[P] = &[
    opt("state", Ty::Enum(&["started", "stopped", "enabled", "disabled", "ignored"])),
    opt("group", Ty::Str),
    opt("comment", Ty::Str),
    opt("max_restart", Ty::Int(0, i64::MAX)),
    opt("max_relocate", Ty::Int(0, i64::MAX)),
    opt("failback", Ty::Bool),
    opt("type", Ty::Enum(&["ct", "vm"])),
];

const REPLICATION_OPTIONS: &[P] = &[
    opt("type", Ty::Enum(&["local"])),
    opt("target", Ty::Str),
    opt("schedule", Ty::Str),
    opt("rate", Ty::Num),
    opt("comment", Ty::Str),
    opt("disable", Ty::Bool),
    opt("remove_job", Ty::Enum(&["local", "full"])),
    opt("source", Ty::Str),
];

const HA_RULE_OPTIONS: &[P] = &[
    opt("type", Ty::Enum(&["node-affinity", "resource-affinity"])),
    opt("resources", Ty::Str),
    opt("nodes", Ty::Str),
    opt("affinity", Ty::Enum(&["positive", "negative"])),
    opt("strict", Ty::Bool),
    opt("comment", Ty::Str),
    opt("disable", Ty::Bool),
];

const HA_GROUP_OPTIONS: &[P] = &[
    opt("nodes", Ty::Str),
    opt("restricted", Ty::Bool),
    opt("nofailback", Ty::Bool),
    opt("comment", Ty::Str),
    opt("type", Ty::Enum(&["group"])),
];

/// The collections the simulator serves.
pub(super) static COLLECTIONS: &[CollectionDef] = &[
    CollectionDef {
        name: "backup",
        path: "/cluster/backup",
        id: "id",
        what: "backup job",
        generated_id: Some("backup-"),
        options: BACKUP_OPTIONS,
        item_digest: false,
        check_id: any_id,
        derived: nothing_derived,
    },
    CollectionDef {
        name: "ha-resources",
        path: "/cluster/ha/resources",
        id: "sid",
        what: "resource",
        generated_id: None,
        options: HA_OPTIONS,
        item_digest: true,
        check_id: ha_sid,
        derived: ha_type,
    },
    CollectionDef {
        name: "ha-rules",
        path: "/cluster/ha/rules",
        id: "rule",
        what: "HA rule",
        generated_id: None,
        options: HA_RULE_OPTIONS,
        item_digest: true,
        check_id: any_id,
        derived: nothing_derived,
    },
    CollectionDef {
        name: "ha-groups",
        path: "/cluster/ha/groups",
        id: "group",
        what: "HA group",
        generated_id: None,
        options: HA_GROUP_OPTIONS,
        item_digest: true,
        check_id: any_id,
        derived: nothing_derived,
    },
    CollectionDef {
        name: "replication",
        path: "/cluster/replication",
        id: "id",
        what: "replication job",
        generated_id: None,
        options: REPLICATION_OPTIONS,
        item_digest: true,
        check_id: replication_id,
        derived: replication_parts,
    },
];

/// The five routes of every collection.
pub(super) fn routes() -> Vec<(&'static str, String, String, Handler)> {
    COLLECTIONS
        .iter()
        .flat_map(|d| {
            let item = format!("{}/{{{}}}", d.path, d.id);
            let w = d.what;
            [
                ("GET", d.path.to_string(), format!("Every {w}."), list as Handler),
                ("POST", d.path.to_string(), format!("Add a {w}."), create as Handler),
                ("GET", item.clone(), format!("One {w}."), read as Handler),
                (
                    "PUT",
                    item.clone(),
                    format!("Change a {w}; digest guards against a concurrent change."),
                    update as Handler,
                ),
                ("DELETE", item, format!("Remove a {w}."), remove as Handler),
            ]
        })
        .collect()
}

/// The collection a request's path belongs to.
fn def_of(x: &Ctx<'_>) -> &'static CollectionDef {
    let path = format!("/{}", x.path_text());
    COLLECTIONS
        .iter()
        .filter(|d| path == d.path || path.starts_with(&format!("{}/", d.path)))
        .max_by_key(|d| d.path.len())
        .unwrap_or(&COLLECTIONS[0])
}

/// The item's answer: options typed as their spec says.
fn shape(d: &CollectionDef, id: &str, item: &BTreeMap<String, String>) -> Value {
    let mut out = Map::new();
    out.insert(d.id.into(), json!(id));
    for (k, v) in item {
        let typed = match d.options.iter().find(|p| p.name == k).map(|p| p.ty) {
            Some(Ty::Bool) => json!(u8::from(v == "1" || v == "true")),
            Some(Ty::Int(..)) => v.parse::<i64>().map_or_else(|_| json!(v), |n| json!(n)),
            Some(Ty::Num) => v.parse::<f64>().map_or_else(|_| json!(v), |n| json!(n)),
            _ => json!(v),
        };
        out.insert(k.clone(), typed);
    }
    (d.derived)(id, &mut out);
    Value::Object(out)
}

/// PVE's digest of a config file: a hash of its content.
fn collection_digest(items: &BTreeMap<String, BTreeMap<String, String>>) -> String {
    let text = serde_json::to_string(items).unwrap_or_default();
    digest(&text)
}

fn list(x: &mut Ctx<'_>) -> R {
    let d = def_of(x);
    let spec: &[P] = match d.name {
        "ha-resources" => &[opt("type", Ty::Enum(&["ct", "vm"]))],
        "ha-rules" => &[opt("type", Ty::Enum(&["node-affinity", "resource-affinity"])), opt("resource", Ty::Str)],
        _ => &[],
    };
    check(x.params, spec)?;
    let mut items = x.c.collections.get(d.name).cloned().unwrap_or_default();
    let digest = collection_digest(&items);
    // The filters PVE offers: by type, and rules by a resource they name.
    if let Some(want) = first(x.params, "type") {
        items.retain(|id, item| shape(d, id, item)["type"] == want);
    }
    if let Some(sid) = first(x.params, "resource") {
        items.retain(|_, item| item.get("resources").is_some_and(|r| r.split(',').any(|s| s.trim() == sid)));
    }
    let list: Vec<Value> = items
        .iter()
        .map(|(id, item)| {
            let mut v = shape(d, id, item);
            if d.item_digest {
                v["digest"] = json!(digest);
            }
            v
        })
        .collect();
    Ok(json!(list).into())
}

fn read(x: &mut Ctx<'_>) -> R {
    let d = def_of(x);
    check(x.params, &[])?;
    let id = x.var(d.id);
    let items = x.c.collections.get(d.name).cloned().unwrap_or_default();
    let item = items.get(id).ok_or_else(|| fail(500, format!("{} '{id}' does not exist", d.what)))?;
    let mut v = shape(d, id, item);
    if d.item_digest {
        v["digest"] = json!(collection_digest(&items));
    }
    Ok(v.into())
}

fn options_of(d: &CollectionDef, params: &Params, skip: &[&str]) -> BTreeMap<String, String> {
    params
        .iter()
        .filter(|(k, _)| !skip.contains(&k.as_str()))
        .filter_map(|(k, v)| v.first().map(|v| (k.clone(), v.clone())))
        .filter(|(k, _)| d.options.iter().any(|p| p.name == k))
        .collect()
}

fn create(x: &mut Ctx<'_>) -> R {
    let d = def_of(x);
    let mut spec = d.options.to_vec();
    spec.push(if d.generated_id.is_some() { opt(d.id, Ty::Str) } else { crate::sim::params::req(d.id, Ty::Str) });
    check(x.params, &spec)?;
    let items = x.c.collections.entry(d.name.to_string()).or_default();
    let id = match (first(x.params, d.id), d.generated_id) {
        (Some(id), _) => id.to_string(),
        (None, Some(prefix)) => {
            (1..).map(|n| format!("{prefix}{n:08x}")).find(|id| !items.contains_key(id)).unwrap_or_default()
        }
        (None, None) => return Err(bad_param(d.id, "property is missing and it is not optional")),
    };
    if items.contains_key(&id) {
        return Err(fail(500, format!("{} '{id}' already exists", d.what)));
    }
    let options = options_of(d, x.params, &[d.id]);
    (d.check_id)(x.c, &id)?;
    x.c.collections.entry(d.name.to_string()).or_default().insert(id, options);
    Ok(Value::Null.into())
}

fn update(x: &mut Ctx<'_>) -> R {
    let d = def_of(x);
    let mut spec = d.options.to_vec();
    spec.extend([opt(d.id, Ty::Str), opt("digest", Ty::Str), opt("delete", Ty::Str)]);
    check(x.params, &spec)?;
    let id = x.var(d.id).to_string();
    let items = x.c.collections.entry(d.name.to_string()).or_default();
    if let Some(want) = first(x.params, "digest")
        && want != collection_digest(items)
    {
        return Err(fail(500, "detected modified configuration - file changed by other user? Try again."));
    }
    let options = options_of(d, x.params, &[d.id, "digest", "delete"]);
    let item = items.get_mut(&id).ok_or_else(|| fail(500, format!("{} '{id}' does not exist", d.what)))?;
    item.extend(options);
    for key in first(x.params, "delete").unwrap_or_default().split([',', ';', ' ']).filter(|k| !k.is_empty()) {
        item.remove(key);
    }
    Ok(Value::Null.into())
}

fn remove(x: &mut Ctx<'_>) -> R {
    let d = def_of(x);
    check(x.params, &[opt("purge", Ty::Bool), opt("digest", Ty::Str)])?;
    let id = x.var(d.id).to_string();
    let items = x.c.collections.entry(d.name.to_string()).or_default();
    if let Some(want) = first(x.params, "digest")
        && want != collection_digest(items)
    {
        return Err(fail(500, "detected modified configuration - file changed by other user? Try again."));
    }
    items.remove(&id).ok_or_else(|| fail(500, format!("{} '{id}' does not exist", d.what)))?;
    Ok(Value::Null.into())
}
