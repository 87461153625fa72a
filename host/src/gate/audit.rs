//! The audit log: one JSON line per tool call, hash-chained so that an
//! edited, removed or reordered line is found by `proxmcp audit verify`.
//!
//! Each line carries `prev` (the previous line's hash, 64 zeros for the
//! first) and `hash` = SHA-256 of `prev` followed by the line's JSON
//! without `hash`. Arguments are redacted before they are written: any key
//! containing password, secret, token, ticket or key (and configured
//! names) is replaced by `[redacted]`, at any depth.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::Serialize;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

/// The hash before the first line.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Key fragments whose values are always redacted.
const SECRET_KEYS: &[&str] = &["password", "secret", "token", "ticket", "key"];

/// One Proxmox request a call made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RequestRecord {
    /// HTTP method.
    pub method: String,
    /// Encoded path (after `/api2/json`).
    pub path: String,
    /// HTTP status, or 0 when the gate refused it and nothing was sent.
    pub status: u16,
    /// Milliseconds it took.
    pub ms: u64,
}

/// How a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// A result.
    Ok,
    /// A tool or Proxmox error.
    Error,
    /// A gate refused a request (grant, read-only, confirmation, dry run).
    Denied,
    /// The plugin trapped or ran past a limit.
    Trapped,
}

/// One audit line before it is chained.
#[derive(Debug, Clone, Serialize)]
pub struct Record {
    /// RFC 3339 time (UTC).
    pub time: String,
    /// Who called.
    pub principal: String,
    /// Their role.
    pub role: String,
    /// Plugin of the tool.
    pub plugin: String,
    /// Tool name.
    pub tool: String,
    /// Arguments, redacted.
    pub arguments: Value,
    /// How it ended.
    pub outcome: Outcome,
    /// Milliseconds.
    pub duration_ms: u64,
    /// Proxmox requests made.
    pub requests: Vec<RequestRecord>,
}

/// Why the audit log could not be used.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// Opening or writing the file failed.
    #[error("cannot write the audit log {path}: {source}; fix the path or permissions (PROXMCP_AUDIT_LOG)")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

enum Sink {
    File { path: PathBuf, file: std::fs::File },
    Stderr,
}

/// The audit log writer.
pub struct AuditLog {
    state: Mutex<(Sink, String)>,
    extra_secret_keys: Vec<String>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog").finish_non_exhaustive()
    }
}

impl AuditLog {
    /// Appends to `path` (continuing its chain), or writes to stderr when
    /// `None`.
    pub fn open(path: Option<&Path>, extra_secret_keys: Vec<String>) -> Result<AuditLog, AuditError> {
        let sink = match path {
            None => (Sink::Stderr, GENESIS.to_string()),
            Some(p) => {
                let io = |source| AuditError::Io { path: p.to_path_buf(), source };
                let last = match std::fs::read_to_string(p) {
                    Ok(text) => last_hash(&text),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => GENESIS.to_string(),
                    Err(e) => return Err(io(e)),
                };
                let file = std::fs::OpenOptions::new().create(true).append(true).open(p).map_err(io)?;
                (Sink::File { path: p.to_path_buf(), file }, last)
            }
        };
        Ok(AuditLog { state: Mutex::new(sink), extra_secret_keys })
    }

    /// Redacts secrets in tool arguments.
    pub fn redact(&self, args: &Value) -> Value {
        redact(args, &self.extra_secret_keys)
    }

    /// Chains and writes one record.
    pub fn write(&self, record: &Record) -> Result<(), AuditError> {
        let mut state = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let (sink, prev) = &mut *state;
        let line = chain(record, prev);
        let hash = line["hash"].as_str().unwrap_or_default().to_string();
        let text = format!("{line}\n");
        match sink {
            Sink::Stderr => {
                eprint!("{text}");
            }
            Sink::File { path, file } => {
                file.write_all(text.as_bytes())
                    .and_then(|()| file.flush())
                    .map_err(|source| AuditError::Io { path: path.clone(), source })?;
            }
        }
        *prev = hash;
        Ok(())
    }
}

/// The record as a JSON object with `prev` and `hash` set.
fn chain(record: &Record, prev: &str) -> Value {
    let mut obj = match serde_json::to_value(record) {
        Ok(Value::Object(o)) => o,
        _ => Map::new(),
    };
    obj.insert("prev".into(), json!(prev));
    obj.insert("hash".into(), json!(hash_of(&obj, prev)));
    Value::Object(obj)
}

