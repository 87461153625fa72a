//! Safety gates: which plugins load, which tools exist, and which Proxmox
//! requests a tool call may make. The plugin is never trusted with any of
//! it: its hints are shown to clients, but only its grant, the deployment's
//! read-only switch and the call's `confirm` decide what is sent.
//!
//! Deny by default: a request passes only when the plugin's grant covers
//! it, read-only mode is off or the request is a `GET`, and (for writes) the
//! tool call carried `confirm: true` or the user approved it. Every refusal
//! names what is missing.
//!
//! One module per job: `admission` (which plugins and tools load),
//! `access` (roles, tokens, tool patterns), `ratelimit`, `call` (one call's
//! way through the gate), `approval` (dry-run plans and the question to the
//! user), `broker` (the gates each Proxmox request passes), `protect`
//! (protected guests), `resources` (resource reads and completions),
//! `doctor` (which tools the credentials can use) and `audit`.

pub mod access;
mod admission;
mod approval;
pub mod audit;
mod broker;
mod call;
pub mod doctor;
pub mod grants;
pub mod protect;
pub mod ratelimit;
mod resources;
mod retry;
pub mod scope;
mod targets;
mod tasks;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

pub use access::{Caller, Rbac, Role, ToolSelection};
pub use admission::{Admission, BuildError, Skipped, admit};
pub use approval::{Approval, Planned};
pub use audit::{AuditLog, Outcome, Record, RequestRecord};
pub use grants::{Grant, GrantError};
pub use protect::{Protection, UnknownWrites};
pub use ratelimit::RateLimits;
pub use resources::CompletionRef;
use retry::Sealer;
pub use retry::{Retry, StateError};
pub use targets::{ProxmoxToken, TOKEN_HEADER, Target};

use crate::pve::TaskProgress;
use crate::runtime::{CallError, LoadedPlugin, Runtime, ToolSpec};

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
            task_wait: crate::defaults::TASK_WAIT,
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

/// Receives a call's progress: a Proxmox task's, or the plugin's own steps.
pub type ProgressSink = Arc<dyn Fn(Progress) + Send + Sync>;

/// One progress report, as MCP carries it.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    /// Grows with every report that moves forward.
    pub value: f64,
    /// What `value` counts up to, when known.
    pub total: Option<f64>,
    /// What is going on, for the user.
    pub message: String,
}

impl Progress {
    /// A task's progress; within a plugin's step `done` of `total`, the
    /// task's percentage moves the value from `done` towards `done + 1`.
    pub fn of_task(p: &TaskProgress, step: Option<(u32, u32)>) -> Progress {
        let message = match (&p.line, p.percent) {
            (Some(line), _) => line.clone(),
            (None, Some(pct)) => format!("{pct:.0}% done"),
            (None, None) => format!("waiting for the Proxmox task ({}s)", p.elapsed.as_secs()),
        };
        let (value, total) = match (step, p.percent) {
            (Some((done, total)), pct) => {
                let within = pct.map_or(0.0, |pct| (pct / 100.0).clamp(0.0, 0.99));
                (f64::from(done) + within, (total > 0).then_some(f64::from(total)))
            }
            (None, Some(pct)) => (pct, Some(100.0)),
            (None, None) => (p.elapsed.as_secs_f64(), None),
        };
        Progress { value, total, message }
    }
}

/// Receives the messages a plugin logs during a call: level, plugin,
/// message.
pub type LogSink = Arc<dyn Fn(tracing::Level, &str, &str) + Send + Sync>;

/// Receives the target, node and UPID of a Proxmox task a call waits for.
pub type TaskSink = Arc<dyn Fn(&str, &str, &str) + Send + Sync>;

