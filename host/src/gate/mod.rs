//! Safety gates: which plugins load, which tools exist, and which Proxmox
//! requests a tool call may make. The plugin is never trusted with any of
//! it: its hints are shown to clients, but only its grant, the deployment's
//! read-only switch and the call's `confirm` decide what is sent.
//!
//! Deny by default: a request passes only when the plugin's grant covers
//! it, read-only mode is off or the request is a `GET`, and (for writes) the
//! tool call carried `confirm: true`. Every refusal names what is missing.

pub mod audit;
pub mod grants;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio_util::sync::CancellationToken;

pub use audit::{AuditLog, Outcome, Record, RequestRecord};
pub use grants::{Grant, GrantError};

use crate::pve::{ApiError, GuestInfo, Method, PveClient, TaskOutcome, TaskProgress, encode_path};
use crate::runtime::{Broker, CallError, LoadError, LoadedPlugin, PluginSource, Runtime, ToolOutput, ToolSpec};

/// The deployment's policy.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Load only GET-only plugins and refuse every non-GET request.
    pub read_only: bool,
    /// Longest wait for a Proxmox task inside one call.
    pub task_wait: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Policy { read_only: false, task_wait: Duration::from_secs(30) }
    }
}

/// Receives progress while a call waits for a Proxmox task.
pub type ProgressSink = Arc<dyn Fn(TaskProgress) + Send + Sync>;

/// What the transport knows about one call: where progress goes and
/// whether the client gave up.
#[derive(Clone, Default)]
pub struct CallContext {
    /// Progress reports, when the client asked for them.
    pub progress: Option<ProgressSink>,
    /// Cancelled when the client cancels the request.
    pub cancel: CancellationToken,
}

/// Why the gate could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A plugin could not be loaded.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// A plugin's manifest has a grant that does not parse.
    #[error("plugin {plugin:?}: {source}")]
    Grant {
        /// The plugin.
        plugin: String,
        /// The parse error.
        source: GrantError,
    },
    /// Two plugins share a name.
    #[error("two plugins are named {name:?} ({first} and {second}); remove one from the configuration")]
    DuplicatePlugin {
        /// The shared name.
        name: String,
        /// First origin.
        first: String,
        /// Second origin.
        second: String,
    },
    /// Two plugins offer the same tool.
    #[error("tool {tool:?} is offered by both plugin {first:?} and plugin {second:?}; remove one of the plugins")]
    DuplicateTool {
        /// The tool.
        tool: String,
        /// First plugin.
        first: String,
        /// Second plugin.
        second: String,
    },
}

/// Why a tool call was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum GateError {
    /// No such tool is loaded.
    #[error("{0}")]
    UnknownTool(String),
    /// The arguments are not a JSON object.
    #[error("tool arguments must be a JSON object")]
    ArgumentsNotObject,
    /// The call itself failed.
    #[error(transparent)]
    Call(#[from] CallError),
    /// The audit line could not be written, so the result is withheld.
    #[error("the call ran but its audit line could not be written, so its result is withheld: {0}")]
    Audit(#[from] audit::AuditError),
}

/// A plugin that was not loaded, and why.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Skipped {
    /// Where it came from.
    pub origin: String,
    /// Its name, if the manifest could be read.
    pub name: Option<String>,
    /// Why it was skipped.
    pub reason: String,
}

struct Entry {
    plugin: LoadedPlugin,
    grants: Arc<[Grant]>,
}

/// Where audit lines go and who the caller is (stdio: the local principal).
pub struct Auditing {
    /// The log.
    pub log: Arc<AuditLog>,
    /// Principal name for calls on this connection.
    pub principal: String,
    /// Its role.
    pub role: String,
    /// Return results even when the audit line cannot be written.
    pub fail_open: bool,
}

/// The loaded plugins and the policy every call passes through.
pub struct Gate {
    auditing: Option<Auditing>,
    runtime: Runtime,
    pve: Option<PveClient>,
    policy: Policy,
    entries: Vec<Entry>,
    tools: BTreeMap<String, (usize, ToolSpec)>,
    skipped: Vec<Skipped>,
}

impl std::fmt::Debug for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gate").field("policy", &self.policy).field("tools", &self.tools.len()).finish()
    }
}

