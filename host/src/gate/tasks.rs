//! Stopping the Proxmox task of a long call run as an MCP task
//! (`tasks/cancel`): the same gates as any write (read-only mode, the
//! caller's role, protection), rate-limited and audited.

use std::sync::Arc;
use std::time::Instant;

use serde_json::json;

use super::approval::Approval;
use super::broker::CallBroker;
use super::resources::Reading;
use super::{CallContext, Caller, Gate, GateError, Grant, ProxmoxToken};
use crate::pve::{ApiError, Method};
use crate::runtime::Broker;

/// The audit's tool name for a cancellation.
const CANCEL: &str = "tasks/cancel";

impl Gate {
    /// Proxmox's status of task `upid` on `node` of `target` (a read that
    /// needs no grant, as waiting for a task needs none).
    pub async fn task_status(
        &self,
        target: &str,
        token: Option<&ProxmoxToken>,
        node: &str,
        upid: &str,
    ) -> Result<serde_json::Value, ApiError> {
        let target =
            self.targets.named(target).and_then(|t| t.for_caller(token)).map_err(|e| ApiError::Other(e.to_string()))?;
        let pve = target.pve.as_ref().ok_or_else(|| ApiError::Other("no Proxmox connection is configured".into()))?;
        pve.request(Method::Get, &["nodes", node, "tasks", upid, "status"], &serde_json::Value::Null).await
    }

    /// Stops task `upid` on `node` of `target`, started by a call of
    /// `plugin` for `caller`.
    pub async fn stop_task(
        &self,
        caller: &Caller,
        plugin: &str,
        target: &str,
        token: Option<&ProxmoxToken>,
        node: &str,
        upid: &str,
    ) -> Result<(), GateError> {
        let target = self.targets.named(target)?.for_caller(token)?;
        let started = Instant::now();
        let arguments = json!({"node": node, "upid": upid});
        let read = Reading { plugin, what: CANCEL, arguments: &arguments, caller, started };
        self.admit_read(&read)?;
        // The one request a cancellation may make.
        let grant: Vec<Grant> = Grant::parse("DELETE /nodes/*/tasks/*").into_iter().collect();
        let broker = Arc::new(CallBroker {
            plugin: plugin.to_string(),
            tool: CANCEL.to_string(),
            grants: grant.into(),
            read_only: self.policy.read_only,
            reads_only: false,
            role: caller.role.clone(),
            tools: self.policy.tools.clone(),
            // The caller asked for it by cancelling its own task.
            approval: std::sync::Mutex::new(Approval::Confirmed),
            dry_run: false,
            target,
            catalog: self.catalog.clone(),
            task_wait: self.policy.task_wait,
            deadline: started + self.runtime.limits().call_timeout,
            ctx: CallContext { caller: Some(caller.clone()), ..CallContext::default() },
            requests: std::sync::Mutex::new(Vec::new()),
            step: std::sync::Mutex::new(None),
        });
        let path = ["nodes".to_string(), node.to_string(), "tasks".to_string(), upid.to_string()];
        let result = broker.request(Method::Delete, &path, &json!({})).await;
        let error = result
            .as_ref()
            .err()
            .map(|e: &ApiError| crate::runtime::CallError::Tool(crate::runtime::ToolFailure::Api(e.clone())));
        self.audit_read(&read, &broker, error.as_ref())?;
        match error {
            Some(e) => Err(GateError::Call(e)),
            None => Ok(()),
        }
    }
}
