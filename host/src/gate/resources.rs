//! Resource reads and completions through the gate: the same rate limit,
//! roles, grants and audit as tool calls, and never a write.
//!
//! A caller may read a plugin's resources when its role may call at least
//! one read-only tool of that plugin: resources show what those tools show,
//! so no role gains a view it did not have.

use std::sync::Arc;
use std::time::Instant;

use serde_json::{Value, json};

use super::approval::Approval;
use super::audit;
use super::broker::CallBroker;
use super::call::outcome;
use super::{CallContext, Caller, Entry, Gate, GateError, may_call};
use crate::runtime::resources::{Contents, ResourceSpec};
use crate::runtime::{CallError, ToolFailure};

/// The audit's tool name for a resource read (and, for the same lines,
/// what a gate's refusal names).
const READ: &str = "resources/read";
/// The audit's tool name for a completion.
const COMPLETE: &str = "completion/complete";

/// What a completion request refers to.
#[derive(Debug, Clone, Copy)]
pub enum CompletionRef<'a> {
    /// A resource template, by its URI template.
    Template(&'a str),
    /// A prompt argument (routed to a plugin whose templates have a
    /// variable of the same name).
    Prompt,
}

impl Gate {
    /// Whether `caller`'s role may read the resources of `entry`: it may
    /// call one of the entry's read-only tools that the deployment offers.
    fn may_read(&self, caller: &Caller, entry: &Entry) -> bool {
        let offered = |t: &&crate::runtime::ToolSpec| self.tools.contains_key(&t.name);
        entry.plugin.tools.iter().filter(offered).any(|t| t.hints.read_only && may_call(&caller.role, t))
    }

