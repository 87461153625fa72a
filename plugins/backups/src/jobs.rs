//! Backup jobs (`/cluster/backup`): what to back up (guests, a pool, or
//! all but some), when, where, how, and how many to keep.

use proxmcp_sdk::value::{items, text};
use proxmcp_sdk::write::{Outcome, Writes};
use proxmcp_sdk::{Answer, Hints, Method, Router, ToolError, pve};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

type Done = Result<Answer<Outcome<Job>>, ToolError>;

/// The requests this file's tools send.
pub const GRANTS: &[&str] =
    &["GET /cluster/backup", "POST /cluster/backup", "PUT /cluster/backup/{id}", "DELETE /cluster/backup/{id}"];

pub fn router() -> proxmcp_sdk::Router {
    Router::new()
        .write(
            "pve_create_backup_job",
            "Create backup job",
            "Schedule backups of vmids, a pool, or all guests (but exclude) to a storage, with retention.",
            Hints::WRITE,
            create,
        )
        .write(
            "pve_update_backup_job",
            "Update backup job",
            "Change a backup job: only the settings given; clear removes settings.",
            Hints::WRITE,
            update,
        )
        .write(
            "pve_delete_backup_job",
            "Delete backup job",
            "Delete a scheduled backup job.",
            Hints::DESTRUCTIVE,
            delete,
        )
}

#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
enum Mode {
    Snapshot,
    Suspend,
    Stop,
}

#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
enum Compress {
    Zstd,
    Lzo,
    Gzip,
    None,
}

/// How many backups to keep, per period (PVE's prune-backups).
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Keep {
    last: Option<u32>,
    hourly: Option<u32>,
    daily: Option<u32>,
    weekly: Option<u32>,
    monthly: Option<u32>,
    yearly: Option<u32>,
}

impl Keep {
    fn prune_backups(&self) -> Result<String, ToolError> {
        let parts: Vec<String> = [
            ("last", self.last),
            ("hourly", self.hourly),
            ("daily", self.daily),
            ("weekly", self.weekly),
            ("monthly", self.monthly),
            ("yearly", self.yearly),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.map(|n| format!("keep-{k}={n}")))
        .collect();
        if parts.is_empty() {
            return Err(invalid("keep needs at least one of last, hourly, daily, weekly, monthly, yearly"));
        }
        Ok(parts.join(","))
    }
}

fn invalid(message: impl Into<String>) -> ToolError {
    ToolError::InvalidArguments(message.into())
}

fn ids(list: &[u32]) -> String {
    list.iter().map(u32::to_string).collect::<Vec<_>>().join(",")
}

