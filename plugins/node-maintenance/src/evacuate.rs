//! `pve_evacuate_node`: every guest off a node, one at a time, each to the
//! given target or to the online node with the most free memory; running
//! VMs live, running containers by restart migration (said so); templates
//! stay; a guest the host refuses (protected) is skipped with its reason.

use proxmcp_sdk::value::{items, text, uint};
use proxmcp_sdk::write::{Plan, Writes};
use proxmcp_sdk::{Answer, ApiError, Hints, Method, Router, TaskStatus, ToolError, progress, pve};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The requests this file's tools send.
pub const GRANTS: &[&str] = &[
    "GET /nodes",
    "GET /cluster/resources",
    "POST /nodes/{node}/qemu/{vmid}/migrate",
    "POST /nodes/{node}/lxc/{vmid}/migrate",
];

/// Longest wait for one migration (the call's deadline may end it sooner).
const MIGRATION_WAIT_MS: u32 = 1_800_000;

pub fn router() -> Router {
    Router::new().write(
        "pve_evacuate_node",
        "Evacuate node",
        "Migrate every guest off a node, one at a time, to target or spread over online nodes; reports each guest.",
        Hints::WRITE,
        evacuate,
    )
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Args {
    node: String,
    /// Default: for each guest, the online node with the most free memory.
    target: Option<String>,
    /// Move running guests while they run (default true): VMs live,
    /// containers by restart. false: running guests are skipped.
    online: Option<bool>,
}

#[derive(Serialize, JsonSchema, PartialEq, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum Fate {
    Migrated,
    Planned,
    Skipped,
    Failed,
    /// Still migrating when the call had to answer.
    Running,
    /// Not tried: the call ran out of time first.
    NotStarted,
}

#[derive(Serialize, JsonSchema)]
struct GuestOutcome {
    vmid: u64,
    name: Option<String>,
    #[serde(rename = "type")]
    kind: String,
    target: Option<String>,
    /// live (running VM), restart (running container: stopped, moved,
    /// started), offline (stopped guest).
    mode: Option<&'static str>,
    result: Fate,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    upid: Option<String>,
}

#[derive(Serialize, JsonSchema)]
struct Evacuation {
    node: String,
    guests: Vec<GuestOutcome>,
    migrated: usize,
    skipped: usize,
    failed: usize,
    #[serde(flatten)]
    plan: Plan,
}

struct Node {
    name: String,
    free: u64,
}

/// The online nodes of `/nodes` but `except`, with their free memory.
fn online_nodes(nodes: &Value, except: &str) -> Vec<Node> {
    items(nodes)
        .iter()
        .filter(|n| n["status"] == "online")
        .filter_map(|n| {
            let name = text(n, "node")?;
            let free = uint(n, "maxmem")?.saturating_sub(uint(n, "mem").unwrap_or(0));
            (name != except).then_some(Node { name, free })
        })
        .collect()
}

