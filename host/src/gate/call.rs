//! One tool call through the gate: rate limit, role, approval, the plugin
//! run under a fresh broker, and the audit line whose outcome the gates and
//! Proxmox decide.

use std::sync::Arc;
use std::time::Instant;

use serde_json::Value;

use super::approval::{Approval, Planned, not_approved, plan_requests, question};
use super::audit::{self, Outcome, RequestRecord};
use super::broker::CallBroker;
use super::{CallContext, Caller, Entry, Gate, GateError, may_call};
use crate::pve::ApiError;
use crate::runtime::{CallError, ToolFailure, ToolOutput};

impl Gate {
    /// Calls tool `name` with `arguments` (a JSON object).
    ///
    /// Every call is rate-limited and audited, refused ones too. A write
    /// without `confirm` from a client that can be asked is first run as a
    /// dry run; the user approves that exact set of requests, and the call
    /// then runs with only those writes allowed.
    pub async fn call_tool(&self, name: &str, arguments: Value, ctx: CallContext) -> Result<ToolOutput, GateError> {
        let caller = self.caller_of(&ctx);
        let started = Instant::now();
        let plugin = self.tools.get(name).map_or("", |(i, _)| self.entries[*i].plugin.manifest.name.as_str());
        let picked = self.targets.pick(&arguments).and_then(|t| {
            if caller.role.scope.allows_target(&t.name) {
                t.for_caller(ctx.proxmox_token.as_ref())
            } else {
                Err(GateError::UnknownTarget(format!(
                    "role {:?} may use the targets {} only, not {:?}",
                    caller.role.name,
                    caller.role.scope.targets.join(", "),
                    t.name
                )))
            }
        });
        let target = match picked {
            Ok(t) => t,
            Err(e) => {
                self.audit_refused(&caller, plugin, name, &arguments, started)?;
                return Err(e);
            }
        };
        // Each target has its own buckets: a busy lab does not slow prod.
        let bucket = match self.targets.several() {
            true => format!("{} on {}", caller.principal, target.name),
            false => caller.principal.clone(),
        };
        if let Some(rate) = &self.rate
            && let Err(retry_after) = rate.check(&bucket)
        {
            self.audit_refused(&caller, plugin, name, &arguments, started)?;
            return Err(GateError::RateLimited {
                principal: caller.principal.clone(),
                limit: rate.describe(),
                retry_after,
            });
        }
        if let Some(spec) = self.host_tools.iter().find(|t| t.name == name) {
            if !may_call(&caller.role, spec) {
                self.audit_refused(&caller, "host", name, &arguments, started)?;
                return Err(GateError::NotAllowed {
                    tool: name.to_string(),
                    principal: caller.principal.clone(),
                    role: caller.role.name.clone(),
                });
            }
            let output = self.list_targets(ctx.proxmox_token.as_ref()).await;
            self.audit(audit::Call {
                caller: &caller,
                plugin: "host",
                tool: name,
                arguments: &arguments,
                outcome: Outcome::Ok,
                started,
                requests: Vec::new(),
                approved_by: None,
                target: None,
            })?;
            return Ok(output);
        }
        let Some((index, spec)) = self.tools.get(name).filter(|(_, spec)| may_call(&caller.role, spec)) else {
            self.audit_refused(&caller, plugin, name, &arguments, started)?;
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
            self.audit_refused(&caller, plugin, name, &arguments, started)?;
            return Err(GateError::ArgumentsNotObject);
        }
        let entry = &self.entries[*index];
        let call =
            Invocation { entry, name, arguments: &arguments, caller: &caller, ctx: &ctx, started, target: &target };
        let confirmed = arguments.get("confirm") == Some(&Value::Bool(true));
        let dry_run = arguments.get("dry_run") == Some(&Value::Bool(true));
        let mut requests = Vec::new();
        let mut approval = if confirmed { Approval::Confirmed } else { Approval::None };
        let mut approved_by = confirmed.then(|| "confirm argument".to_string());
        // A write without confirm is planned by a dry run and the user asked
        // about that plan: mid-call (elicitation), or by the call's answer
        // and the client's retry (the stateless wire).
        if !confirmed && !dry_run && !spec.hints.read_only {
            let decided = if ctx.confirmer.is_some() {
                Some((self.approve_by_asking(&call, &mut requests).await, ""))
            } else if ctx.retry.is_some() {
                Some((self.approve_by_retry(&call, &mut requests).await?, " (on retry)"))
            } else {
                None
            };
            match decided {
                Some((Ok(Some(plan)), how)) => {
                    approval = Approval::Exactly(plan);
                    approved_by = Some(format!("elicitation accepted by {}{how}", caller.principal));
                }
                Some((Err(refusal), _)) => {
                    let result = Err(CallError::Tool(ToolFailure::Api(refusal)));
                    return self.finish(&call, result, requests, None, true);
                }
                Some((Ok(None), _)) | None => {}
            }
        }
        let (mut result, sent) = self.run(&call, &arguments, approval).await;
        requests.extend(sent);
        if dry_run && let Ok(output) = &result {
            // The plugin's plan is checked against protection, so a dry run
            // says when the real call would be refused.
            if let Err(refusal) = self.check_plan(&target, &plan_requests(output)).await {
                result = Err(CallError::Tool(ToolFailure::Api(refusal)));
            }
        }
        self.finish(&call, result, requests, approved_by, false)
    }