/// What the transport knows about one call: where progress goes and
/// whether the client gave up.
#[derive(Clone, Default)]
pub struct CallContext {
    /// Progress reports, when the client asked for them.
    pub progress: Option<ProgressSink>,
    /// The plugin's log messages, when the client set a log level.
    pub log: Option<LogSink>,
    /// Told (node, UPID) of each Proxmox task the call waits for.
    pub on_task: Option<TaskSink>,
    /// Cancelled when the client cancels the request.
    pub cancel: CancellationToken,
    /// Who is calling (`None`: the local principal).
    pub caller: Option<Caller>,
    /// Asks the user to approve writes when the call lacks `confirm`
    /// (clients with the elicitation capability).
    pub confirmer: Option<Confirmer>,
    /// Asks by answering with a question the client brings back answered
    /// (the stateless wire's elicitation); used when there is no confirmer.
    pub retry: Option<Retry>,
    /// The caller's own Proxmox API token, for targets that take it.
    pub proxmox_token: Option<ProxmoxToken>,
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
    /// No loaded plugin serves the resource.
    #[error("{0}")]
    UnknownResource(String),
    /// The caller's role may call none of the resource's plugin's read
    /// tools.
    #[error(
        "resource {uri:?} is not available to {principal:?} (role {role:?}); ask an operator to add a read tool of its plugin to the role's tools"
    )]
    ResourceNotAllowed {
        /// The resource.
        uri: String,
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
    /// The user must approve first: the client asks `question` and calls
    /// again with the answer and `state`. Nothing was sent.
    #[error("approval needed: {question}")]
    InputRequired {
        /// What the call would do, for the user.
        question: String,
        /// The sealed state the retry must bring back.
        state: String,
    },
    /// The target takes the caller's own Proxmox credentials and the call
    /// brought none (or unusable ones).
    #[error("{0}")]
    CallerCredentials(String),
    /// The call names a target that is not configured (the valid ones).
    #[error("{0}")]
    UnknownTarget(String),
    /// The audit line could not be written, so the result is withheld.
    #[error("the call ran but its audit line could not be written, so its result is withheld: {0}")]
    Audit(#[from] audit::AuditError),
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
    targets: targets::Targets,
    policy: Policy,
    entries: Vec<Entry>,
    tools: BTreeMap<String, (usize, ToolSpec)>,
    skipped: Vec<Skipped>,
    rbac: Rbac,
    rate: Option<RateLimits>,
    sealer: Sealer,
    /// What the permissions doctor knows of each offered tool.
    catalog: Arc<[doctor::ToolFacts]>,
    /// Tools the host itself answers (`pve_list_targets` with several
    /// targets).
    host_tools: Vec<ToolSpec>,
}

impl std::fmt::Debug for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gate").field("policy", &self.policy).field("tools", &self.tools.len()).finish()
    }
}

impl Gate {
    /// The roles and tokens in force.
    pub fn rbac(&self) -> &Rbac {
        &self.rbac
    }

    /// The tools `caller` may call (all offered tools for `None`, the local
    /// principal), sorted by name.
    pub fn tools_for<'a>(&'a self, caller: Option<&'a Caller>) -> impl Iterator<Item = &'a ToolSpec> + 'a {
        let role = caller.unwrap_or(self.rbac.local()).role.clone();
        self.tools().filter(move |t| may_call(&role, t))
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

    /// The caller of a call: the transport's, else the local principal.
    pub fn caller_of(&self, ctx: &CallContext) -> Caller {
        ctx.caller.clone().unwrap_or_else(|| self.rbac.local().clone())
    }

    /// The plugin that offers `tool`.
    pub fn plugin_of(&self, tool: &str) -> Option<&str> {
        self.tools.get(tool).map(|(i, _)| self.entries[*i].plugin.manifest.name.as_str())
    }

    /// The tools clients may call, sorted by name.
    pub fn tools(&self) -> impl Iterator<Item = &ToolSpec> {
        self.tools.values().map(|(_, t)| t).chain(&self.host_tools)
    }

    /// The runtime (limits, engine kind).
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// The policy in force.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }
}

/// Whether `role` may call the tool: its patterns include it, and a
/// read-only role sees only tools that claim to be read-only (their writes
/// would be refused anyway).
fn may_call(role: &Role, spec: &ToolSpec) -> bool {
    role.allows(&spec.name) && (!role.read_only || spec.hints.read_only)
}