/// An argument struct with a job's settings besides its own fields, and
/// `settings()` to take them out (serde's `flatten` cannot deny unknown
/// arguments).
macro_rules! job_args {
    ($(#[$sm:meta])* struct $name:ident { $($(#[$fm:meta])* $field:ident : $ty:ty,)* }) => {
        $(#[$sm])*
        #[derive(Deserialize, JsonSchema)]
        #[serde(deny_unknown_fields)]
        struct $name {
            $($(#[$fm])* $field: $ty,)*
            /// Calendar event, e.g. "02:00", "sat 03:00", "*/6:00".
            schedule: Option<String>,
            storage: Option<String>,
            /// These guests (or give pool, or all).
            vmids: Option<Vec<u32>>,
            /// Every guest of this pool.
            pool: Option<String>,
            /// Every guest (but exclude).
            all: Option<bool>,
            exclude: Option<Vec<u32>>,
            /// Only guests on this node.
            node: Option<String>,
            mode: Option<Mode>,
            compress: Option<Compress>,
            /// Retention, e.g. {"daily": 7, "weekly": 4}.
            keep: Option<Keep>,
            /// Backup notes, e.g. "{{guestname}} nightly".
            notes_template: Option<String>,
            enabled: Option<bool>,
            comment: Option<String>,
        }

        impl $name {
            // Unused on the plain struct the macro also makes.
            #[allow(dead_code)]
            fn settings(self) -> Settings {
                Settings {
                    schedule: self.schedule,
                    storage: self.storage,
                    vmids: self.vmids,
                    pool: self.pool,
                    all: self.all,
                    exclude: self.exclude,
                    node: self.node,
                    mode: self.mode,
                    compress: self.compress,
                    keep: self.keep,
                    notes_template: self.notes_template,
                    enabled: self.enabled,
                    comment: self.comment,
                }
            }
        }
    };
}

job_args! {
    /// Settings both create and update take (the arguments' own fields
    /// taken out).
    struct Settings {}
}

impl Settings {
    fn params(&self) -> Result<Map<String, Value>, ToolError> {
        let chosen = [self.vmids.is_some(), self.pool.is_some(), self.all == Some(true)].iter().filter(|b| **b).count();
        if chosen > 1 {
            return Err(invalid("select guests one way: vmids, pool, or all (with exclude)"));
        }
        if self.exclude.is_some() && self.all != Some(true) {
            return Err(invalid("exclude goes with all: true"));
        }
        if self.vmids.as_ref().is_some_and(Vec::is_empty) {
            return Err(invalid("vmids is empty; give guests, a pool, or all: true"));
        }
        let mut p = Map::new();
        let mut put = |k: &str, v: Option<Value>| {
            if let Some(v) = v {
                p.insert(k.into(), v);
            }
        };
        put("schedule", self.schedule.clone().map(Value::from));
        put("storage", self.storage.clone().map(Value::from));
        put("vmid", self.vmids.as_deref().map(|v| json!(ids(v))));
        put("pool", self.pool.clone().map(Value::from));
        put("all", self.all.map(|a| json!(u8::from(a))));
        put("exclude", self.exclude.as_deref().map(|v| json!(ids(v))));
        put("node", self.node.clone().map(Value::from));
        put("mode", self.mode.map(|m| json!(format!("{m:?}").to_lowercase())));
        put(
            "compress",
            self.compress.map(|c| match c {
                Compress::None => json!("0"),
                other => json!(format!("{other:?}").to_lowercase()),
            }),
        );
        put("prune-backups", self.keep.as_ref().map(Keep::prune_backups).transpose()?.map(Value::from));
        put("notes-template", self.notes_template.clone().map(Value::from));
        put("enabled", self.enabled.map(|e| json!(u8::from(e))));
        put("comment", self.comment.clone().map(Value::from));
        Ok(p)
    }
}

#[derive(Serialize, JsonSchema)]
struct Job {
    id: String,
    /// The settings sent.
    settings: Map<String, Value>,
}

job_args! {
    struct CreateArgs {
        /// Job id (letters, digits, -, _); default: one Proxmox picks.
        id: Option<String>,
    }
}

fn valid_id(id: &str) -> Result<(), ToolError> {
    let ok = id.len() >= 2
        && id.starts_with(|c: char| c.is_ascii_alphabetic())
        && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(invalid(format!("job id {id:?}: start with a letter, then letters, digits, '-' or '_'")))
    }
}

fn create(a: CreateArgs, writes: &mut Writes) -> Done {
    let id = a.id.clone();
    let s = &a.settings();
    if s.schedule.is_none() || s.storage.is_none() {
        return Err(invalid("a backup job needs schedule (e.g. \"02:00\") and storage"));
    }
    if s.vmids.is_none() && s.pool.is_none() && s.all != Some(true) {
        return Err(invalid("say what to back up: vmids, pool, or all: true (with exclude)"));
    }
    let mut params = s.params()?;
    if let Some(id) = &id {
        valid_id(id)?;
        params.insert("id".into(), json!(id));
    }
    let sent = writes.send(Method::Post, &["cluster", "backup"], &Value::Object(params.clone()))?;
    // Proxmox names a job it was not given an id for: find it by its settings.
    let id = match (&id, &sent) {
        (Some(id), _) => id.clone(),
        (None, None) => "(chosen by Proxmox)".into(),
        (None, Some(_)) => newest_matching(&params)?,
    };
    let what = format!(
        "schedule backups ({}) to {}",
        params["schedule"].as_str().unwrap_or(""),
        params["storage"].as_str().unwrap_or("")
    );
    writes.finish("", sent, &what, Job { id, settings: params })
}

/// The id of the job whose settings are `params` (the last one listed).
fn newest_matching(params: &Map<String, Value>) -> Result<String, ToolError> {
    let jobs = pve::get(&["cluster", "backup"], &Value::Null)?;
    let same = |j: &Value| params.iter().all(|(k, v)| v.as_str().is_none_or(|v| text(j, k).as_deref() == Some(v)));
    Ok(items(&jobs).iter().rev().filter(|j| same(j)).find_map(|j| text(j, "id")).unwrap_or_default())
}

job_args! {
    struct UpdateArgs {
        id: String,
        /// Settings to remove, e.g. ["comment", "notes_template", "exclude"].
        clear: Option<Vec<String>>,
    }
}

fn update(a: UpdateArgs, writes: &mut Writes) -> Done {
    const CLEARABLE: &[(&str, &str)] = &[
        ("comment", "comment"),
        ("notes_template", "notes-template"),
        ("exclude", "exclude"),
        ("node", "node"),
        ("keep", "prune-backups"),
        ("compress", "compress"),
        ("mode", "mode"),
    ];
    let (id, clear) = (a.id.clone(), a.clear.clone().unwrap_or_default());
    let mut params = a.settings().params()?;
    let mut delete = Vec::new();
    for c in &clear {
        let key = CLEARABLE.iter().find(|(k, _)| k == c).map(|(_, v)| *v).ok_or_else(|| {
            invalid(format!(
                "clear {c:?}: only {} can be cleared",
                CLEARABLE.iter().map(|(k, _)| *k).collect::<Vec<_>>().join(", ")
            ))
        })?;
        delete.push(key);
    }
    if params.is_empty() && delete.is_empty() {
        return Err(invalid("nothing to change: give settings to set or clear"));
    }
    // Changing how guests are selected replaces the old selection.
    for (given, others) in [("vmid", ["pool", "all"]), ("pool", ["vmid", "all"]), ("all", ["vmid", "pool"])] {
        if params.contains_key(given) && params.get("all") != Some(&json!(0)) {
            delete.extend(others.iter().copied().filter(|o| !params.contains_key(*o)));
        }
    }
    delete.sort_unstable();
    delete.dedup();
    if !delete.is_empty() {
        params.insert("delete".into(), json!(delete.join(",")));
    }
    let sent = writes.send(Method::Put, &["cluster", "backup", &id], &Value::Object(params.clone()))?;
    writes.finish("", sent, &format!("change backup job {id}"), Job { id: id.clone(), settings: params })
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct DeleteArgs {
    id: String,
}

fn delete(a: DeleteArgs, writes: &mut Writes) -> Done {
    let sent = writes.send(Method::Delete, &["cluster", "backup", &a.id], &json!({}))?;
    writes.finish("", sent, &format!("delete backup job {}", a.id), Job { id: a.id.clone(), settings: Map::new() })
}
