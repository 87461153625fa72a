//! Task tools: recent tasks, one task's status (with the log tail when it
//! failed), and its log.

use proxmcp_sdk::{Output, ToolDef, ToolError, format, parse_args, pve};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::common::*;

/// Log lines shown with a failed task.
const TAIL: usize = 10;

pub fn tools() -> Vec<ToolDef> {
    let upid_props =
        json!({"upid": {"type": "string"}, "node": {"type": "string", "description": "Optional; read from the UPID."}});
    let mut log_props = upid_props.clone();
    log_props["start"] = json!({"type": "integer", "minimum": 0});
    log_props["limit"] = limit_prop();
    vec![
        ToolDef::new(
            "pve_list_tasks",
            "Recent tasks (newest first) cluster-wide or on one node; only failures with errors=true.",
            input(
                json!({"node": {"type": "string"}, "errors": {"type": "boolean"}, "vmid": {"type": "integer", "minimum": 100},
                       "type": {"type": "string", "description": "e.g. vzdump, qmstart"}, "limit": limit_prop()}),
                &[],
            ),
        )
        .title("List tasks")
        .output_schema(list_of("tasks", task_item())),
        ToolDef::new(
            "pve_get_task_status",
            "Status of one task by UPID; a failed task includes the end of its log.",
            input(upid_props, &["upid"]),
        )
        .title("Get task status")
        .output_schema({
            let mut s = task_item();
            s["properties"]["log_tail"] = json!({"type": "array", "items": {"type": "string"}});
            s
        }),
        ToolDef::new("pve_get_task_log", "Lines of one task's log, from line start (0-based).", input(log_props, &["upid"]))
            .title("Get task log")
            .output_schema(json!({"type": "object", "properties": {
                "upid": {"type": "string"}, "start": {"type": "integer"}, "count": {"type": "integer"},
                "lines": {"type": "array", "items": obj(&[("n", "integer"), ("t", "string")])}
            }, "required": ["upid", "start", "count", "lines"]})),
    ]
}

fn task_item() -> Value {
    obj(&[
        ("upid", "string"),
        ("node", "string"),
        ("type", "string"),
        ("id", "string?"),
        ("user", "string?"),
        ("status", "string"),
        ("ok", "boolean?"),
        ("starttime", "integer?"),
        ("endtime", "integer?"),
        ("duration_human", "string?"),
    ])
}

fn task_entry(t: &Value, status_override: Option<&str>) -> Value {
    let mut out = Map::new();
    out.insert("upid".into(), json!(text(t, "upid").unwrap_or_default()));
    out.insert("node".into(), json!(text(t, "node").unwrap_or_default()));
    out.insert("type".into(), json!(text(t, "type").unwrap_or_default()));
    out.insert("id".into(), json!(text(t, "id").filter(|s| !s.is_empty())));
    out.insert("user".into(), json!(text(t, "user")));
    let finished = uint(t, "endtime").is_some() || status_override == Some("stopped");
    let exit = text(t, "exitstatus").or_else(|| text(t, "status").filter(|s| s != "running" && s != "stopped"));
    let status = if finished { exit.clone().unwrap_or_else(|| "unknown".into()) } else { "running".into() };
    out.insert("ok".into(), json!(finished.then(|| exit.as_deref() == Some("OK"))));
    out.insert("status".into(), json!(status));
    out.insert("starttime".into(), json!(uint(t, "starttime")));
    out.insert("endtime".into(), json!(uint(t, "endtime")));
    let duration = match (uint(t, "starttime"), uint(t, "endtime")) {
        (Some(s), Some(e)) => Some(format::duration(e.saturating_sub(s))),
        _ => None,
    };
    out.insert("duration_human".into(), json!(duration));
    Value::Object(out)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListTasksArgs {
    node: Option<String>,
    errors: Option<bool>,
    vmid: Option<u32>,
    #[serde(rename = "type")]
    kind: Option<String>,
    limit: Option<usize>,
}

pub fn list_tasks(args: Value) -> Result<Output, ToolError> {
    let a: ListTasksArgs = parse_args(args)?;
    let limit = limit(a.limit, 20)?;
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
    let mut tasks: Vec<Value> = items(&raw)
        .iter()
        .map(|t| task_entry(t, None))
        .filter(|t| !errors || t["ok"] == false)
        .filter(|t| a.vmid.is_none_or(|v| t["id"].as_str() == Some(v.to_string().as_str())))
        .filter(|t| a.kind.as_deref().is_none_or(|k| t["type"] == k))
        .collect();
    tasks.sort_by(|x, y| y["starttime"].as_u64().cmp(&x["starttime"].as_u64()));
    let failed = tasks.iter().filter(|t| t["ok"] == false).count();
    let mut out = list_output("tasks", tasks, limit, "tasks");
    out.text.push_str(&format!(", {failed} failed"));
    Ok(out)
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TaskArgs {
    upid: String,
    node: Option<String>,
}

pub fn get_task_status(args: Value) -> Result<Output, ToolError> {
    let a: TaskArgs = parse_args(args)?;
    let node = task_node(&a.upid, a.node.as_deref())?;
    let s = pve::get(&["nodes", &node, "tasks", &a.upid, "status"], &Value::Null).map_err(on_node(&node))?;
    let mut out = task_entry(&s, text(&s, "status").as_deref());
    if out["ok"] == false {
        let log = pve::get(&["nodes", &node, "tasks", &a.upid, "log"], &json!({"start": 0, "limit": 5000}))
            .map_err(on_node(&node))?;
        let lines: Vec<String> = items(&log).iter().filter_map(|l| text(l, "t")).collect();
        let tail: Vec<String> = lines[lines.len().saturating_sub(TAIL)..].to_vec();
        out["log_tail"] = json!(tail);
    }
    let summary = match out["ok"].as_bool() {
        None => format!("task {} on {node} is running", out["type"].as_str().unwrap_or("?")),
        Some(true) => format!("task {} on {node} finished OK", out["type"].as_str().unwrap_or("?")),
        Some(false) => {
            format!("task {} on {node} FAILED (see status and log_tail)", out["type"].as_str().unwrap_or("?"))
        }
    };
    Ok(Output::new(out, summary))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TaskLogArgs {
    upid: String,
    node: Option<String>,
    start: Option<u64>,
    limit: Option<usize>,
}

pub fn get_task_log(args: Value) -> Result<Output, ToolError> {
    let a: TaskLogArgs = parse_args(args)?;
    let node = task_node(&a.upid, a.node.as_deref())?;
    let limit = limit(a.limit, DEFAULT_LIMIT)?;
    let start = a.start.unwrap_or(0);
    let log = pve::get(&["nodes", &node, "tasks", &a.upid, "log"], &json!({"start": start, "limit": limit}))
        .map_err(on_node(&node))?;
    let lines: Vec<Value> =
        items(&log).iter().map(|l| json!({"n": uint(l, "n"), "t": text(l, "t").unwrap_or_default()})).collect();
    let count = lines.len();
    Ok(Output::new(
        json!({"upid": a.upid, "start": start, "count": count, "lines": lines}),
        format!("{count} log lines from line {start}"),
    ))
}