fn evacuate(a: Args, writes: &mut Writes) -> Result<Answer<Evacuation>, ToolError> {
    let online = a.online.unwrap_or(true);
    let nodes = pve::get(&["nodes"], &Value::Null)?;
    if !items(&nodes).iter().any(|n| n["node"] == a.node.as_str()) {
        let names: Vec<String> = items(&nodes).iter().filter_map(|n| text(n, "node")).collect();
        return Err(ToolError::InvalidArguments(format!("no node {:?}; nodes: {}", a.node, names.join(", "))));
    }
    let mut targets = online_nodes(&nodes, &a.node);
    if let Some(t) = &a.target {
        if t == &a.node {
            return Err(ToolError::InvalidArguments("target is the node being evacuated; pick another node".into()));
        }
        targets.retain(|n| &n.name == t);
        if targets.is_empty() {
            return Err(ToolError::InvalidArguments(format!(
                "target {t:?} is not an online node; leave it out to spread the guests over the online nodes"
            )));
        }
    } else if targets.is_empty() {
        return Err(ToolError::Other(format!("no other node is online to take the guests of {}", a.node)));
    }
    let resources = pve::get(&["cluster", "resources"], &json!({"type": "vm"}))?;
    let mut guests: Vec<&Value> = items(&resources).iter().filter(|g| g["node"] == a.node.as_str()).collect();
    guests.sort_by_key(|g| uint(g, "vmid"));
    let total = u32::try_from(guests.len()).unwrap_or(u32::MAX);
    let mut out = Vec::new();
    let mut out_of_time = false;
    for (i, g) in guests.iter().enumerate() {
        let vmid = uint(g, "vmid").unwrap_or_default();
        let kind = text(g, "type").unwrap_or_else(|| "qemu".into());
        let label = if kind == "lxc" { "CT" } else { "VM" };
        let running = g["status"] == "running" || g["status"] == "paused";
        let mut outcome = GuestOutcome {
            vmid,
            name: text(g, "name"),
            kind: kind.clone(),
            target: None,
            mode: None,
            result: Fate::Skipped,
            reason: None,
            upid: None,
        };
        if out_of_time {
            outcome.result = Fate::NotStarted;
            outcome.reason = Some("the call ran out of time before this guest; run the evacuation again".into());
            out.push(outcome);
            continue;
        }
        if g["template"] == json!(1) {
            outcome.reason = Some("a template: it stays (clones may depend on its disks)".into());
            out.push(outcome);
            continue;
        }
        if running && !online {
            outcome.reason = Some("running, and online is false".into());
            out.push(outcome);
            continue;
        }
        let need = uint(g, "maxmem").unwrap_or(0);
        let Some(target) = targets.iter_mut().max_by_key(|n| n.free) else { break };
        target.free = target.free.saturating_sub(need);
        let mode = match (running, kind.as_str()) {
            (false, _) => "offline",
            (true, "lxc") => "restart",
            (true, _) => "live",
        };
        outcome.target = Some(target.name.clone());
        outcome.mode = Some(mode);
        let mut params = json!({"target": target.name});
        match mode {
            "live" => params["online"] = json!(true),
            "restart" => params["restart"] = json!(true),
            _ => {}
        }
        if kind == "qemu" {
            params["with-local-disks"] = json!(true);
        }
        let step = u32::try_from(i).unwrap_or(u32::MAX);
        progress::report(step, total, &format!("migrating {label} {vmid} to {} ({mode})", target.name));
        let vmid_text = vmid.to_string();
        match writes.send(Method::Post, &["nodes", &a.node, &kind, &vmid_text, "migrate"], &params) {
            Ok(None) => outcome.result = Fate::Planned,
            Ok(Some(Value::String(upid))) => {
                let r = pve::wait_task(&a.node, &upid, MIGRATION_WAIT_MS)?;
                outcome.upid = Some(upid);
                match r.status {
                    TaskStatus::Ok => outcome.result = Fate::Migrated,
                    TaskStatus::Failed => {
                        outcome.result = Fate::Failed;
                        outcome.reason = Some(format!(
                            "{}; last log lines: {}",
                            r.exitstatus.unwrap_or_default(),
                            r.log_tail.join(" | ")
                        ));
                    }
                    TaskStatus::Running | TaskStatus::Cancelled => {
                        outcome.result = Fate::Running;
                        outcome.reason =
                            Some("still migrating; follow it with pve_get_task_status and the upid".into());
                        out_of_time = true;
                    }
                }
            }
            Ok(Some(other)) => {
                outcome.result = Fate::Failed;
                outcome.reason = Some(format!("Proxmox answered {other} instead of a task"));
            }
            // The host's gates speak for protected guests and the like.
            Err(ApiError::DeniedByPolicy(why)) => outcome.reason = Some(why),
            Err(e @ ApiError::ConfirmationRequired(_)) => return Err(e.into()),
            Err(e) => {
                outcome.result = Fate::Failed;
                outcome.reason = Some(e.to_string());
            }
        }
        out.push(outcome);
    }
    progress::report(total, total, &format!("evacuation of {} done", a.node));
    let count = |r: Fate| out.iter().filter(|o| o.result == r).count();
    let (migrated, skipped, failed) = (count(Fate::Migrated), count(Fate::Skipped), count(Fate::Failed));
    let plan = if writes.dry_run() { writes.take_plan() } else { Plan::default() };
    let summary = if writes.dry_run() {
        format!(
            "dry run: would migrate {} guests off {}, skip {skipped}; nothing was sent",
            count(Fate::Planned),
            a.node
        )
    } else {
        let left = out.len() - migrated - skipped - failed;
        format!("{}: {migrated} migrated, {skipped} skipped, {failed} failed, {left} not done", a.node)
    };
    Ok(Answer::new(Evacuation { node: a.node, guests: out, migrated, skipped, failed, plan }, summary))
}
