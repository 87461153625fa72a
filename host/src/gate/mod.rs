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
mod broker;
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
pub use broker::{Approval, Planned};
pub use grants::{Grant, GrantError};
pub use protect::{Protection, UnknownWrites};
pub use ratelimit::RateLimits;

use broker::CallBroker;

use crate::pve::{ApiError, Method, PveClient, TaskProgress};
use crate::runtime::{
    CallError, LoadError, LoadedPlugin, Manifest, PluginSource, Runtime, ToolFailure, ToolOutput, ToolSpec,
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
    ///
    /// Every call is rate-limited and audited, refused ones too. A write
    /// without `confirm` from a client that can be asked is first run as a
    /// dry run; the user approves that exact set of requests, and the call
    /// then runs with only those writes allowed.
    pub async fn call_tool(&self, name: &str, arguments: Value, ctx: CallContext) -> Result<ToolOutput, GateError> {
        let caller = ctx.caller.clone().unwrap_or_else(|| self.rbac.local().clone());
        let started = Instant::now();
        if let Some(rate) = &self.rate
            && let Err(retry_after) = rate.check(&caller.principal)
        {
            let plugin = self.tools.get(name).map(|(i, _)| self.entries[*i].plugin.manifest.name.as_str());
            self.audit_refused(&caller, plugin.unwrap_or(""), name, &arguments, started)?;
            return Err(GateError::RateLimited {
                principal: caller.principal.clone(),
                limit: rate.describe(),
                retry_after,
            });
        }
        let Some((index, spec)) = self.tools.get(name).filter(|(_, spec)| may_call(&caller.role, spec)) else {
            let plugin = self.tools.get(name).map(|(i, _)| self.entries[*i].plugin.manifest.name.as_str());
            self.audit_refused(&caller, plugin.unwrap_or(""), name, &arguments, started)?;
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
            self.audit_refused(&caller, &self.entries[*index].plugin.manifest.name, name, &arguments, started)?;
            return Err(GateError::ArgumentsNotObject);
        }
        let entry = &self.entries[*index];
        let call = Invocation { entry, name, arguments: &arguments, caller: &caller, ctx: &ctx, started };
        let confirmed = arguments.get("confirm") == Some(&Value::Bool(true));
        let dry_run = arguments.get("dry_run") == Some(&Value::Bool(true));
        let mut requests = Vec::new();
        let mut approval = if confirmed { Approval::Confirmed } else { Approval::None };
        let mut approved_by = confirmed.then(|| "confirm argument".to_string());
        if !confirmed && !dry_run && !spec.hints.read_only && ctx.confirmer.is_some() {
            let mut plan_args = arguments.clone();
            plan_args["dry_run"] = Value::Bool(true);
            let (plan_result, plan_requests) = self.run(&call, &plan_args, Approval::None).await;
            requests.extend(plan_requests);
            match self.plan_of(plan_result).await {
                Ok(Some(plan)) => match self.ask(&ctx, &plan).await {
                    Ok(()) => {
                        approval = Approval::Exactly(plan);
                        approved_by = Some(format!("elicitation accepted by {}", caller.principal));
                    }
                    Err(refusal) => {
                        let result = Err(CallError::Tool(ToolFailure::Api(refusal)));
                        return self.finish(&call, result, requests, None, true);
                    }
                },
                Ok(None) => {}
                Err(refusal) => {
                    let result = Err(CallError::Tool(ToolFailure::Api(refusal)));
                    return self.finish(&call, result, requests, None, true);
                }
            }
        }
        let (mut result, sent) = self.run(&call, &arguments, approval).await;
        requests.extend(sent);
        if dry_run && let Ok(output) = &result {
            // The plugin's plan is checked against protection, so a dry run
            // says when the real call would be refused.
            if let Err(refusal) = self.check_plan(&plan_requests(output)).await {
                result = Err(CallError::Tool(ToolFailure::Api(refusal)));
            }
        }
        self.finish(&call, result, requests, approved_by, false)
    }

    /// Runs the plugin once with `arguments` under a fresh broker; its
    /// result and requests.
    async fn run(
        &self,
        call: &Invocation<'_>,
        arguments: &Value,
        approval: Approval,
    ) -> (Result<ToolOutput, CallError>, Vec<RequestRecord>) {
        let Invocation { entry, name, caller, ctx, started, .. } = *call;
        let broker = Arc::new(CallBroker {
            plugin: entry.plugin.manifest.name.clone(),
            tool: name.to_string(),
            grants: entry.grants.clone(),
            read_only: self.policy.read_only,
            role: caller.role.clone(),
            tools: self.policy.tools.clone(),
            approval: std::sync::Mutex::new(approval),
            dry_run: arguments.get("dry_run") == Some(&Value::Bool(true)),
            protection: self.policy.protection.clone(),
            pve: self.pve.clone(),
            task_wait: self.policy.task_wait,
            deadline: started + self.runtime.limits().call_timeout,
            ctx: ctx.clone(),
            requests: std::sync::Mutex::new(Vec::new()),
        });
        let result = self.runtime.call(&entry.plugin, name, arguments, broker.clone()).await;
        let requests = broker.requests.lock().map(|r| r.clone()).unwrap_or_default();
        (result, requests)
    }

    /// The writes a dry run planned, checked against protection; `None`
    /// when the call plans no write.
    async fn plan_of(&self, result: Result<ToolOutput, CallError>) -> Result<Option<Vec<Planned>>, ApiError> {
        let plan = match result {
            Ok(output) => plan_requests(&output),
            // The dry run failed before planning (bad arguments, a missing
            // guest): the real call will fail the same way, without writing.
            Err(_) => return Ok(None),
        };
        if plan.is_empty() {
            return Ok(None);
        }
        self.check_plan(&plan).await?;
        Ok(Some(plan))
    }

    async fn check_plan(&self, plan: &[Planned]) -> Result<(), ApiError> {
        for p in plan {
            self.policy.protection.check(self.pve.as_ref(), p.method, &p.path, &p.params).await?;
        }
        Ok(())
    }

    /// Asks the user to approve `plan`, described request by request.
    async fn ask(&self, ctx: &CallContext, plan: &[Planned]) -> Result<(), ApiError> {
        let Some(confirmer) = &ctx.confirmer else {
            return Err(ApiError::ConfirmationRequired("nobody can be asked; call again with confirm=true".into()));
        };
        let mut actions = Vec::new();
        for p in plan {
            actions.push(broker::describe(self.pve.as_ref(), p.method, &p.path, &p.params).await);
        }
        let question = match actions.as_slice() {
            [one] => format!("proxmcp would {one}. Go ahead?"),
            many => format!(
                "proxmcp would make these {} changes:\n{}\nGo ahead?",
                many.len(),
                many.iter().enumerate().map(|(i, a)| format!("{}. {a}", i + 1)).collect::<Vec<_>>().join("\n")
            ),
        };
        let all = actions.join("; ");
        match confirmer(question).await {
            Ok(true) => Ok(()),
            Ok(false) => {
                Err(ApiError::ConfirmationRequired(format!("the user did not approve: would {all}; nothing was sent")))
            }
            Err(why) => Err(ApiError::ConfirmationRequired(format!(
                "would {all}; nothing was sent. Asking the user failed ({why}); ask them, then call again with confirm=true"
            ))),
        }
    }

    /// Audits the call with an outcome taken from what the gates refused
    /// and what Proxmox answered, not from the plugin's word.
    fn finish(
        &self,
        call: &Invocation<'_>,
        result: Result<ToolOutput, CallError>,
        requests: Vec<RequestRecord>,
        approved_by: Option<String>,
        gate_refused: bool,
    ) -> Result<ToolOutput, GateError> {
        let Invocation { entry, name, arguments, caller, started, .. } = *call;
        let refused = gate_refused || requests.iter().any(|r| r.status == 0);
        let wrote = requests.iter().any(is_sent_write);
        let outcome = match &result {
            Err(CallError::Tool(_)) | Ok(_) if refused && !wrote => Outcome::Denied,
            Err(CallError::Tool(_)) => Outcome::Error,
            Err(_) => Outcome::Trapped,
            Ok(_) if requests.iter().any(|r| r.status >= 400) => Outcome::Error,
            Ok(_) => Outcome::Ok,
        };
        let record = audit::Call {
            caller,
            plugin: &entry.plugin.manifest.name,
            tool: name,
            arguments,
            outcome,
            started,
            requests,
            approved_by,
        };
        self.audit(record)?;
        Ok(result?)
    }

    /// Audits a call refused before any plugin ran (rate limit, role,
    /// unknown tool), compactly.
    fn audit_refused(
        &self,
        caller: &Caller,
        plugin: &str,
        tool: &str,
        arguments: &Value,
        started: Instant,
    ) -> Result<(), GateError> {
        let compact = audit::digest_only(arguments);
        self.audit(audit::Call {
            caller,
            plugin,
            tool,
            arguments: &compact,
            outcome: Outcome::Denied,
            started,
            requests: Vec::new(),
            approved_by: None,
        })
    }

    /// Writes the call's audit line; fails the call when that is impossible
    /// unless the log is configured to fail open.
    fn audit(&self, call: audit::Call<'_>) -> Result<(), GateError> {
        let Some(a) = &self.auditing else {
            return Ok(());
        };
        if let Err(e) = a.log.write(&a.log.record(call)) {
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
    // A plugin that asks for everything (the raw API) is a generic
    // requester: the operator may grant it any part of the API.
    let narrowable = asked.iter().any(Grant::is_everything);
    let effective = match (narrowable, policy.grants.get(&manifest.name)) {
        (true, Some(texts)) => parse_grants(texts, &format!("[grants] {}", manifest.name))?,
        _ => asked.clone(),
    };
    if policy.read_only
        && let Some(write) = effective.iter().find(|g| !g.is_read_only())
    {
        return Ok(Admission::Skip(format!("read-only mode: the plugin asks for {write}")));
    }
    match policy.grants.get(&manifest.name) {
        Some(_) if narrowable => Ok(Admission::Load(effective)),
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

/// One tool call on its way through the gate.
#[derive(Clone, Copy)]
struct Invocation<'a> {
    entry: &'a Entry,
    name: &'a str,
    arguments: &'a Value,
    caller: &'a Caller,
    ctx: &'a CallContext,
    started: Instant,
}

/// Whether a request record is a write that Proxmox accepted.
fn is_sent_write(r: &RequestRecord) -> bool {
    r.method != "GET" && (200..300).contains(&r.status)
}

/// The writes a dry run's answer lists (`requests`: method, path, params).
fn plan_requests(output: &ToolOutput) -> Vec<Planned> {
    let Some(list) = output.structured.as_ref().and_then(|s| s.get("requests")).and_then(Value::as_array) else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|r| {
            let method = Method::parse(r["method"].as_str()?)?;
            let path = r["path"].as_str()?.trim_start_matches('/').split('/').map(str::to_string).collect();
            Some(Planned { method, path, params: r.get("params").cloned().unwrap_or(Value::Null) })
        })
        .collect()
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