    fn readable<'a>(&'a self, caller: &'a Caller) -> impl Iterator<Item = &'a Entry> + 'a {
        self.entries.iter().filter(move |e| self.may_read(caller, e))
    }

    /// The fixed resources `caller` may read.
    pub fn resources_for(&self, caller: Option<&Caller>) -> Vec<&ResourceSpec> {
        let caller = caller.unwrap_or(self.rbac.local());
        let readable = self.entries.iter().filter(|e| self.may_read(caller, e));
        readable.flat_map(|e| e.plugin.resources.resources.iter()).collect()
    }

    /// The resource templates `caller` may read.
    pub fn templates_for(&self, caller: Option<&Caller>) -> Vec<&ResourceSpec> {
        let caller = caller.unwrap_or(self.rbac.local());
        let readable = self.entries.iter().filter(|e| self.may_read(caller, e));
        readable.flat_map(|e| e.plugin.resources.templates.iter()).collect()
    }

    /// Reads resource `uri` for the call's caller; the contents and how
    /// long they stay fresh (ms), as the resource declares.
    pub async fn read_resource(&self, uri: &str, ctx: CallContext) -> Result<(Contents, u32), GateError> {
        let caller = self.caller_of(&ctx);
        let started = Instant::now();
        let arguments = json!({"uri": uri});
        let found = self.entries.iter().find_map(|e| e.plugin.resources.find(uri).map(|spec| (e, spec.ttl_ms)));
        let owner = found.map(|(e, _)| e);
        let plugin = owner.map_or("", |e| e.plugin.manifest.name.as_str());
        let read = Reading { plugin, what: READ, arguments: &arguments, caller: &caller, started };
        self.admit_read(&read)?;
        let Some(entry) = owner.filter(|e| self.may_read(&caller, e)) else {
            self.audit_refused(&caller, plugin, READ, &arguments, started)?;
            if owner.is_some() {
                return Err(GateError::ResourceNotAllowed {
                    uri: uri.to_string(),
                    principal: caller.principal.clone(),
                    role: caller.role.name.clone(),
                });
            }
            return Err(GateError::UnknownResource(format!(
                "no resource {uri:?}; call resources/list and resources/templates/list for the available ones"
            )));
        };
        let broker = self.reading_broker(entry, &read, &ctx);
        let result = self.runtime.read_resource(&entry.plugin, uri, broker.clone()).await;
        self.audit_read(&read, &broker, result.as_ref().err())?;
        Ok((result?, found.map_or(0, |(_, ttl)| ttl)))
    }

    /// Values for `argument` starting with `value`, from the plugin whose
    /// template `reference` names (or, for a prompt, whose templates have a
    /// variable `argument`). Nothing to offer is an empty list, not an
    /// error.
    pub async fn complete(
        &self,
        reference: CompletionRef<'_>,
        argument: &str,
        value: &str,
        ctx: CallContext,
    ) -> Result<Vec<String>, GateError> {
        let caller = self.caller_of(&ctx);
        let started = Instant::now();
        let has_variable = |e: &&Entry| {
            e.plugin.resources.templates.iter().any(|t| {
                let named = match reference {
                    CompletionRef::Template(uri) => t.uri == uri,
                    CompletionRef::Prompt => true,
                };
                named && t.variables().any(|v| v == argument)
            })
        };
        let Some(entry) = self.readable(&caller).find(has_variable) else {
            return Ok(Vec::new());
        };
        let arguments = json!({"argument": argument, "value": value});
        let plugin = &entry.plugin.manifest.name;
        let read = Reading { plugin, what: COMPLETE, arguments: &arguments, caller: &caller, started };
        self.admit_read(&read)?;
        let broker = self.reading_broker(entry, &read, &ctx);
        let result = self.runtime.complete(&entry.plugin, argument, value, broker.clone()).await;
        self.audit_read(&read, &broker, result.as_ref().err())?;
        Ok(result?)
    }

    /// The rate limit, as for tool calls.
    pub(super) fn admit_read(&self, read: &Reading<'_>) -> Result<(), GateError> {
        if let Some(rate) = &self.rate
            && let Err(retry_after) = rate.check(&read.caller.principal)
        {
            self.audit_refused(read.caller, read.plugin, read.what, read.arguments, read.started)?;
            return Err(GateError::RateLimited {
                principal: read.caller.principal.clone(),
                limit: rate.describe(),
                retry_after,
            });
        }
        Ok(())
    }

    /// A broker that lets only reads through the plugin's grant.
    fn reading_broker(&self, entry: &Entry, read: &Reading<'_>, ctx: &CallContext) -> Arc<CallBroker> {
        Arc::new(CallBroker {
            plugin: entry.plugin.manifest.name.clone(),
            tool: read.what.to_string(),
            grants: entry.grants.clone(),
            read_only: self.policy.read_only,
            reads_only: true,
            role: read.caller.role.clone(),
            tools: self.policy.tools.clone(),
            approval: std::sync::Mutex::new(Approval::None),
            dry_run: false,
            // Resources have no target argument: the default target, with the
            // caller's own token when it takes one.
            target: self
                .targets
                .default()
                .for_caller(ctx.proxmox_token.as_ref())
                .unwrap_or_else(|_| self.targets.default().clone()),
            catalog: self.catalog.clone(),
            task_wait: self.policy.task_wait,
            deadline: read.started + self.runtime.limits().call_timeout,
            ctx: CallContext { progress: None, confirmer: None, retry: None, ..ctx.clone() },
            requests: std::sync::Mutex::new(Vec::new()),
            step: std::sync::Mutex::new(None),
        })
    }

    /// Audits a read (or cancellation) with the requests `broker` made.
    pub(super) fn audit_read(
        &self,
        read: &Reading<'_>,
        broker: &CallBroker,
        error: Option<&CallError>,
    ) -> Result<(), GateError> {
        let requests = broker.requests.lock().map(|r| r.clone()).unwrap_or_default();
        self.audit(audit::Call {
            caller: read.caller,
            plugin: read.plugin,
            tool: read.what,
            arguments: read.arguments,
            outcome: outcome(error, &requests, false),
            started: read.started,
            requests,
            approved_by: None,
            target: self.targets.several().then_some(broker.target.name.as_str()),
        })
    }
}

/// What an audit line of a read names: plugin, what was done (the audit's
/// tool), its arguments, caller and start.
pub(super) struct Reading<'a> {
    pub plugin: &'a str,
    pub what: &'a str,
    pub arguments: &'a Value,
    pub caller: &'a Caller,
    pub started: Instant,
}

/// A resource's failure as the tool error it is.
impl From<ToolFailure> for GateError {
    fn from(f: ToolFailure) -> Self {
        GateError::Call(CallError::Tool(f))
    }
}