    /// The writes a dry run of the call plans, checked against protection;
    /// `None` when it plans none.
    async fn dry_run_plan(
        &self,
        call: &Invocation<'_>,
        requests: &mut Vec<RequestRecord>,
    ) -> Result<Option<Vec<Planned>>, ApiError> {
        let mut plan_args = call.arguments.clone();
        plan_args["dry_run"] = Value::Bool(true);
        let (plan_result, plan_requests) = self.run(call, &plan_args, Approval::None).await;
        requests.extend(plan_requests);
        self.plan_of(call.target, plan_result).await
    }

    /// Approval by asking the user mid-call: the plan they approved, `None`
    /// when the call plans no write.
    async fn approve_by_asking(
        &self,
        call: &Invocation<'_>,
        requests: &mut Vec<RequestRecord>,
    ) -> Result<Option<Vec<Planned>>, ApiError> {
        match self.dry_run_plan(call, requests).await? {
            Some(plan) => self.ask(call.target, call.ctx, &plan).await.map(|()| Some(plan)),
            None => Ok(None),
        }
    }

    /// Approval for a client that answers by calling again: on its first
    /// call the plan is sealed and the question returned
    /// ([`GateError::InputRequired`]); on the retry the sealed plan is what
    /// the user approved (or a refusal that says why not). `Ok(Ok(None))`:
    /// the call plans no write.
    async fn approve_by_retry(
        &self,
        call: &Invocation<'_>,
        requests: &mut Vec<RequestRecord>,
    ) -> Result<Result<Option<Vec<Planned>>, ApiError>, GateError> {
        let Invocation { name, arguments, caller, ctx, .. } = *call;
        if let Some(retry) = &ctx.retry
            && let Some(state) = &retry.state
        {
            let plan = match self.sealer.open(state, &caller.principal, name, arguments) {
                Ok(plan) => plan,
                Err(e) => {
                    return Ok(Err(ApiError::ConfirmationRequired(format!(
                        "{e}; nothing was sent. Call again without it to be asked anew"
                    ))));
                }
            };
            if retry.accepted == Some(true) {
                return Ok(Ok(Some(plan)));
            }
            return Ok(Err(not_approved(&self.actions(call.target, &plan).await)));
        }
        let plan = match self.dry_run_plan(call, requests).await {
            Ok(Some(plan)) => plan,
            Ok(None) => return Ok(Ok(None)),
            Err(refusal) => return Ok(Err(refusal)),
        };
        let actions = self.actions(call.target, &plan).await;
        let state = self.sealer.seal(&caller.principal, name, arguments, &plan);
        let asked = ApiError::ConfirmationRequired(format!(
            "would {}; nothing was sent; the user was asked",
            actions.join("; ")
        ));
        let audited =
            self.finish(call, Err(CallError::Tool(ToolFailure::Api(asked))), std::mem::take(requests), None, true);
        match audited {
            Err(GateError::Audit(e)) => Err(GateError::Audit(e)),
            _ => Err(GateError::InputRequired { question: question(&actions), state }),
        }
    }