impl Gate {
    /// Loads `sources` under `policy`. In read-only mode a plugin that asks
    /// for any non-GET grant is skipped before it is compiled, so its code
    /// never runs in this process.
    pub async fn build(
        runtime: Runtime,
        sources: &[PluginSource],
        pve: Option<PveClient>,
        policy: Policy,
    ) -> Result<Gate, BuildError> {
        let mut entries: Vec<Entry> = Vec::new();
        let mut skipped = Vec::new();
        for source in sources {
            let inspection = runtime.inspect(source)?;
            let manifest = &inspection.manifest;
            let grants = manifest
                .grants
                .iter()
                .map(|g| Grant::parse(g))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|source| BuildError::Grant { plugin: manifest.name.clone(), source })?;
            if policy.read_only
                && let Some(write) = grants.iter().find(|g| !g.is_read_only())
            {
                skipped.push(Skipped {
                    origin: source.origin.clone(),
                    name: Some(manifest.name.clone()),
                    reason: format!("read-only mode: the plugin asks for {write}"),
                });
                continue;
            }
            if let Some(other) = entries.iter().find(|e| e.plugin.manifest.name == manifest.name) {
                return Err(BuildError::DuplicatePlugin {
                    name: manifest.name.clone(),
                    first: other.plugin.origin.clone(),
                    second: source.origin.clone(),
                });
            }
            let plugin = runtime.load(source).await?;
            tracing::debug!(plugin = %plugin.manifest.name, cached = plugin.from_cache, "plugin loaded");
            entries.push(Entry { plugin, grants: grants.into() });
        }
        let mut tools = BTreeMap::new();
        for (i, entry) in entries.iter().enumerate() {
            for tool in &entry.plugin.tools {
                if let Some((j, _)) = tools.get(&tool.name) {
                    let first: &Entry = &entries[*j];
                    return Err(BuildError::DuplicateTool {
                        tool: tool.name.clone(),
                        first: first.plugin.manifest.name.clone(),
                        second: entry.plugin.manifest.name.clone(),
                    });
                }
                tools.insert(tool.name.clone(), (i, tool.clone()));
            }
        }
        Ok(Gate { auditing: None, runtime, pve, policy, entries, tools, skipped })
    }

    /// Records every call in `auditing`'s log from now on.
    pub fn with_audit(mut self, auditing: Auditing) -> Gate {
        self.auditing = Some(auditing);
        self
    }

    /// The loaded plugins.
    pub fn plugins(&self) -> impl Iterator<Item = &LoadedPlugin> {
        self.entries.iter().map(|e| &e.plugin)
    }

    /// Plugins that were not loaded, and why.
    pub fn skipped(&self) -> &[Skipped] {
        &self.skipped
    }

    /// The tools clients may call, sorted by name.
    pub fn tools(&self) -> impl Iterator<Item = &ToolSpec> {
        self.tools.values().map(|(_, t)| t)
    }

    /// The runtime (limits, engine kind).
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// The policy in force.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Calls tool `name` with `arguments` (a JSON object).
    pub async fn call_tool(&self, name: &str, arguments: Value, ctx: CallContext) -> Result<ToolOutput, GateError> {
        let Some((index, _)) = self.tools.get(name) else {
            return Err(GateError::UnknownTool(self.unknown_tool_message(name)));
        };
        if !arguments.is_object() {
            return Err(GateError::ArgumentsNotObject);
        }
        let entry = &self.entries[*index];
        let started = Instant::now();
        let broker = Arc::new(CallBroker {
            plugin: entry.plugin.manifest.name.clone(),
            grants: entry.grants.clone(),
            read_only: self.policy.read_only,
            confirmed: arguments.get("confirm") == Some(&Value::Bool(true)),
            dry_run: arguments.get("dry_run") == Some(&Value::Bool(true)),
            pve: self.pve.clone(),
            task_wait: self.policy.task_wait,
            deadline: started + self.runtime.limits().call_timeout,
            ctx,
            requests: std::sync::Mutex::new(Vec::new()),
        });
        let result = self.runtime.call(&entry.plugin, name, &arguments, broker.clone()).await;
        if let Some(a) = &self.auditing {
            let outcome = match &result {
                Ok(_) => Outcome::Ok,
                Err(CallError::Tool(crate::runtime::ToolFailure::Api(
                    ApiError::DeniedByPolicy(_) | ApiError::ConfirmationRequired(_),
                ))) => Outcome::Denied,
                Err(CallError::Tool(_)) => Outcome::Error,
                Err(_) => Outcome::Trapped,
            };
            let record = Record {
                time: audit::now_rfc3339(),
                principal: a.principal.clone(),
                role: a.role.clone(),
                plugin: entry.plugin.manifest.name.clone(),
                tool: name.to_string(),
                arguments: a.log.redact(&arguments),
                outcome,
                duration_ms: started.elapsed().as_millis() as u64,
                requests: broker.requests.lock().map(|r| r.clone()).unwrap_or_default(),
            };
            if let Err(e) = a.log.write(&record) {
                tracing::error!("{e}");
                if !a.fail_open {
                    return Err(GateError::Audit(e));
                }
            }
        }
        Ok(result?)
    }

    fn unknown_tool_message(&self, name: &str) -> String {
        let mut near: Vec<(usize, &str)> = self
            .tools
            .keys()
            .map(|t| (edit_distance(t, name), t.as_str()))
            .filter(|(d, t)| *d <= 3 || t.contains(name))
            .collect();
        near.sort();
        let near: Vec<&str> = near.into_iter().take(3).map(|(_, t)| t).collect();
        if near.is_empty() {
            format!("no tool named {name:?}; call tools/list for the available tools")
        } else {
            format!("no tool named {name:?}; did you mean {}?", near.join(", "))
        }
    }
}

