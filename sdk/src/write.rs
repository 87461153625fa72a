//! Helpers for tools that change the cluster: dry runs that list the exact
//! requests instead of sending them, and answers built from a task's end.
//!
//! The host enforces both `confirm` and `dry_run` on every request; these
//! helpers make a plugin's answer say what happened.

use serde_json::{Value, json};

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
                "params": if params.is_null() { json!({}) } else { redact(params) },
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
pub fn task_output(node: &str, upid: &str, what: &str, wait_ms: u32) -> Result<Output, ToolError> {
    let r = pve::wait_task(node, upid, wait_ms)?;
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
