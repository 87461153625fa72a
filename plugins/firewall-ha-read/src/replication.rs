//! Replication jobs with what each source node reports about them: last
//! sync, its duration, failures and the next run. A node that does not
//! answer is named, not fatal.

use std::collections::{BTreeMap, BTreeSet};

use proxmcp_firewall_ha_common::{flag, float, items, text, uint};
use proxmcp_sdk::{Answer, ApiError, Router, ToolError, format, pve};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The requests this file's tools send.
pub const GRANTS: &[&str] = &["GET /cluster/replication", "GET /cluster/resources", "GET /nodes/{node}/replication"];

pub fn router() -> Router {
    Router::new().read(
        "pve_list_replication_jobs",
        "List replication jobs",
        "Storage replication jobs with last sync, duration, fail count and next run.",
        list,
    )
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Args {
    /// Only this guest's jobs.
    #[schemars(range(min = 100))]
    vmid: Option<u32>,
}

#[derive(Serialize, JsonSchema)]
struct Job {
    id: String,
    guest: Option<u64>,
    source: Option<String>,
    target: Option<String>,
    schedule: String,
    /// MB/s limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    rate: Option<f64>,
    enabled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    comment: Option<String>,
    /// Unix time, ISO-8601 and age of the last good sync (none yet: null).
    last_sync: Option<u64>,
    last_sync_utc: Option<String>,
    last_sync_age: Option<String>,
    duration_s: Option<f64>,
    fail_count: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    next_sync_utc: Option<String>,
}

#[derive(Serialize, JsonSchema)]
struct Jobs {
    jobs: Vec<Job>,
    /// Source nodes that did not answer; their jobs lack run state.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    unreachable_nodes: Vec<String>,
    /// When the ages were computed.
    now_utc: String,
}

fn list(a: Args) -> Result<Answer<Jobs>, ToolError> {
    let now = format::now();
    let config = pve::get(&["cluster", "replication"], &Value::Null)?;
    let wanted = |r: &&Value| a.vmid.is_none_or(|v| uint(r, "guest") == Some(u64::from(v)));
    let configured: Vec<&Value> = items(&config).iter().filter(wanted).collect();
    // Each job runs on its guest's node: ask each such node once.
    let resources = pve::get(&["cluster", "resources"], &json!({"type": "vm"}))?;
    let node_of: BTreeMap<u64, String> =
        items(&resources).iter().filter_map(|r| Some((uint(r, "vmid")?, text(r, "node")?))).collect();
    let sources: BTreeSet<String> =
        configured.iter().filter_map(|j| uint(j, "guest").and_then(|g| node_of.get(&g).cloned())).collect();
    let mut state: BTreeMap<String, Value> = BTreeMap::new();
    let mut unreachable = Vec::new();
    for node in sources {
        match pve::get(&["nodes", &node, "replication"], &Value::Null) {
            Ok(list) => state.extend(items(&list).iter().filter_map(|s| Some((text(s, "id")?, s.clone())))),
            Err(ApiError::NodeUnreachable(_)) => unreachable.push(node),
            Err(e) => return Err(e.into()),
        }
    }
    let jobs: Vec<Job> = configured
        .iter()
        .map(|j| {
            let id = text(j, "id").unwrap_or_default();
            let s = state.get(&id).cloned().unwrap_or(Value::Null);
            let last = uint(&s, "last_sync").filter(|t| *t > 0);
            Job {
                guest: uint(j, "guest"),
                source: text(&s, "source").or_else(|| uint(j, "guest").and_then(|g| node_of.get(&g).cloned())),
                target: text(j, "target"),
                schedule: text(j, "schedule").unwrap_or_else(|| "*/15".into()),
                rate: float(j, "rate"),
                enabled: !flag(j, "disable").unwrap_or(false),
                comment: text(j, "comment"),
                last_sync: last,
                last_sync_utc: last.map(format::utc),
                last_sync_age: last.map(|t| format::age(now, t)),
                duration_s: float(&s, "duration"),
                fail_count: uint(&s, "fail_count"),
                error: text(&s, "error"),
                next_sync_utc: uint(&s, "next_sync").filter(|t| *t > 0).map(format::utc),
                id,
            }
        })
        .collect();
    let failing = jobs.iter().filter(|j| j.fail_count.unwrap_or(0) > 0).count();
    let mut summary = format!("{} replication jobs, {failing} failing", jobs.len());
    if !unreachable.is_empty() {
        summary.push_str(&format!("; no state from unreachable nodes: {}", unreachable.join(", ")));
    }
    Ok(Answer::new(Jobs { jobs, unreachable_nodes: unreachable, now_utc: format::utc(now) }, summary))
}