/// Levenshtein distance, for "did you mean" suggestions.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// The broker for one tool call: enforces the plugin's grant, read-only
/// mode, dry-run and confirmation before forwarding to the Proxmox client.
struct CallBroker {
    plugin: String,
    grants: Arc<[Grant]>,
    read_only: bool,
    confirmed: bool,
    dry_run: bool,
    pve: Option<PveClient>,
    task_wait: Duration,
    deadline: Instant,
    ctx: CallContext,
    /// Every request of the call, for the audit line.
    requests: std::sync::Mutex<Vec<RequestRecord>>,
}

/// The HTTP status an error stands for in the audit (0: nothing was sent).
fn audit_status(e: &ApiError) -> u16 {
    match e {
        ApiError::BadRequest { .. } => 400,
        ApiError::Unauthorized(_) => 401,
        ApiError::Forbidden(_) => 403,
        ApiError::NotFound(_) => 404,
        ApiError::Conflict(_) => 409,
        ApiError::NodeUnreachable(_) => 595,
        ApiError::Upstream { status, .. } => *status,
        ApiError::Timeout(_) | ApiError::Other(_) => 599,
        ApiError::DeniedByPolicy(_) | ApiError::ConfirmationRequired(_) | ApiError::InvalidRequest(_) => 0,
    }
}

/// Time kept back from a task wait so the plugin can still answer before
/// the call's deadline.
const ANSWER_MARGIN: Duration = Duration::from_secs(2);

impl CallBroker {
    fn client(&self) -> Result<&PveClient, ApiError> {
        self.pve.as_ref().ok_or_else(|| {
            ApiError::Other("no Proxmox connection is configured; set PVE_BASE_URL and an API token".into())
        })
    }

    /// `VM 101 "web" on pve1`: the name from the guest cache when known.
    async fn guest_label(&self, node: &str, kind: &str, vmid: &str) -> String {
        let label = if kind == "lxc" { "CT" } else { "VM" };
        let name = match (self.pve.as_ref(), vmid.parse::<u32>()) {
            (Some(c), Ok(id)) => c.resolve_guest(id).await.ok().and_then(|g| g.name),
            _ => None,
        };
        match name {
            Some(n) => format!("{label} {vmid} {n:?} on {node}"),
            None => format!("{label} {vmid} on {node}"),
        }
    }