    /// Runs the plugin once with `arguments` under a fresh broker; its
    /// result and requests.
    async fn run(
        &self,
        call: &Invocation<'_>,
        arguments: &Value,
        approval: Approval,
    ) -> (Result<ToolOutput, CallError>, Vec<RequestRecord>) {
        let Invocation { entry, name, caller, ctx, started, target, .. } = *call;
        let arguments = &self.targets.strip(arguments);
        let broker = Arc::new(CallBroker {
            plugin: entry.plugin.manifest.name.clone(),
            tool: name.to_string(),
            grants: entry.grants.clone(),
            read_only: self.policy.read_only,
            reads_only: false,
            role: caller.role.clone(),
            tools: self.policy.tools.clone(),
            approval: std::sync::Mutex::new(approval),
            dry_run: arguments.get("dry_run") == Some(&Value::Bool(true)),
            target: target.clone(),
            catalog: self.catalog.clone(),
            task_wait: self.policy.task_wait,
            deadline: started + self.runtime.limits().call_timeout,
            ctx: ctx.clone(),
            requests: std::sync::Mutex::new(Vec::new()),
            step: std::sync::Mutex::new(None),
        });
        let result = self.runtime.call(&entry.plugin, name, arguments, broker.clone()).await;
        let requests = broker.requests.lock().map(|r| r.clone()).unwrap_or_default();
        (result, requests)
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
        let outcome = outcome(result.as_ref().err(), &requests, gate_refused);
        let record = audit::Call {
            caller,
            plugin: &entry.plugin.manifest.name,
            tool: name,
            arguments,
            outcome,
            started,
            requests,
            approved_by,
            target: self.targets.several().then_some(call.target.name.as_str()),
        };
        self.audit(record)?;
        Ok(result?)
    }

    /// Audits a call refused before any plugin ran (rate limit, role,
    /// unknown tool), compactly.
    pub(super) fn audit_refused(
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
            target: None,
        })
    }

    /// Writes the call's audit line; fails the call when that is impossible
    /// unless the log is configured to fail open.
    pub(super) fn audit(&self, call: audit::Call<'_>) -> Result<(), GateError> {
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

/// One tool call on its way through the gate.
#[derive(Clone, Copy)]
struct Invocation<'a> {
    entry: &'a Entry,
    name: &'a str,
    arguments: &'a Value,
    caller: &'a Caller,
    ctx: &'a CallContext,
    started: Instant,
    target: &'a std::sync::Arc<super::Target>,
}

/// A call's outcome for the audit, from what the gates refused and what
/// Proxmox answered, not from the plugin's word.
pub(super) fn outcome(error: Option<&CallError>, requests: &[RequestRecord], gate_refused: bool) -> Outcome {
    let refused = gate_refused || requests.iter().any(|r| r.status == 0);
    let wrote = requests.iter().any(is_sent_write);
    match error {
        Some(CallError::Tool(_)) | None if refused && !wrote => Outcome::Denied,
        Some(CallError::Tool(_)) => Outcome::Error,
        Some(_) => Outcome::Trapped,
        None if requests.iter().any(|r| r.status >= 400) => Outcome::Error,
        None => Outcome::Ok,
    }
}

/// Whether a request record is a write that Proxmox accepted.
fn is_sent_write(r: &RequestRecord) -> bool {
    r.method != "GET" && (200..300).contains(&r.status)
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
