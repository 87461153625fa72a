//! Helpers for tools that change the cluster: dry runs that list the exact
//! requests instead of sending them, and answers built from a task's end.
//!
//! The host enforces both `confirm` and `dry_run` on every request; these
//! helpers make a plugin's answer say what happened.

use serde::Serialize;
use serde_json::{Value, json};

use crate::bindings::proxmcp::plugin::types::TaskStatus;
use crate::{Answer, ApiError, Method, ToolError, pve};

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
    /// Whether this call is a dry run (writes are listed, not sent).
    pub fn dry_run(&self) -> bool {
        self.dry_run
    }

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
                "params": if params.is_null() { json!({}) } else { redact(params) },
            }));
            return Ok(None);
        }
        pve::request(method, path, params).map(Some)
    }

    /// Takes the recorded requests as the dry-run part of an answer.
    pub fn take_plan(&mut self) -> Plan {
        Plan { dry_run: Some(true), requests: Some(std::mem::take(&mut self.planned)) }
    }

    /// Answers a write sent with [`send`](Self::send): in a dry run the
    /// planned requests; for a task (a UPID) its end, waited for; for a
    /// synchronous answer `ok`. `details` (new ids, changes, checks) are
    /// part of every answer.
    pub fn finish<D>(
        &mut self,
        node: &str,
        sent: Option<Value>,
        what: &str,
        details: D,
    ) -> Result<Answer<Outcome<D>>, ToolError> {
        match sent {
            None => {
                let plan = self.take_plan();
                Ok(Answer::new(Outcome { plan, ..Outcome::new(details) }, dry_run_text(what)))
            }
            Some(Value::String(upid)) if upid.starts_with("UPID:") => task(node, &upid, what, DEFAULT_WAIT_MS, details),
            Some(_) => {
                let done =
                    Outcome { status: Some(TaskState::Ok), node: Some(node.to_string()), ..Outcome::new(details) };
                Ok(Answer::new(done, format!("{what}: done")))
            }
        }
    }
}

/// The summary line of a dry run.
pub fn dry_run_text(what: &str) -> String {
    format!("dry run: would {what}; nothing was sent")
}

/// The dry-run part of a write's answer: absent when the call was sent.
#[derive(Debug, Default, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Plan {
    /// `true` in a dry run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dry_run: Option<bool>,
    /// The exact requests a real call sends, secrets redacted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requests: Option<Vec<Value>>,
}

/// How a task ended, as far as the wait saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum TaskState {
    /// Finished successfully.
    Ok,
    /// Still going when the wait ended.
    Running,
    /// The wait was stopped; the task goes on.
    Cancelled,
}

/// A write's answer with no details of its own.
#[derive(Debug, Default, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Nothing {}

/// The answer of a write tool: the task's outcome (or the dry run's plan)
/// and the tool's own `details`, side by side in one object.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Outcome<D = Nothing> {
    /// Absent in a dry run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<TaskState>,
    /// The task to follow with `pve_get_task_status`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upid: Option<String>,
    /// The node that ran it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// Proxmox's exit status of a finished task.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exitstatus: Option<String>,
    /// The task log's last lines.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_tail: Option<Vec<String>>,
    /// In a dry run, the requests.
    #[serde(flatten)]
    pub plan: Plan,
    /// The tool's own fields.
    #[serde(flatten)]
    pub details: D,
}

impl<D> Outcome<D> {
    /// An outcome with only `details` filled in.
    pub fn new(details: D) -> Self {
        Outcome {
            status: None,
            upid: None,
            node: None,
            exitstatus: None,
            log_tail: None,
            plan: Plan::default(),
            details,
        }
    }
}

/// Keys that hold secrets wherever they appear; the host's endpoint model
/// uses the same list (a host test keeps them equal).
pub const SECRET_KEYS: &[&str] = &[
    "password",
    "cipassword",
    "confirmation-password",
    "new-password",
    "secret",
    "ticket",
    "vncticket",
    "CSRFPreventionToken",
    "certkey",
    "client-key",
    "eab-hmac-key",
    "encryption-key",
    "keyring",
    "private-key",
];

/// Fragments that make any key secret (`api_token`, `root_password`, ...).
pub const SECRET_FRAGMENTS: &[&str] = &["password", "passwd", "secret", "ticket", "token"];

/// Whether a parameter or config key holds a secret (a guest's
/// `cipassword`, a `password`, an API token or ticket): its value is never
/// shown in an answer. `tokenid` and `tokens` name tokens, not secrets.
pub fn is_secret_key(key: &str) -> bool {
    let lower = key.to_ascii_lowercase();
    if SECRET_KEYS.iter().any(|k| k.eq_ignore_ascii_case(key)) {
        return true;
    }
    if lower.ends_with("tokenid") || matches!(lower.as_str(), "tokens" | "token-coefficient") {
        return false;
    }
    SECRET_FRAGMENTS.iter().any(|f| lower.contains(f))
}

/// `value` with the values of secret keys (at any depth) replaced by
/// `"[redacted]"`.
pub fn redact(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let v = if is_secret_key(k) && !v.is_null() { json!("[redacted]") } else { redact(v) };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(redact).collect()),
        other => other.clone(),
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
pub fn task<D>(node: &str, upid: &str, what: &str, wait_ms: u32, details: D) -> Result<Answer<Outcome<D>>, ToolError> {
    let r = pve::wait_task(node, upid, wait_ms)?;
    let (state, text) = match r.status {
        TaskStatus::Ok => (TaskState::Ok, format!("{what}: done")),
        TaskStatus::Running => {
            (TaskState::Running, format!("{what}: still running; follow it with pve_get_task_status and the upid"))
        }
        TaskStatus::Cancelled => (TaskState::Cancelled, format!("{what}: stopped waiting; the Proxmox task goes on")),
        TaskStatus::Failed => {
            return Err(ToolError::Other(format!(
                "{what} failed: {}; last log lines: {}; upid {}",
                r.exitstatus.unwrap_or_default(),
                r.log_tail.join(" | "),
                r.upid
            )));
        }
    };
    let outcome = Outcome {
        status: Some(state),
        upid: Some(r.upid),
        node: Some(r.node),
        exitstatus: r.exitstatus,
        log_tail: Some(r.log_tail),
        ..Outcome::new(details)
    };
    Ok(Answer::new(outcome, text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_values_are_redacted_at_any_depth() {
        let v = json!({"cipassword": "hunter2", "name": "web", "nested": [{"api_token": "t"}], "memory": 2048});
        let r = redact(&v);
        assert_eq!(r["cipassword"], "[redacted]");
        assert_eq!(r["nested"][0]["api_token"], "[redacted]");
        assert_eq!(r["name"], "web");
        assert_eq!(r["memory"], 2048);
        assert!(!r.to_string().contains("hunter2"));
    }
}
