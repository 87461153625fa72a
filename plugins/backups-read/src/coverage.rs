//! "Is everything backed up?": for every guest its newest backup (time,
//! age, storage, verified), whether a job covers it, and the lists an
//! operator acts on.

use std::collections::{BTreeMap, BTreeSet};

use proxmcp_sdk::backups::{self, Filter};
use proxmcp_sdk::value::{items, text, uint};
use proxmcp_sdk::{Answer, Router, ToolError, format, pve};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The requests this file's tools send.
pub const GRANTS: &[&str] = &[
    "GET /cluster/resources",
    "GET /cluster/backup-info/not-backed-up",
    "GET /nodes/{node}/storage/{storage}/content",
];

pub fn router() -> Router {
    Router::new().read(
        "pve_backup_coverage",
        "Backup coverage",
        "Every guest's newest backup, its age and verification, and whether a job covers it; lists the guests without a recent verified backup.",
        coverage,
    )
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Args {
    /// Older than this is too old (default 24).
    #[schemars(range(min = 1))]
    max_age_hours: Option<u64>,
    pool: Option<String>,
    node: Option<String>,
}

#[derive(Serialize, JsonSchema)]
struct Newest {
    ctime_utc: String,
    age: String,
    storage: String,
    /// PBS verification passed; null where the storage cannot verify.
    verified: Option<bool>,
}

#[derive(Serialize, JsonSchema)]
struct Guest {
    vmid: u64,
    name: Option<String>,
    node: Option<String>,
    newest: Option<Newest>,
    in_job: bool,
    /// no backup, too old, unverified, not in any job.
    problems: Vec<String>,
}

#[derive(Serialize, JsonSchema)]
struct Coverage {
    now_utc: String,
    max_age_hours: u64,
    guests: Vec<Guest>,
    no_backup: Vec<u64>,
    too_old: Vec<u64>,
    unverified: Vec<u64>,
    not_in_job: Vec<u64>,
    /// Nodes that did not answer: backups on their local storages are not counted.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    unreachable_nodes: Vec<String>,
}

fn coverage(a: Args) -> Result<Answer<Coverage>, ToolError> {
    let now = format::now();
    let max_age = a.max_age_hours.unwrap_or(24);
    if max_age == 0 {
        return Err(ToolError::InvalidArguments("max_age_hours must be at least 1 (default 24)".into()));
    }
    let resources = pve::get(&["cluster", "resources"], &json!({"type": "vm"}))?;
    let guests: Vec<&Value> = items(&resources)
        .iter()
        .filter(|g| uint(g, "template") != Some(1))
        .filter(|g| a.pool.as_deref().is_none_or(|p| text(g, "pool").as_deref() == Some(p)))
        .filter(|g| a.node.as_deref().is_none_or(|n| text(g, "node").as_deref() == Some(n)))
        .collect();
    let uncovered: BTreeSet<u64> = items(&pve::get(&["cluster", "backup-info", "not-backed-up"], &Value::Null)?)
        .iter()
        .filter_map(|g| uint(g, "vmid"))
        .collect();
    let scan = backups::scan(&Filter::default())?;
    // Newest backup per guest.
    let mut newest: BTreeMap<u64, &backups::Found> = BTreeMap::new();
    for f in &scan.backups {
        let Some(vmid) = uint(&f.volume, "vmid") else { continue };
        let ctime = uint(&f.volume, "ctime").unwrap_or(0);
        if newest.get(&vmid).is_none_or(|n| uint(&n.volume, "ctime").unwrap_or(0) < ctime) {
            newest.insert(vmid, f);
        }
    }
    let mut out = Coverage {
        now_utc: format::utc(now),
        max_age_hours: max_age,
        guests: Vec::new(),
        no_backup: Vec::new(),
        too_old: Vec::new(),
        unverified: Vec::new(),
        not_in_job: Vec::new(),
        unreachable_nodes: scan.unreachable_nodes.clone(),
    };
    for g in guests {
        let Some(vmid) = uint(g, "vmid") else { continue };
        let mut problems = Vec::new();
        let last = newest.get(&vmid).map(|f| {
            let ctime = uint(&f.volume, "ctime").unwrap_or(0);
            let state = f.volume["verification"]["state"].as_str();
            // Only PBS verifies; elsewhere there is nothing to check.
            let verified = if f.kind == "pbs" { Some(state == Some("ok")) } else { None };
            (
                ctime,
                Newest {
                    ctime_utc: format::utc(ctime),
                    age: format::age(now, ctime),
                    storage: f.storage.clone(),
                    verified,
                },
            )
        });
        match &last {
            None => {
                problems.push("no backup".to_string());
                out.no_backup.push(vmid);
            }
            Some((ctime, n)) => {
                if now.saturating_sub(*ctime) > max_age * 3600 {
                    problems.push(format!("too old ({})", n.age));
                    out.too_old.push(vmid);
                }
                if n.verified == Some(false) {
                    problems.push("unverified".into());
                    out.unverified.push(vmid);
                }
            }
        }
        let in_job = !uncovered.contains(&vmid);
        if !in_job {
            problems.push("not in any backup job".into());
            out.not_in_job.push(vmid);
        }
        out.guests.push(Guest {
            vmid,
            name: text(g, "name"),
            node: text(g, "node"),
            newest: last.map(|(_, n)| n),
            in_job,
            problems,
        });
    }
    let ok = out.guests.iter().filter(|g| g.problems.is_empty()).count();
    let mut summary = format!(
        "{ok} of {} guests have a backup younger than {max_age}h and a job; no backup: {}, too old: {}, unverified: {}, not in a job: {}",
        out.guests.len(),
        out.no_backup.len(),
        out.too_old.len(),
        out.unverified.len(),
        out.not_in_job.len()
    );
    if !out.unreachable_nodes.is_empty() {
        summary.push_str(&format!("; not reached: {}", out.unreachable_nodes.join(", ")));
    }
    Ok(Answer::new(out, summary))
}