/// SHA-256 over `prev` and the line without its `hash` member. serde_json
/// maps keep their keys sorted, so the text is canonical.
fn hash_of(obj: &Map<String, Value>, prev: &str) -> String {
    let mut body = obj.clone();
    body.remove("hash");
    let mut h = Sha256::new();
    h.update(prev.as_bytes());
    h.update(Value::Object(body).to_string().as_bytes());
    hex::encode(h.finalize())
}

fn last_hash(text: &str) -> String {
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .and_then(|l| serde_json::from_str::<Value>(l).ok())
        .and_then(|v| v["hash"].as_str().map(str::to_string))
        .unwrap_or_else(|| GENESIS.to_string())
}

fn redact(v: &Value, extra: &[String]) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let lower = k.to_ascii_lowercase();
                    let secret = SECRET_KEYS.iter().any(|s| lower.contains(s))
                        || extra.iter().any(|s| lower == s.to_ascii_lowercase());
                    (k.clone(), if secret { json!("[redacted]") } else { redact(v, extra) })
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(|i| redact(i, extra)).collect()),
        other => other.clone(),
    }
}

/// What `verify` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every line chains; the count of lines.
    Intact(usize),
    /// The first broken line (1-based) and why.
    Broken {
        /// Line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
}

/// Checks a whole audit log text.
pub fn verify(text: &str) -> Verdict {
    let mut prev = GENESIS.to_string();
    let mut count = 0;
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let Ok(Value::Object(obj)) = serde_json::from_str::<Value>(line) else {
            return Verdict::Broken { line: n, reason: "not a JSON object".into() };
        };
        let claimed_prev = obj.get("prev").and_then(Value::as_str).unwrap_or_default();
        if claimed_prev != prev {
            return Verdict::Broken {
                line: n,
                reason: "does not follow the line before it (a line was removed, inserted or reordered)".into(),
            };
        }
        let claimed = obj.get("hash").and_then(Value::as_str).unwrap_or_default().to_string();
        if hash_of(&obj, &prev) != claimed {
            return Verdict::Broken {
                line: n,
                reason: "its content does not match its hash (the line was edited)".into(),
            };
        }
        prev = claimed;
        count += 1;
    }
    Verdict::Intact(count)
}

/// Now as RFC 3339 UTC with seconds.
pub fn now_rfc3339() -> String {
    crate::clock::rfc3339(crate::clock::unix_now())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(tool: &str) -> Record {
        Record {
            time: now_rfc3339(),
            principal: "local".into(),
            role: "admin".into(),
            plugin: "inventory".into(),
            tool: tool.into(),
            arguments: json!({"vmid": 100}),
            outcome: Outcome::Ok,
            duration_ms: 3,
            requests: vec![RequestRecord { method: "GET".into(), path: "/version".into(), status: 200, ms: 1 }],
        }
    }

    fn log_text(n: usize) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let log = AuditLog::open(Some(&path), vec![]).unwrap();
        for i in 0..n {
            log.write(&record(&format!("tool_{i}"))).unwrap();
        }
        (dir, path)
    }

    #[test]
    fn an_untouched_log_verifies_and_reopening_continues_the_chain() {
        let (_dir, path) = log_text(3);
        let again = AuditLog::open(Some(&path), vec![]).unwrap();
        again.write(&record("tool_3")).unwrap();
        assert_eq!(verify(&std::fs::read_to_string(&path).unwrap()), Verdict::Intact(4));
    }

    #[test]
    fn edited_removed_and_reordered_lines_are_found() {
        let (_dir, path) = log_text(4);
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();

        let edited = text.replacen("tool_2", "tool_X", 1);
        assert!(matches!(verify(&edited), Verdict::Broken { line: 3, ref reason } if reason.contains("edited")));

        let removed = [lines[0], lines[2], lines[3]].join("\n");
        assert!(matches!(verify(&removed), Verdict::Broken { line: 2, ref reason } if reason.contains("removed")));

        let reordered = [lines[0], lines[2], lines[1], lines[3]].join("\n");
        assert!(matches!(verify(&reordered), Verdict::Broken { line: 2, .. }));

        assert!(matches!(verify("{not json"), Verdict::Broken { line: 1, .. }));
    }

    #[test]
    fn secrets_are_redacted_at_any_depth() {
        let args = json!({"vmid": 1, "password": "p", "nested": {"api_token": "t", "ok": [ {"ssh_key": "k"} ]}, "cipassword": "c", "label": "x"});
        let out = redact(&args, &["label".to_string()]);
        assert_eq!(
            out,
            json!({"vmid": 1, "password": "[redacted]", "nested": {"api_token": "[redacted]", "ok": [{"ssh_key": "[redacted]"}]}, "cipassword": "[redacted]", "label": "[redacted]"})
        );
    }
}
