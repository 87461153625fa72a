//! Safety gates: which plugins load, which tools exist, and which Proxmox
//! requests a tool call may make. The plugin is never trusted with any of
//! it: its hints are shown to clients, but only its grant, the deployment's
//! read-only switch and the call's `confirm` decide what is sent.
//!
//! Deny by default: a request passes only when the plugin's grant covers
//! it, read-only mode is off or the request is a `GET`, and (for writes) the
//! tool call carried `confirm: true`. Every refusal names what is missing.

pub mod access;
pub mod audit;
pub mod grants;
pub mod protect;
pub mod ratelimit;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio_util::sync::CancellationToken;

pub use access::{Caller, Rbac, Role, ToolSelection};
pub use audit::{AuditLog, Outcome, Record, RequestRecord};
pub use grants::{Grant, GrantError};
pub use protect::Protection;
pub use ratelimit::RateLimits;

use crate::pve::{ApiError, GuestInfo, Method, PveClient, TaskOutcome, TaskProgress, encode_path};
use crate::runtime::{
    Broker, CallError, LoadError, LoadedPlugin, Manifest, PluginSource, Runtime, ToolOutput, ToolSpec,
};

/// The deployment's policy.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Load only GET-only plugins and refuse every non-GET request.
    pub read_only: bool,
    /// Longest wait for a Proxmox task inside one call.
    pub task_wait: Duration,
    /// The operator's grants by plugin name (`[grants]`). A built-in
    /// without an entry gets its manifest's grants; any other plugin needs
    /// an entry. A manifest asking for more than its entry is refused.
    pub grants: BTreeMap<String, Vec<String>>,
    /// Which tools the deployment offers.
    pub tools: ToolSelection,
    /// Guests no write may touch.
    pub protection: Protection,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            read_only: false,
            task_wait: Duration::from_secs(30),
            grants: BTreeMap::new(),
            tools: ToolSelection::default(),
            protection: Protection::default(),
        }
    }
}

/// Asks the user to approve a write (MCP elicitation): `Ok(true)` means go
/// ahead, `Ok(false)` declined or cancelled, `Err` the question could not be
/// asked (the reason).
pub type Confirmer = Arc<dyn Fn(String) -> futures::future::BoxFuture<'static, Result<bool, String>> + Send + Sync>;

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
    /// Who is calling (`None`: the local principal).
    pub caller: Option<Caller>,
    /// Asks the user to approve writes when the call lacks `confirm`
    /// (clients with the elicitation capability).
    pub confirmer: Option<Confirmer>,
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
    /// A plugin's manifest asks for more than the operator granted it.
    #[error(
        "plugin {plugin:?} ({origin}) asks for \"{asked}\", which its grant does not cover, so it was not loaded; add \"{asked}\" to [grants] {plugin} in the config (granted now: {granted})"
    )]
    GrantNotCovered {
        /// The plugin.
        plugin: String,
        /// Where it came from.
        origin: String,
        /// The first requested grant that is not covered.
        asked: String,
        /// What the operator granted.
        granted: String,
    },
    /// A plugin that is not built in has no grant in the config.
    #[error(
        "plugin {plugin:?} ({origin}) is not granted anything, so it was not loaded; to load it, add to the config:\n[grants]\n{plugin} = [{asks}]"
    )]
    NotGranted {
        /// The plugin.
        plugin: String,
        /// Where it came from.
        origin: String,
        /// Its requested grants, ready to paste.
        asks: String,
    },
    /// `[grants]` names a plugin that is not configured.
    #[error(
        "[grants] names plugin {plugin:?}, which is not loaded; configured plugins: {known}. Fix the name or remove the entry"
    )]
    UnknownGrantPlugin {
        /// The name.
        plugin: String,
        /// The plugins that are.
        known: String,
    },
    /// A tool pattern matches no loaded tool: a typo must not silently
    /// widen (deny) or empty (allow) access.
    #[error(
        "{section} pattern {pattern:?} matches no loaded tool; fix it or remove it (tools: `proxmcp plugins list`)"
    )]
    PatternMatchesNothing {
        /// Where the pattern is.
        section: String,
        /// The pattern.
        pattern: String,
    },
    /// `[rbac]` is unusable.
    #[error("{0}")]
    Access(String),
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
    /// The caller's role does not include the tool.
    #[error(
        "tool {tool:?} is not available to {principal:?} (role {role:?}); ask an operator to add it to the role's tools"
    )]
    NotAllowed {
        /// The tool.
        tool: String,
        /// The principal.
        principal: String,
        /// Its role.
        role: String,
    },
    /// The caller is over its rate limit; nothing ran.
    #[error("rate limit reached for {principal:?} ({limit}); nothing ran, retry in {:.1} s", retry_after.as_secs_f64())]
    RateLimited {
        /// The principal.
        principal: String,
        /// The limit, in words.
        limit: String,
        /// When the next call is allowed.
        retry_after: Duration,
    },
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

