//! The audit log: one JSON line per tool call, in a keyed hash chain so
//! that an edited, removed, reordered, appended or truncated line is found
//! by `proxmcp audit verify`.
//!
//! Each line carries `seq` (1, 2, ...), `prev` (the previous line's hash,
//! 64 zeros for the first) and `hash` = HMAC-SHA-256 under the log's key of
//! `prev` followed by the line's JSON without `hash`, keys sorted (the
//! line carries `hash` as its last member). The key sits in a
//! 0600 file beside the log (`FILE.key`, created on first use) or where
//! `[audit] key_file` says; without it nobody can forge a line. The chain's
//! head (last `seq` and `hash`) is rewritten in place in `FILE.head` after
//! every line and logged at start, every [`ANCHOR_EVERY`] lines and at shutdown,
//! so a log pipeline can anchor it off-box and a cut-off end shows.
//!
//! Arguments are redacted before they are written (the endpoint model's
//! secret keys plus `[audit] redact`, by default `input`) and capped at
//! [`MAX_ARGUMENT_BYTES`]; calls refused before running keep only a digest.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use hmac::{Hmac, Mac};
use serde::Serialize;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::access::Caller;
use crate::pve::endpoints;

/// The hash before the first line.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Largest serialized arguments written in full; larger ones keep their
/// size, top-level keys and SHA-256.
pub const MAX_ARGUMENT_BYTES: usize = 4096;

/// The chain head is logged every this many lines.
pub const ANCHOR_EVERY: u64 = 100;

/// One Proxmox request a call made. Members in sorted order: the line's
/// canonical text (see [`Line`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RequestRecord {
    /// HTTP method.
    pub method: String,
    /// Milliseconds it took.
    pub ms: u64,
    /// Encoded path (after `/api2/json`).
    pub path: String,
    /// HTTP status, or 0 when the gate refused it and nothing was sent.
    pub status: u16,
}

/// How a call ended, as the gates and Proxmox saw it (never the plugin's
/// word alone).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// A result, and Proxmox accepted every request.
    Ok,
    /// A tool or Proxmox error.
    Error,
    /// A gate refused the call or its writes, and nothing was written.
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
    /// Plugin of the tool (empty for an unknown tool).
    pub plugin: String,
    /// Tool name.
    pub tool: String,
    /// The Proxmox target the call's requests went to (with several).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Arguments, redacted and capped.
    pub arguments: Value,
    /// How it ended.
    pub outcome: Outcome,
    /// How its writes were approved, if any were.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approved_by: Option<String>,
    /// Milliseconds.
    pub duration_ms: u64,
    /// Proxmox requests made.
    pub requests: Vec<RequestRecord>,
}

/// A record as its line says it, chained: members in sorted order, the
/// canonical text [`hash_of`] covers, so the line is serialized once,
/// without building a map of it first.
#[derive(Serialize)]
struct Line<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    approved_by: Option<&'a str>,
    arguments: &'a Value,
    duration_ms: u64,
    outcome: Outcome,
    plugin: &'a str,
    prev: &'a str,
    principal: &'a str,
    requests: &'a [RequestRecord],
    role: &'a str,
    seq: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    target: Option<&'a str>,
    time: &'a str,
    tool: &'a str,
}

impl<'a> Line<'a> {
    fn of(r: &'a Record, seq: u64, prev: &'a str) -> Self {
        Line {
            approved_by: r.approved_by.as_deref(),
            arguments: &r.arguments,
            duration_ms: r.duration_ms,
            outcome: r.outcome,
            plugin: &r.plugin,
            prev,
            principal: &r.principal,
            requests: &r.requests,
            role: &r.role,
            seq,
            target: r.target.as_deref(),
            time: &r.time,
            tool: &r.tool,
        }
    }
}

/// What the gate knows about a call when it audits it.
#[derive(Debug)]
pub struct Call<'a> {
    /// Who called.
    pub caller: &'a Caller,
    /// The tool's plugin.
    pub plugin: &'a str,
    /// The tool.
    pub tool: &'a str,
    /// Arguments as given.
    pub arguments: &'a Value,
    /// How it ended.
    pub outcome: Outcome,
    /// When it started.
    pub started: Instant,
    /// Its Proxmox requests.
    pub requests: Vec<RequestRecord>,
    /// How its writes were approved.
    pub approved_by: Option<String>,
    /// Its target, when the deployment has several.
    pub target: Option<&'a str>,
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
    /// The chain key is unusable.
    #[error("the audit chain key {path} is unusable: {why}")]
    Key {
        /// The key file.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
}

enum Sink {
    File { path: PathBuf, head: std::fs::File, file: std::fs::File },
    Stderr,
}

