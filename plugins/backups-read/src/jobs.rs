//! Scheduled backup jobs (`/cluster/backup`) as operators read them.

use proxmcp_sdk::value::{flag, items, text, uint};
use proxmcp_sdk::{Answer, NoArgs, Router, ToolError, format, pve};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;

/// The requests this file's tools send.
pub const GRANTS: &[&str] = &["GET /cluster/backup"];

pub fn router() -> Router {
    Router::new().read(
        "pve_list_backup_jobs",
        "List backup jobs",
        "Scheduled backup jobs: schedule, selection, storage, mode, retention, next run.",
        list,
    )
}

#[derive(Serialize, JsonSchema)]
pub struct Job {
    id: String,
    enabled: bool,
    schedule: Option<String>,
    /// What it backs up, in words: "all guests except 102", "guests 100, 101", "pool dev".
    selection: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    node: Option<String>,
    storage: Option<String>,
    mode: Option<String>,
    compress: Option<String>,
    /// prune-backups, e.g. keep-daily=7,keep-weekly=4.
    retention: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    notes_template: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    comment: Option<String>,
    next_run_utc: Option<String>,
}

#[derive(Serialize, JsonSchema)]
struct Jobs {
    jobs: Vec<Job>,
    now_utc: String,
}

/// A job's selection in words.
pub fn selection(j: &Value) -> String {
    let mut out = if flag(j, "all") == Some(true) {
        match text(j, "exclude") {
            Some(ex) => format!("all guests except {ex}"),
            None => "all guests".into(),
        }
    } else if let Some(pool) = text(j, "pool") {
        format!("pool {pool}")
    } else {
        format!("guests {}", text(j, "vmid").unwrap_or_else(|| "(none)".into()))
    };
    if let Some(node) = text(j, "node") {
        out.push_str(&format!(" on node {node}"));
    }
    out
}

fn list(_: NoArgs) -> Result<Answer<Jobs>, ToolError> {
    let now = format::now();
    let raw = pve::get(&["cluster", "backup"], &Value::Null)?;
    let jobs: Vec<Job> = items(&raw)
        .iter()
        .map(|j| Job {
            id: text(j, "id").unwrap_or_default(),
            enabled: flag(j, "enabled").unwrap_or(true),
            schedule: text(j, "schedule"),
            selection: selection(j),
            node: text(j, "node"),
            storage: text(j, "storage"),
            mode: text(j, "mode"),
            compress: text(j, "compress"),
            retention: text(j, "prune-backups"),
            notes_template: text(j, "notes-template"),
            comment: text(j, "comment"),
            next_run_utc: uint(j, "next-run").map(format::utc),
        })
        .collect();
    let off = jobs.iter().filter(|j| !j.enabled).count();
    let summary = format!("{} backup jobs, {off} disabled", jobs.len());
    Ok(Answer::new(Jobs { jobs, now_utc: format::utc(now) }, summary))
}