    /// What a write would do, in words, for a refusal message.
    async fn describe(&self, method: Method, path: &[String]) -> String {
        let s: Vec<&str> = path.iter().map(String::as_str).collect();
        let guest = |node, kind, vmid| self.guest_label(node, kind, vmid);
        match (method, s.as_slice()) {
            (Method::Post, ["nodes", node, kind @ ("qemu" | "lxc"), vmid, "status", action]) => {
                format!("{action} {}", guest(node, kind, vmid).await)
            }
            (Method::Post, ["nodes", node, kind @ ("qemu" | "lxc"), vmid, "snapshot"]) => {
                format!("create a snapshot of {}", guest(node, kind, vmid).await)
            }
            (Method::Delete, ["nodes", node, kind @ ("qemu" | "lxc"), vmid, "snapshot", snap]) => {
                format!("delete snapshot {snap:?} of {}", guest(node, kind, vmid).await)
            }
            (Method::Post, ["nodes", node, kind @ ("qemu" | "lxc"), vmid, "snapshot", snap, "rollback"]) => {
                format!("roll {} back to snapshot {snap:?}, losing changes since", guest(node, kind, vmid).await)
            }
            (Method::Post, ["nodes", node, kind @ ("qemu" | "lxc"), vmid, "migrate"]) => {
                format!("migrate {}", guest(node, kind, vmid).await)
            }
            (Method::Delete, ["nodes", node, kind @ ("qemu" | "lxc"), vmid]) => {
                format!("delete {} and its disks", guest(node, kind, vmid).await)
            }
            (Method::Post, ["nodes", node, "vzdump"]) => format!("start a backup on {node}"),
            _ => format!("send {method} {}", encode_path(path).unwrap_or_default()),
        }
    }
}

#[async_trait::async_trait]
impl Broker for CallBroker {
    async fn request(&self, method: Method, path: &[String], params: &Value) -> Result<Value, ApiError> {
        let started = Instant::now();
        let result = self.checked_request(method, path, params).await;
        let status = match &result {
            Ok(_) => 200,
            Err(e) => audit_status(e),
        };
        if let Ok(mut log) = self.requests.lock() {
            log.push(RequestRecord {
                method: method.as_str().to_string(),
                path: encode_path(path).unwrap_or_else(|_| "(invalid path)".into()),
                status,
                ms: started.elapsed().as_millis() as u64,
            });
        }
        result
    }

    async fn resolve_guest(&self, vmid: u32) -> Result<GuestInfo, ApiError> {
        self.client()?.resolve_guest(vmid).await
    }

    async fn wait_task(&self, node: &str, upid: &str, timeout: Duration) -> Result<TaskOutcome, ApiError> {
        self.wait(node, upid, timeout).await
    }
}

impl CallBroker {
    /// The gates, then the request.
    async fn checked_request(&self, method: Method, path: &[String], params: &Value) -> Result<Value, ApiError> {
        let shown = encode_path(path)?;
        if self.read_only && method.is_write() {
            return Err(ApiError::DeniedByPolicy(format!(
                "read-only mode refuses {method} {shown}; nothing was sent (an operator can turn off PROXMCP_READ_ONLY)"
            )));
        }
        if !self.grants.iter().any(|g| g.allows(method, path)) {
            return Err(ApiError::DeniedByPolicy(format!(
                "plugin {:?} has no grant for {method} {shown}; nothing was sent. An operator who wants to allow it adds the grant \"{method} {shown}\" (or a pattern covering it) for this plugin",
                self.plugin
            )));
        }
        if method.is_write() && self.dry_run {
            return Err(ApiError::DeniedByPolicy(format!(
                "dry run: this call would {}; nothing was sent",
                self.describe(method, path).await
            )));
        }
        if method.is_write() && !self.confirmed {
            return Err(ApiError::ConfirmationRequired(format!(
                "would {}; nothing was sent. Ask the user, then call again with confirm=true",
                self.describe(method, path).await
            )));
        }
        let client = self.client()?;
        let result = client.request(method, path, params).await;
        if method.is_write() {
            client.invalidate_guests().await;
        }
        result
    }

    async fn wait(&self, node: &str, upid: &str, timeout: Duration) -> Result<TaskOutcome, ApiError> {
        let left = self.deadline.saturating_duration_since(Instant::now()).saturating_sub(ANSWER_MARGIN);
        let timeout = timeout.min(self.task_wait).min(left);
        let progress = self.ctx.progress.clone();
        let wait = self.client()?.wait_task(node, upid, timeout, move |p| {
            if let Some(sink) = &progress {
                sink(p);
            }
        });
        tokio::select! {
            outcome = wait => outcome,
            () = self.ctx.cancel.cancelled() => Ok(TaskOutcome::Cancelled { upid: upid.to_string(), node: node.to_string() }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::edit_distance;

    #[test]
    fn edit_distance_counts_single_character_edits() {
        assert_eq!(edit_distance("pve_list_vm", "pve_list_vms"), 1);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
    }
}