/// Where audit lines go.
pub struct Auditing {
    /// The log.
    pub log: Arc<AuditLog>,
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
    rbac: Rbac,
    rate: Option<RateLimits>,
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
            let grants = match admit(&policy, source, manifest)? {
                Admission::Load(grants) => grants,
                Admission::Skip(reason) => {
                    skipped.push(Skipped { origin: source.origin.clone(), name: Some(manifest.name.clone()), reason });
                    continue;
                }
            };
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
        let configured: Vec<&str> = entries
            .iter()
            .map(|e| e.plugin.manifest.name.as_str())
            .chain(skipped.iter().filter_map(|s| s.name.as_deref()))
            .collect();
        if let Some(name) = policy.grants.keys().find(|n| !configured.contains(&n.as_str())) {
            return Err(BuildError::UnknownGrantPlugin { plugin: name.clone(), known: configured.join(", ") });
        }
        for (section, patterns) in [("[tools] allow", &policy.tools.allow), ("[tools] deny", &policy.tools.deny)] {
            check_patterns(section, patterns, tools.keys())?;
        }
        tools.retain(|name, _| policy.tools.offers(name));
        let rbac = Rbac::from_config(&Default::default()).map_err(|e| BuildError::Access(e.to_string()))?;
        Ok(Gate { auditing: None, runtime, pve, policy, entries, tools, skipped, rbac, rate: None })
    }

    /// Puts calls under `rbac`'s roles and `rate`'s limits. Every pattern of
    /// a role in use must match a tool the deployment offers.
    pub fn with_access(mut self, rbac: Rbac, rate: Option<RateLimits>) -> Result<Gate, BuildError> {
        for role in rbac.roles_in_use() {
            check_patterns(&format!("[rbac.roles.{}] tools", role.name), &role.tools, self.tools.keys())?;
        }
        self.rbac = rbac;
        self.rate = rate;
        Ok(self)
    }

    /// The roles and tokens in force.
    pub fn rbac(&self) -> &Rbac {
        &self.rbac
    }

    /// The tools `caller` may call (all offered tools for `None`, the local
    /// principal), sorted by name.
    pub fn tools_for<'a>(&'a self, caller: Option<&'a Caller>) -> impl Iterator<Item = &'a ToolSpec> + 'a {
        let role = caller.unwrap_or(self.rbac.local()).role.clone();
        self.tools.values().map(|(_, t)| t).filter(move |t| may_call(&role, t))
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
        let caller = ctx.caller.clone().unwrap_or_else(|| self.rbac.local().clone());
        let Some((index, _)) = self.tools.get(name).filter(|(_, spec)| may_call(&caller.role, spec)) else {
            if self.tools.contains_key(name) {
                return Err(GateError::NotAllowed {
                    tool: name.to_string(),
                    principal: caller.principal.clone(),
                    role: caller.role.name.clone(),
                });
            }
            return Err(GateError::UnknownTool(self.unknown_tool_message(name, &caller)));
        };
        if !arguments.is_object() {
            return Err(GateError::ArgumentsNotObject);
        }
        let entry = &self.entries[*index];
        let started = Instant::now();
        if let Some(rate) = &self.rate
            && let Err(retry_after) = rate.check(&caller.principal)
        {
            let denied =
                GateError::RateLimited { principal: caller.principal.clone(), limit: rate.describe(), retry_after };
            self.audit(&caller, &entry.plugin.manifest.name, name, &arguments, Outcome::Denied, started, Vec::new())?;
            return Err(denied);
        }
        let broker = Arc::new(CallBroker {
            plugin: entry.plugin.manifest.name.clone(),
            grants: entry.grants.clone(),
            read_only: self.policy.read_only,
            role_read_only: caller.role.read_only.then(|| caller.role.name.clone()),
            confirmed: std::sync::atomic::AtomicBool::new(arguments.get("confirm") == Some(&Value::Bool(true))),
            dry_run: arguments.get("dry_run") == Some(&Value::Bool(true)),
            protection: self.policy.protection.clone(),
            pve: self.pve.clone(),
            task_wait: self.policy.task_wait,
            deadline: started + self.runtime.limits().call_timeout,
            ctx,
            requests: std::sync::Mutex::new(Vec::new()),
        });
        let result = self.runtime.call(&entry.plugin, name, &arguments, broker.clone()).await;
        let outcome = match &result {
            Ok(_) => Outcome::Ok,
            Err(CallError::Tool(crate::runtime::ToolFailure::Api(
                ApiError::DeniedByPolicy(_) | ApiError::ConfirmationRequired(_),
            ))) => Outcome::Denied,
            Err(CallError::Tool(_)) => Outcome::Error,
            Err(_) => Outcome::Trapped,
        };
        let requests = broker.requests.lock().map(|r| r.clone()).unwrap_or_default();
        self.audit(&caller, &entry.plugin.manifest.name, name, &arguments, outcome, started, requests)?;
        Ok(result?)
    }

    /// Writes the call's audit line; fails the call when that is impossible
    /// unless the log is configured to fail open.
    #[allow(clippy::too_many_arguments)]
    fn audit(
        &self,
        caller: &Caller,
        plugin: &str,
        tool: &str,
        arguments: &Value,
        outcome: Outcome,
        started: Instant,
        requests: Vec<RequestRecord>,
    ) -> Result<(), GateError> {
        let Some(a) = &self.auditing else {
            return Ok(());
        };
        let record = Record {
            time: audit::now_rfc3339(),
            principal: caller.principal.clone(),
            role: caller.role.name.clone(),
            plugin: plugin.to_string(),
            tool: tool.to_string(),
            arguments: a.log.redact(arguments),
            outcome,
            duration_ms: started.elapsed().as_millis() as u64,
            requests,
        };
        if let Err(e) = a.log.write(&record) {
            tracing::error!("{e}");
            if !a.fail_open {
                return Err(GateError::Audit(e));
            }
        }
        Ok(())
    }

    fn unknown_tool_message(&self, name: &str, caller: &Caller) -> String {
        let mut near: Vec<(usize, &str)> = self
            .tools_for(Some(caller))
            .map(|spec| (edit_distance(&spec.name, name), spec.name.as_str()))
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

/// What the policy decides about a plugin before its code is compiled.
#[derive(Debug)]
pub enum Admission {
    /// Load it with these grants (the operator's, or a built-in's manifest).
    Load(Vec<Grant>),
    /// Do not load it (read-only mode and a write grant); the reason.
    Skip(String),
}

/// Decides from the manifest alone whether `source` may load under
/// `policy`, and with which grants; refusals name the grant to add.
pub fn admit(policy: &Policy, source: &PluginSource, manifest: &Manifest) -> Result<Admission, BuildError> {
    let asked = parse_grants(&manifest.grants, &manifest.name)?;
    if policy.read_only
        && let Some(write) = asked.iter().find(|g| !g.is_read_only())
    {
        return Ok(Admission::Skip(format!("read-only mode: the plugin asks for {write}")));
    }
    match policy.grants.get(&manifest.name) {
        Some(texts) => {
            let granted = parse_grants(texts, &format!("[grants] {}", manifest.name))?;
            if let Some(missing) = grants::first_uncovered(&granted, &asked) {
                return Err(BuildError::GrantNotCovered {
                    plugin: manifest.name.clone(),
                    origin: source.origin.clone(),
                    asked: missing.to_string(),
                    granted: if texts.is_empty() { "nothing".into() } else { texts.join(", ") },
                });
            }
            Ok(Admission::Load(granted))
        }
        None if source.builtin => Ok(Admission::Load(asked)),
        None => {
            let asks: Vec<String> = asked.iter().map(|g| format!("\"{g}\"")).collect();
            Err(BuildError::NotGranted {
                plugin: manifest.name.clone(),
                origin: source.origin.clone(),
                asks: asks.join(", "),
            })
        }
    }
}

/// Parses grant strings; a bad one fails naming `whose` (plugin or config entry).
fn parse_grants(texts: &[String], whose: &str) -> Result<Vec<Grant>, BuildError> {
    texts
        .iter()
        .map(|g| Grant::parse(g))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| BuildError::Grant { plugin: whose.to_string(), source })
}

