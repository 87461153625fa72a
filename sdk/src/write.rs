//! Helpers for tools that change the cluster: dry runs that list the exact
//! requests instead of sending them, and answers built from a task's end.
//!
//! The host enforces both `confirm` and `dry_run` on every request; these
//! helpers make a plugin's answer say what happened.

use serde_json::{Value, json};

use crate::bindings::proxmcp::plugin::pve as raw;
use crate::bindings::proxmcp::plugin::types::TaskStatus;
use crate::{ApiError, Method, Output, ToolError, pve};

/// Default wait for a task, in milliseconds; the host caps it by the
/// deployment's task wait and the call's deadline.
pub const DEFAULT_WAIT_MS: u32 = 300_000;

/// The writes of one tool call: sent, or in a dry run only recorded.
#[derive(Debug, Default)]
pub struct Writes {
    dry_run: bool,
    planned: Vec<Value>,
}

impl Writes {
    /// Reads `dry_run` from the call's arguments.
    pub fn from_args(args: &Value) -> Writes {
        Writes { dry_run: args.get("dry_run") == Some(&Value::Bool(true)), planned: Vec::new() }
    }

    /// Whether this call is a dry run.
    pub fn is_dry_run(&self) -> bool {
        self.dry_run
    }

    /// Sends one write, or in a dry run records it; `None` means recorded.
    pub fn send(&mut self, method: Method, path: &[&str], params: &Value) -> Result<Option<Value>, ApiError> {
        if self.dry_run {
            let shown: Vec<String> = path.iter().map(|s| (*s).to_string()).collect();
            self.planned.push(json!({
                "method": method_name(method),
                "path": format!("/{}", shown.join("/")),
                "params": if params.is_null() { json!({}) } else { params.clone() },
            }));
            return Ok(None);
        }
        pve::request(method, path, params).map(Some)
    }

    /// The answer of a dry run: what would be done and the exact requests.
    pub fn dry_run_output(self, what: &str, mut extra: Value) -> Output {
        if !extra.is_object() {
            extra = json!({});
        }
        extra["dry_run"] = json!(true);
        extra["requests"] = json!(self.planned);
        Output::new(extra, format!("dry run: would {what}; nothing was sent"))
    }
}

fn method_name(m: Method) -> &'static str {
    match m {
        Method::Get => "GET",
        Method::Post => "POST",
        Method::Put => "PUT",
        Method::Delete => "DELETE",
    }
}

/// Waits for task `upid` and answers: done, still running (with the UPID to
/// follow), cancelled, or failed with the exit status and log tail.
pub fn task_output(node: &str, upid: &str, what: &str, wait_ms: u32) -> Result<Output, ToolError> {
    let r = raw::wait_task(node, upid, wait_ms)?;
    let data = json!({"status": status_name(r.status), "upid": r.upid, "node": r.node,
                      "exitstatus": r.exitstatus, "log_tail": r.log_tail});
    match r.status {
        TaskStatus::Ok => Ok(Output::new(data, format!("{what}: done"))),
        TaskStatus::Running => {
            Ok(Output::new(data, format!("{what}: still running; follow it with pve_get_task_status and the upid")))
        }
        TaskStatus::Cancelled => Ok(Output::new(data, format!("{what}: stopped waiting; the Proxmox task goes on"))),
        TaskStatus::Failed => Err(ToolError::Other(format!(
            "{what} failed: {}; last log lines: {}; upid {}",
            r.exitstatus.unwrap_or_default(),
            r.log_tail.join(" | "),
            r.upid
        ))),
    }
}

fn status_name(s: TaskStatus) -> &'static str {
    match s {
        TaskStatus::Ok => "ok",
        TaskStatus::Failed => "failed",
        TaskStatus::Running => "running",
        TaskStatus::Cancelled => "cancelled",
    }
}

/// Output schema of a write tool's answer (task outcome or dry run).
pub fn task_output_schema() -> Value {
    json!({"type": "object", "properties": {
        "status": {"type": "string", "enum": ["ok", "running", "cancelled"]},
        "upid": {"type": "string"}, "node": {"type": "string"},
        "exitstatus": {"type": ["string", "null"]}, "log_tail": {"type": "array", "items": {"type": "string"}},
        "dry_run": {"type": "boolean"},
        "requests": {"type": "array", "items": {"type": "object"}}
    }})
}