struct State {
    sink: Sink,
    prev: String,
    seq: u64,
}

/// The audit log writer.
pub struct AuditLog {
    state: Mutex<State>,
    key: Vec<u8>,
    redact_keys: Vec<String>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog").finish_non_exhaustive()
    }
}

/// The key file of a log at `path` unless configured: `PATH.key`.
pub fn default_key_file(path: &Path) -> PathBuf {
    sibling(path, "key")
}

/// The head file of a log at `path`: `PATH.head`.
pub fn head_file(path: &Path) -> PathBuf {
    sibling(path, "head")
}

fn sibling(path: &Path, ext: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{ext}"));
    path.with_file_name(name)
}

/// How [`open_private`] writes to a file.
#[derive(Clone, Copy)]
enum Writes {
    /// At its end.
    Append,
    /// From scratch.
    Truncate,
    /// Over what it holds (the head file).
    InPlace,
}

/// Opens for writing, creating the file 0600.
fn open_private(path: &Path, how: Writes) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut o = std::fs::OpenOptions::new();
    o.create(true).mode(0o600);
    match how {
        Writes::Append => o.append(true),
        Writes::Truncate => o.write(true).truncate(true),
        Writes::InPlace => o.write(true).truncate(false),
    };
    o.open(path)
}

/// Reads the chain key at `path`, creating a random one (0600) if absent.
pub fn load_or_create_key(path: &Path) -> Result<Vec<u8>, AuditError> {
    let err = |why: String| AuditError::Key { path: path.to_path_buf(), why };
    match std::fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8(bytes).map_err(|_| err("it is not hex text".into()))?;
            let key = hex::decode(text.trim()).map_err(|_| err("it is not hex text".into()))?;
            if key.len() < 16 {
                return Err(err("it is shorter than 16 bytes".into()));
            }
            Ok(key)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut key = vec![0u8; 32];
            getrandom::fill(&mut key).map_err(|e| err(e.to_string()))?;
            let mut f = open_private(path, Writes::Truncate).map_err(|e| err(e.to_string()))?;
            f.write_all(format!("{}\n", hex::encode(&key)).as_bytes()).map_err(|e| err(e.to_string()))?;
            Ok(key)
        }
        Err(e) => Err(err(e.to_string())),
    }
}

