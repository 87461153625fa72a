//! Task tools: recent tasks, one task's status (with the log tail when it
//! failed), and its log.

use proxmcp_sdk::{Answer, Router, ToolError, format, pve};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::common::*;

/// Log lines shown with a failed task.
const TAIL: usize = 10;

/// The requests this file's tools send.
pub const GRANTS: &[&str] = &[
    "GET /cluster/tasks",
    "GET /nodes/{node}/tasks",
    "GET /nodes/{node}/tasks/{upid}/status",
    "GET /nodes/{node}/tasks/{upid}/log",
];

pub fn router() -> Router {
    Router::new()
        .read(
            "pve_list_tasks",
            "List tasks",
            "Recent tasks (newest first) cluster-wide or on one node; only failures with errors=true.",
            list_tasks,
        )
        .read(
            "pve_get_task_status",
            "Get task status",
            "Status of one task by UPID; a failed task includes the end of its log.",
            get_task_status,
        )
        .read("pve_get_task_log", "Get task log", "Lines of one task's log, from line start (0-based).", get_task_log)
}

#[derive(Serialize, JsonSchema)]
struct Task {
    upid: String,
    node: String,
    #[serde(rename = "type")]
    kind: String,
    id: Option<String>,
    user: Option<String>,
    status: String,
    ok: Option<bool>,
    starttime: Option<u64>,
    /// ISO-8601 UTC of starttime, and how long before now it began.
    starttime_utc: Option<String>,
    age: Option<String>,
    endtime: Option<u64>,
    duration_human: Option<String>,
    /// Only for a failed task's status.
    #[serde(skip_serializing_if = "Option::is_none")]
    log_tail: Option<Vec<String>>,
}

#[derive(Serialize, JsonSchema)]
struct Tasks {
    tasks: Vec<Task>,
    #[serde(flatten)]
    page: Page,
    now_utc: String,
}

