//! Replication jobs: create (the next free job number of the guest),
//! delete, and run now.

use proxmcp_firewall_ha_common::{invalid, items, text, uint};
use proxmcp_sdk::guest::locate;
use proxmcp_sdk::write::{Outcome, Writes};
use proxmcp_sdk::{Answer, Hints, Method, Router, ToolError, pve};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

type Done = Result<Answer<Outcome<Job>>, ToolError>;

/// The requests this file's tools send.
pub const GRANTS: &[&str] = &[
    "GET /cluster/replication",
    "POST /cluster/replication",
    "DELETE /cluster/replication/{id}",
    "POST /nodes/{node}/replication/{id}/schedule_now",
];

pub fn router() -> Router {
    Router::new()
        .write(
            "pve_create_replication_job",
            "Create replication job",
            "Replicate a guest's local ZFS disks to another node on a schedule.",
            Hints::WRITE,
            create,
        )
        .write(
            "pve_delete_replication_job",
            "Delete replication job",
            "Delete a replication job.",
            Hints::DESTRUCTIVE,
            delete,
        )
        .write("pve_run_replication_now", "Run replication now", "Start a replication job now.", Hints::WRITE, run_now)
}

#[derive(Serialize, JsonSchema)]
struct Job {
    /// `<vmid>-<n>`.
    id: String,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct CreateArgs {
    #[schemars(range(min = 100))]
    vmid: u32,
    /// Node to replicate to.
    target: String,
    /// Calendar event, default */15 (every 15 minutes).
    schedule: Option<String>,
    /// MB/s limit.
    #[schemars(range(min = 1))]
    rate: Option<f64>,
    comment: Option<String>,
}

fn create(a: CreateArgs, writes: &mut Writes) -> Done {
    let g = locate(a.vmid, None, None)?;
    if a.target == g.node {
        return Err(invalid(format!("{g} already runs on {}; replicate to another node", a.target)));
    }
    let jobs = pve::get(&["cluster", "replication"], &Value::Null)?;
    let ours: Vec<&Value> = items(&jobs).iter().filter(|j| uint(j, "guest") == Some(u64::from(a.vmid))).collect();
    if let Some(j) = ours.iter().find(|j| text(j, "target").as_deref() == Some(a.target.as_str())) {
        return Err(invalid(format!(
            "{g} already replicates to {} with job {}",
            a.target,
            text(j, "id").unwrap_or_default()
        )));
    }
    let num = (0..).find(|n| !ours.iter().any(|j| uint(j, "jobnum") == Some(*n))).unwrap_or(0);
    let id = format!("{}-{num}", a.vmid);
    let mut p = json!({"id": id, "type": "local", "target": a.target});
    if let Some(s) = &a.schedule {
        p["schedule"] = json!(s);
    }
    if let Some(r) = a.rate {
        p["rate"] = json!(r);
    }
    if let Some(c) = &a.comment {
        p["comment"] = json!(c);
    }
    let sent = writes.send(Method::Post, &["cluster", "replication"], &p)?;
    let what = format!("replicate {g} to {} as job {id} ({})", a.target, a.schedule.as_deref().unwrap_or("*/15"));
    writes.finish(&g.node, sent, &what, Job { id })
}

/// A job id's guest, checking the `<vmid>-<n>` form.
fn guest_of(id: &str) -> Result<u32, ToolError> {
    id.split_once('-').filter(|(_, n)| n.parse::<u32>().is_ok()).and_then(|(v, _)| v.parse::<u32>().ok()).ok_or_else(
        || invalid(format!("{id:?} is not a replication job id; they look like 100-0 (see pve_list_replication_jobs)")),
    )
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct DeleteArgs {
    /// e.g. 100-0
    id: String,
    /// Remove the job even if the target cannot be cleaned up.
    force: Option<bool>,
    /// Keep the replicated data on the target.
    keep: Option<bool>,
}

fn delete(a: DeleteArgs, writes: &mut Writes) -> Done {
    let vmid = guest_of(&a.id)?;
    let mut p = json!({});
    for (k, v) in [("force", a.force), ("keep", a.keep)] {
        if let Some(v) = v {
            p[k] = json!(u8::from(v));
        }
    }
    let sent = writes.send(Method::Delete, &["cluster", "replication", &a.id], &p)?;
    let node = locate(vmid, None, None).map(|g| g.node).unwrap_or_default();
    writes.finish(&node, sent, &format!("delete replication job {} of guest {vmid}", a.id), Job { id: a.id.clone() })
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct RunArgs {
    /// e.g. 100-0
    id: String,
}

fn run_now(a: RunArgs, writes: &mut Writes) -> Done {
    let g = locate(guest_of(&a.id)?, None, None)?;
    let sent = writes.send(Method::Post, &["nodes", &g.node, "replication", &a.id, "schedule_now"], &json!({}))?;
    writes.finish(&g.node, sent, &format!("run replication job {} of {g} now", a.id), Job { id: a.id.clone() })
}