impl AuditLog {
    /// Appends to `path` (continuing its chain), or writes to stderr when
    /// `None`. `redact` names more arguments to hide (`None`: the default
    /// list). A partial last line (a crash mid-write) is ended and marked;
    /// a file that cannot be read as a chain is moved aside and a new
    /// segment begins, both logged.
    pub fn open(
        path: Option<&Path>,
        redact: Option<Vec<String>>,
        key_file: Option<&Path>,
    ) -> Result<AuditLog, AuditError> {
        let redact_keys =
            redact.unwrap_or_else(|| crate::defaults::AUDIT_REDACT.iter().map(|s| (*s).to_string()).collect());
        let Some(p) = path else {
            let key = match key_file {
                Some(k) => load_or_create_key(k)?,
                None => {
                    let mut key = vec![0u8; 32];
                    getrandom::fill(&mut key)
                        .map_err(|e| AuditError::Key { path: PathBuf::from("(memory)"), why: e.to_string() })?;
                    key
                }
            };
            let state = State { sink: Sink::Stderr, prev: GENESIS.to_string(), seq: 0 };
            return Ok(AuditLog { state: Mutex::new(state), key, redact_keys });
        };
        let io = |source| AuditError::Io { path: p.to_path_buf(), source };
        let key = load_or_create_key(&key_file.map_or_else(|| default_key_file(p), Path::to_path_buf))?;
        let mut pending: Vec<Value> = Vec::new();
        let (mut prev, mut seq) = (GENESIS.to_string(), 0);
        match read_tail(p) {
            Ok(bytes) => match tail_of(&bytes) {
                Ok(Tail { prev: last, seq: n, partial }) => {
                    (prev, seq) = (last, n);
                    if let Some(partial) = partial {
                        tracing::error!(file = %p.display(), "the audit log ends in a partial line (a crash mid-write); ending it and continuing the chain with a marker");
                        let mut f = open_private(p, Writes::Append).map_err(io)?;
                        f.write_all(b"\n").map_err(io)?;
                        pending.push(json!({"event": "partial_line_ended", "time": now_rfc3339(),
                                            "partial_sha256": hex::encode(Sha256::digest(&partial))}));
                    }
                }
                Err(why) => {
                    let aside = sibling(p, &format!("damaged-{}", crate::clock::unix_now()));
                    let bytes = std::fs::read(p).map_err(io)?;
                    std::fs::rename(p, &aside).map_err(io)?;
                    tracing::error!(file = %p.display(), moved_to = %aside.display(), "the audit log cannot be read as a chain ({why}); it was moved aside and a new segment begins");
                    pending.push(json!({"event": "segment_start", "time": now_rfc3339(),
                                        "reason": why, "previous_file": aside.display().to_string(),
                                        "previous_sha256": hex::encode(Sha256::digest(&bytes))}));
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(e)),
        }
        let file = open_private(p, Writes::Append).map_err(io)?;
        let head_path = head_file(p);
        let head = open_head(&head_path).map_err(|source| AuditError::Io { path: head_path, source })?;
        let sink = Sink::File { path: p.to_path_buf(), head, file };
        let log = AuditLog { state: Mutex::new(State { sink, prev, seq }), key, redact_keys };
        for marker in pending {
            log.append(marker)?;
        }
        log.anchor("opened");
        Ok(log)
    }

    /// The audit record of `call`: arguments redacted and capped.
    pub fn record(&self, call: Call<'_>) -> Record {
        Record {
            time: now_rfc3339(),
            principal: call.caller.principal.clone(),
            role: call.caller.role.name.clone(),
            plugin: call.plugin.to_string(),
            tool: call.tool.to_string(),
            target: call.target.map(str::to_string),
            arguments: cap(self.redact(call.arguments)),
            outcome: call.outcome,
            approved_by: call.approved_by,
            duration_ms: call.started.elapsed().as_millis() as u64,
            requests: call.requests,
        }
    }

    /// Redacts secrets in tool arguments.
    pub fn redact(&self, args: &Value) -> Value {
        let mut out = args.clone();
        let extra = &self.redact_keys;
        endpoints::redact_in_place(&mut out, &|k| {
            endpoints::is_secret_key(k) || extra.iter().any(|e| e.eq_ignore_ascii_case(k))
        });
        out
    }

    /// Chains and writes one record.
    pub fn write(&self, record: &Record) -> Result<(), AuditError> {
        self.chain(|seq, prev| serde_json::to_string(&Line::of(record, seq, prev)).unwrap_or_default())
    }

    fn append(&self, body: Value) -> Result<(), AuditError> {
        self.chain(|seq, prev| {
            let mut obj = match body {
                Value::Object(o) => o,
                _ => Map::new(),
            };
            obj.insert("seq".into(), json!(seq));
            obj.insert("prev".into(), json!(prev));
            serde_json::to_string(&obj).unwrap_or_default()
        })
    }

    /// Writes the line `text_of(seq, prev)` gives, its `hash` appended as
    /// the last member: the text the hash covers becomes the line (a
    /// reader parses the line, removes `hash` and serializes the rest
    /// again, keys sorted, to check it).
    fn chain(&self, text_of: impl FnOnce(u64, &str) -> String) -> Result<(), AuditError> {
        let mut state = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let seq = state.seq + 1;
        let mut text = text_of(seq, &state.prev);
        let hash = mac_hex(&self.key, &state.prev, &text);
        text.pop();
        text.push_str(",\"hash\":\"");
        text.push_str(&hash);
        text.push_str("\"}\n");
        match &mut state.sink {
            Sink::Stderr => eprint!("{text}"),
            Sink::File { path, head, file } => {
                let io = |source| AuditError::Io { path: path.clone(), source };
                file.write_all(text.as_bytes()).and_then(|()| file.flush()).map_err(io)?;
                write_head(head, seq, &hash).map_err(io)?;
            }
        }
        state.seq = seq;
        state.prev = hash;
        drop(state);
        if seq.is_multiple_of(ANCHOR_EVERY) {
            self.anchor("every 100 lines");
        }
        Ok(())
    }

    /// Logs the chain head so a log pipeline keeps it off-box.
    pub fn anchor(&self, when: &str) {
        let state = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        tracing::info!(seq = state.seq, head = %state.prev, "audit chain head ({when})");
    }
}

impl Drop for AuditLog {
    fn drop(&mut self) {
        self.anchor("shutdown");
    }
}

/// The head file's fixed size: the record, padded with spaces, and a newline.
const HEAD_BYTES: usize = 128;

/// Opens the head file for rewriting in place, 0600. What it says now is
/// kept until the next line (it is the evidence of a cut-off end); every
/// record is `HEAD_BYTES` long, so each write covers the whole file.
fn open_head(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::PermissionsExt;
    let file = open_private(path, Writes::InPlace)?;
    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    if file.metadata()?.len() > HEAD_BYTES as u64 {
        file.set_len(HEAD_BYTES as u64)?;
    }
    Ok(file)
}

/// Rewrites the head record with one positioned write of the same size
/// every time (not a new file and a rename per line, which cost more than
/// the rest of the line); not synced per line, like the log itself.
fn write_head(head: &std::fs::File, seq: u64, hash: &str) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    head.write_all_at(head_record(seq, hash).as_bytes(), 0)
}