fn task_entry(t: &Value, status_override: Option<&str>, now: u64) -> Task {
    let finished = uint(t, "endtime").is_some() || status_override == Some("stopped");
    let exit = text(t, "exitstatus").or_else(|| text(t, "status").filter(|s| s != "running" && s != "stopped"));
    let status = if finished { exit.clone().unwrap_or_else(|| "unknown".into()) } else { "running".into() };
    let duration = match (uint(t, "starttime"), uint(t, "endtime")) {
        (Some(s), Some(e)) => Some(format::duration(e.saturating_sub(s))),
        _ => None,
    };
    Task {
        upid: text(t, "upid").unwrap_or_default(),
        node: text(t, "node").unwrap_or_default(),
        kind: text(t, "type").unwrap_or_default(),
        id: text(t, "id").filter(|s| !s.is_empty()),
        user: text(t, "user"),
        ok: finished.then(|| exit.as_deref() == Some("OK")),
        status,
        starttime: uint(t, "starttime"),
        starttime_utc: uint(t, "starttime").map(format::utc),
        age: uint(t, "starttime").map(|s| format::age(now, s)),
        endtime: uint(t, "endtime"),
        duration_human: duration,
        log_tail: None,
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ListTasksArgs {
    node: Option<String>,
    errors: Option<bool>,
    #[schemars(range(min = 100))]
    vmid: Option<u32>,
    /// e.g. vzdump, qmstart
    #[serde(rename = "type")]
    kind: Option<String>,
    #[schemars(range(min = 1, max = 1000))]
    limit: Option<usize>,
}

fn list_tasks(a: ListTasksArgs) -> Result<Answer<Tasks>, ToolError> {
    let limit = limit(a.limit, 20)?;
    let now = format::now();
    let errors = a.errors.unwrap_or(false);
    let raw = match &a.node {
        Some(node) => {
            let mut q = json!({"limit": MAX_LIMIT, "errors": errors});
            if let Some(v) = a.vmid {
                q["vmid"] = json!(v);
            }
            if let Some(t) = &a.kind {
                q["typefilter"] = json!(t);
            }
            pve::get(&["nodes", node, "tasks"], &q).map_err(on_node(node))?
        }
        None => pve::get(&["cluster", "tasks"], &Value::Null)?,
    };
    let mut tasks: Vec<Task> = items(&raw)
        .iter()
        .map(|t| task_entry(t, None, now))
        .filter(|t| !errors || t.ok == Some(false))
        .filter(|t| a.vmid.is_none_or(|v| t.id.as_deref() == Some(v.to_string().as_str())))
        .filter(|t| a.kind.as_deref().is_none_or(|k| t.kind == k))
        .collect();
    tasks.sort_by_key(|t| std::cmp::Reverse(t.starttime));
    let failed = tasks.iter().filter(|t| t.ok == Some(false)).count();
    let page = Page::cut(&mut tasks, limit);
    let summary = format!("{}, {failed} failed", page.summary("tasks"));
    Ok(Answer::new(Tasks { tasks, page, now_utc: format::utc(now) }, summary))
}

/// The node named in a UPID (`UPID:node:…`), checked against `given`.
fn task_node(upid: &str, given: Option<&str>) -> Result<String, ToolError> {
    let mut parts = upid.split(':');
    let node = match (parts.next(), parts.next()) {
        (Some("UPID"), Some(n)) if !n.is_empty() => n.to_string(),
        _ => {
            return Err(ToolError::InvalidArguments(format!(
                "{upid:?} is not a task id; a UPID looks like UPID:pve1:0000ABCD:…: (see pve_list_tasks)"
            )));
        }
    };
    match given {
        Some(g) if g != node => {
            Err(ToolError::InvalidArguments(format!("task {upid} ran on node {node:?}, not {g:?}; omit node")))
        }
        _ => Ok(node),
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct TaskArgs {
    upid: String,
    /// Optional; read from the UPID.
    node: Option<String>,
}

fn get_task_status(a: TaskArgs) -> Result<Answer<Task>, ToolError> {
    let node = task_node(&a.upid, a.node.as_deref())?;
    let s = pve::get(&["nodes", &node, "tasks", &a.upid, "status"], &Value::Null).map_err(on_node(&node))?;
    let mut out = task_entry(&s, text(&s, "status").as_deref(), format::now());
    if out.ok == Some(false) {
        let log = pve::get(&["nodes", &node, "tasks", &a.upid, "log"], &json!({"start": 0, "limit": 5000}))
            .map_err(on_node(&node))?;
        let lines: Vec<String> = items(&log).iter().filter_map(|l| text(l, "t")).collect();
        out.log_tail = Some(lines[lines.len().saturating_sub(TAIL)..].to_vec());
    }
    let summary = match out.ok {
        None => format!("task {} on {node} is running", out.kind),
        Some(true) => format!("task {} on {node} finished OK", out.kind),
        Some(false) => format!("task {} on {node} FAILED (see status and log_tail)", out.kind),
    };
    Ok(Answer::new(out, summary))
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct TaskLogArgs {
    upid: String,
    /// Optional; read from the UPID.
    node: Option<String>,
    start: Option<u64>,
    #[schemars(range(min = 1, max = 1000))]
    limit: Option<usize>,
}

#[derive(Serialize, JsonSchema)]
struct Line {
    n: Option<u64>,
    t: String,
}

#[derive(Serialize, JsonSchema)]
struct Log {
    upid: String,
    start: u64,
    count: usize,
    lines: Vec<Line>,
}

fn get_task_log(a: TaskLogArgs) -> Result<Answer<Log>, ToolError> {
    let node = task_node(&a.upid, a.node.as_deref())?;
    let limit = limit(a.limit, DEFAULT_LIMIT)?;
    let start = a.start.unwrap_or(0);
    let log = pve::get(&["nodes", &node, "tasks", &a.upid, "log"], &json!({"start": start, "limit": limit}))
        .map_err(on_node(&node))?;
    let lines: Vec<Line> =
        items(&log).iter().map(|l| Line { n: uint(l, "n"), t: text(l, "t").unwrap_or_default() }).collect();
    let count = lines.len();
    Ok(Answer::new(Log { upid: a.upid, start, count, lines }, format!("{count} log lines from line {start}")))
}