/// Whether `role` may call the tool: its patterns include it, and a
/// read-only role sees only tools that claim to be read-only (their writes
/// would be refused anyway).
fn may_call(role: &Role, spec: &ToolSpec) -> bool {
    role.allows(&spec.name) && (!role.read_only || spec.hints.read_only)
}

/// Fails when one of `patterns` matches none of `tools`.
fn check_patterns<'a>(
    section: &str,
    patterns: &[String],
    tools: impl Iterator<Item = &'a String> + Clone,
) -> Result<(), BuildError> {
    for p in patterns {
        if !tools.clone().any(|t| access::pattern_matches(p, t)) {
            return Err(BuildError::PatternMatchesNothing { section: section.to_string(), pattern: p.clone() });
        }
    }
    Ok(())
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
    /// The caller's role may only read (its name, for the message).
    role_read_only: Option<String>,
    /// `confirm: true` was given, or the user approved a write of this call.
    confirmed: std::sync::atomic::AtomicBool,
    dry_run: bool,
    protection: Protection,
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
        if let Some(role) = &self.role_read_only
            && method.is_write()
        {
            return Err(ApiError::DeniedByPolicy(format!(
                "role {role:?} may only read, so {method} {shown} was refused; nothing was sent"
            )));
        }
        if !self.grants.iter().any(|g| g.allows(method, path)) {
            return Err(ApiError::DeniedByPolicy(format!(
                "plugin {:?} has no grant for {method} {shown}; nothing was sent. An operator who wants to allow it adds the grant \"{method} {shown}\" (or a pattern covering it) for this plugin",
                self.plugin
            )));
        }
        if method.is_write() {
            self.check_protection(path, params).await?;
        }
        if method.is_write() && self.dry_run {
            return Err(ApiError::DeniedByPolicy(format!(
                "dry run: this call would {}; nothing was sent",
                self.describe(method, path).await
            )));
        }
        if method.is_write() && !self.confirmed.load(std::sync::atomic::Ordering::SeqCst) {
            let action = self.describe(method, path).await;
            match &self.ctx.confirmer {
                Some(ask) => match ask(format!("proxmcp would {action}. Go ahead?")).await {
                    Ok(true) => self.confirmed.store(true, std::sync::atomic::Ordering::SeqCst),
                    Ok(false) => {
                        return Err(ApiError::ConfirmationRequired(format!(
                            "the user did not approve: would {action}; nothing was sent"
                        )));
                    }
                    Err(why) => {
                        return Err(ApiError::ConfirmationRequired(format!(
                            "would {action}; nothing was sent. Asking the user failed ({why}); ask them, then call again with confirm=true"
                        )));
                    }
                },
                None => {
                    return Err(ApiError::ConfirmationRequired(format!(
                        "would {action}; nothing was sent. Ask the user, then call again with confirm=true"
                    )));
                }
            }
        }
        let client = self.client()?;
        let result = client.request(method, path, params).await;
        if method.is_write() {
            client.invalidate_guests().await;
        }
        result
    }

    /// Refuses a write that acts on a protected guest. The guest's tags are
    /// read fresh from Proxmox, so a tag added a moment ago counts.
    async fn check_protection(&self, path: &[String], params: &Value) -> Result<(), ApiError> {
        if !self.protection.is_active() {
            return Ok(());
        }
        let targets = protect::write_targets(path, params);
        if targets.is_empty() {
            return Ok(());
        }
        if let Some(client) = &self.pve
            && self.protection.tag.is_some()
        {
            client.invalidate_guests().await;
        }
        for vmid in targets {
            let guest = match &self.pve {
                Some(c) => c.resolve_guest(vmid).await.ok(),
                None => None,
            };
            let label = match &guest {
                Some(g) => {
                    let kind = if g.kind == crate::pve::GuestKind::Lxc { "CT" } else { "VM" };
                    match &g.name {
                        Some(n) => format!("{kind} {vmid} {n:?}"),
                        None => format!("{kind} {vmid}"),
                    }
                }
                None => format!("guest {vmid}"),
            };
            if self.protection.vmids.contains(&vmid) {
                return Err(ApiError::DeniedByPolicy(format!(
                    "{label} is protected ([protect] vmids in the proxmcp config); write tools refuse it even with confirm=true. Nothing was sent; an operator can remove it from the list"
                )));
            }
            if let (Some(tag), Some(g)) = (&self.protection.tag, &guest)
                && g.tags.iter().any(|t| t == tag)
            {
                return Err(ApiError::DeniedByPolicy(format!(
                    "{label} carries the tag {tag:?}, so it is protected; write tools refuse it even with confirm=true. Nothing was sent; remove the tag in Proxmox to allow changes"
                )));
            }
        }
        Ok(())
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