/// `{"hash":HASH,"seq":SEQ}` padded to `HEAD_BYTES`, written without a
/// JSON map: it is built under the chain's lock for every line. The hash
/// is hex, so it needs no escaping.
fn head_record(seq: u64, hash: &str) -> String {
    use std::fmt::Write as _;
    let mut record = String::with_capacity(HEAD_BYTES);
    let _ = write!(record, "{{\"hash\":\"{hash}\",\"seq\":{seq}}}");
    let pad = HEAD_BYTES.saturating_sub(record.len() + 1);
    record.extend(std::iter::repeat_n(' ', pad));
    record.push('\n');
    record
}

/// Arguments over [`MAX_ARGUMENT_BYTES`] become their size, keys and hash.
fn cap(args: Value) -> Value {
    if json_len(&args) <= MAX_ARGUMENT_BYTES {
        return args;
    }
    let text = args.to_string();
    let keys: Vec<&String> = args.as_object().map(|o| o.keys().collect()).unwrap_or_default();
    json!({"truncated": true, "bytes": text.len(), "keys": keys, "sha256": hex::encode(Sha256::digest(text.as_bytes()))})
}

/// A refused call's arguments: only their size and hash.
pub fn digest_only(args: &Value) -> Value {
    let text = args.to_string();
    json!({"bytes": text.len(), "sha256": hex::encode(Sha256::digest(text.as_bytes()))})
}

/// The length of `value`'s JSON text, without building the text.
fn json_len(value: &Value) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0 += bytes.len();
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    let _ = serde_json::to_writer(&mut count, value);
    count.0
}

/// HMAC-SHA-256 over `prev` and the line without its `hash` member
/// (`body` must not have one). serde_json maps keep their keys sorted, so
/// the text is canonical.
fn hash_of(key: &[u8], body: &Map<String, Value>, prev: &str) -> String {
    mac_hex(key, prev, &serde_json::to_string(body).unwrap_or_default())
}

/// HMAC-SHA-256 over `prev` and a line's canonical text without `hash`.
fn mac_hex(key: &[u8], prev: &str, text: &str) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        return String::new();
    };
    mac.update(prev.as_bytes());
    mac.update(text.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// The end of the file at `path` from a line start on: enough to hold its
/// last complete line (and a partial one after it), so opening a long log
/// does not read all of it.
fn read_tail(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    let mut window: u64 = 64 << 10;
    loop {
        let start = len.saturating_sub(window);
        file.seek(SeekFrom::Start(start))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        if start == 0 {
            return Ok(bytes);
        }
        // Drop the line the window starts inside; keep the window only if a
        // whole line is left before the end (a last line may be partial).
        if let Some(first) = bytes.iter().position(|b| *b == b'\n') {
            let rest = bytes.split_off(first + 1);
            if rest.contains(&b'\n') {
                return Ok(rest);
            }
        }
        window *= 4;
    }
}

struct Tail {
    prev: String,
    seq: u64,
    /// A last line without its newline (a crash mid-write).
    partial: Option<Vec<u8>>,
}

/// Where the chain of an existing file ends.
fn tail_of(bytes: &[u8]) -> Result<Tail, String> {
    let (complete, partial) = match bytes.iter().rposition(|b| *b == b'\n') {
        Some(i) if i + 1 < bytes.len() => (&bytes[..=i], Some(bytes[i + 1..].to_vec())),
        Some(_) => (bytes, None),
        None if bytes.is_empty() => (bytes, None),
        None => (&bytes[..0], Some(bytes.to_vec())),
    };
    let text = std::str::from_utf8(complete).map_err(|e| format!("it is not UTF-8 text ({e})"))?;
    let Some(last) = text.lines().rev().find(|l| !l.trim().is_empty()) else {
        return Ok(Tail { prev: GENESIS.to_string(), seq: 0, partial });
    };
    let v: Value = serde_json::from_str(last).map_err(|_| "its last line is not JSON".to_string())?;
    match (v["hash"].as_str(), v["seq"].as_u64()) {
        (Some(h), Some(seq)) => Ok(Tail { prev: h.to_string(), seq, partial }),
        _ => Err("its last line has no seq and hash".to_string()),
    }
}

/// Now as RFC 3339 UTC with seconds.
pub fn now_rfc3339() -> String {
    crate::clock::rfc3339(crate::clock::unix_now())
}

#[cfg(test)]
mod tests;
mod verify;

pub use verify::{Verdict, verify};
