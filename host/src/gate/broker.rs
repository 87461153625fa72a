//! The broker of one tool call: every Proxmox request a plugin makes passes
//! here, through the gates in a fixed order — read-only mode, the caller's
//! role, the plugin's grant, tools the deployment denies, protection, dry
//! run, approval — before it reaches the Proxmox client.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::access::Role;
use super::approval::{Approval, ask_user};
use super::audit::RequestRecord;
use super::{CallContext, Grant, Progress, ToolSelection};
use crate::pve::apischema::{ApiSchema, Checked, check};
use crate::pve::endpoints::{self, Matched};
use crate::pve::{ApiError, GuestInfo, Method, PveClient, TaskOutcome, encode_path};
use crate::runtime::Broker;

/// Time kept back from a task wait so the plugin can still answer before
/// the call's deadline.
const ANSWER_MARGIN: Duration = Duration::from_secs(2);

/// The gates of one call, and what it sent.
pub(crate) struct CallBroker {
    pub plugin: String,
    pub tool: String,
    pub grants: std::sync::Arc<[Grant]>,
    pub read_only: bool,
    /// A resource read or completion: only reads, whatever the policy.
    pub reads_only: bool,
    /// The caller's role (its tools and whether it may only read).
    pub role: std::sync::Arc<Role>,
    pub tools: ToolSelection,
    pub approval: Mutex<Approval>,
    pub dry_run: bool,
    /// Where the call's requests go, and the rules that hold there.
    pub target: std::sync::Arc<super::Target>,
    /// The deployment's tools, for the permissions doctor.
    pub catalog: std::sync::Arc<[super::doctor::ToolFacts]>,
    pub task_wait: Duration,
    pub deadline: Instant,
    pub ctx: CallContext,
    /// Every request of the call, for the audit line.
    pub requests: Mutex<Vec<RequestRecord>>,
    /// The plugin's last reported step (`progress.report`): done, total.
    pub step: Mutex<Option<(u32, u32)>>,
}

/// The HTTP status an error stands for in the audit (0: nothing was sent).
pub(crate) fn audit_status(e: &ApiError) -> u16 {
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

/// What a write would do, for people: the model's action with the guest's
/// name and the parameters (secrets masked).
pub async fn describe(pve: Option<&PveClient>, method: Method, path: &[String], params: &Value) -> String {
    let Some(m) = endpoints::lookup(method, path) else {
        let shown = encode_path(path).unwrap_or_else(|_| "(invalid path)".into());
        return with_params(
            format!("send {method} {shown}"),
            &endpoints::show_params(params, &endpoints::is_secret_key),
        );
    };
    let mut text = m.fill(m.endpoint.action);
    if text.contains("{guest}") {
        text = text.replace("{guest}", &guest_label(pve, &m).await);
    }
    // Guests named in the parameters that exist (a restore with force, a
    // clone onto an id, a backup list) are named with their names.
    let path_vmid = m.var("vmid").and_then(|v| v.parse::<u32>().ok());
    let mut existing = Vec::new();
    if let Some(client) = pve {
        for id in m.targets(params).ids.into_iter().filter(|id| Some(*id) != path_vmid).take(5) {
            if let Ok(g) = client.resolve_guest(id).await {
                existing.push(format!("{} on {}", g.label(), g.node));
            }
        }
    }
    if !existing.is_empty() {
        text = format!("{text}, acting on existing {}", existing.join(", "));
    }
    with_params(text, &m.shown_params(params))
}

fn with_params(text: String, shown: &str) -> String {
    if shown.is_empty() { text } else { format!("{text} ({shown})") }
}

/// `VM 101 "web" on pve1`: the name from the guest cache when known.
async fn guest_label(pve: Option<&PveClient>, m: &Matched) -> String {
    let (node, vmid) = (m.var("node").unwrap_or("?"), m.var("vmid").unwrap_or("?"));
    let label = if m.var("kind") == Some("lxc") { "CT" } else { "VM" };
    let name = match (pve, vmid.parse::<u32>()) {
        (Some(c), Ok(id)) => c.resolve_guest(id).await.ok().and_then(|g: GuestInfo| g.name),
        _ => None,
    };
    match name {
        Some(n) => format!("{label} {vmid} {n:?} on {node}"),
        None => format!("{label} {vmid} on {node}"),
    }
}

impl CallBroker {
    fn client(&self) -> Result<&PveClient, ApiError> {
        self.target.pve.as_ref().ok_or_else(|| {
            ApiError::Other("no Proxmox connection is configured; set PVE_BASE_URL and an API token".into())
        })
    }

    /// The gates, then the request; with `schema`, the request is checked
    /// against the cluster's API schema after the policy gates and before
    /// confirmation.
    async fn checked_request(
        &self,
        method: Method,
        path: &[String],
        shown: &str,
        params: &Value,
        schema: bool,
    ) -> Result<(String, Option<Checked>), ApiError> {
        if self.read_only && method.is_write() {
            return Err(ApiError::DeniedByPolicy(format!(
                "read-only mode refuses {method} {shown}; nothing was sent (an operator can turn off PROXMCP_READ_ONLY)"
            )));
        }
        if self.target.read_only && method.is_write() {
            let name = &self.target.name;
            return Err(ApiError::DeniedByPolicy(format!(
                "target {name:?} is read-only ([targets.{name}] read_only = true), so {method} {shown} was refused; nothing was sent. Pick a writable target with the target argument"
            )));
        }
        if self.reads_only && method.is_write() {
            return Err(ApiError::DeniedByPolicy(format!(
                "{} only reads, so {method} {shown} was refused; nothing was sent",
                self.tool
            )));
        }
        if self.role.read_only && method.is_write() {
            return Err(ApiError::DeniedByPolicy(format!(
                "role {:?} may only read, so {method} {shown} was refused; nothing was sent",
                self.role.name
            )));
        }
        if !self.grants.iter().any(|g| g.allows(method, path)) {
            return Err(ApiError::DeniedByPolicy(format!(
                "plugin {:?} has no grant for {method} {shown}; nothing was sent. An operator who wants to allow it adds the grant \"{method} {shown}\" (or a pattern covering it) for this plugin",
                self.plugin
            )));
        }
        self.role.scope.check(&self.role.name, self.target.pve.as_ref(), method, path, params).await?;
        if method.is_write() {
            self.check_tool_of_endpoint(method, shown, path)?;
            self.target.protection.check(self.target.pve.as_ref(), method, path, params).await?;
        }
        let checked = if schema { Some(self.check_schema(method, path, params).await?) } else { None };
        if method.is_write() && self.dry_run {
            return Err(ApiError::DeniedByPolicy(format!(
                "dry run: this call would {}; nothing was sent",
                describe(self.target.pve.as_ref(), method, path, params).await
            )));
        }
        if method.is_write() {
            self.check_approval(method, path, params).await?;
        }
        let client = self.client()?;
        let result = client.request_raw(method, path, params).await;
        if method.is_write() {
            client.invalidate_guests().await;
        }
        let result = match result {
            Ok(data) if !method.is_write() => self.role.scope.filter(Some(client), path, &data).await,
            other => other,
        };
        result.map(|data| (data, checked))
    }

    /// Nothing the cluster's own schema refuses is sent; without a schema
    /// the request goes unchecked, and the answer says so.
    async fn check_schema(&self, method: Method, path: &[String], params: &Value) -> Result<Checked, ApiError> {
        check::verdict(self.client()?.api_schema().await, method, path, params)
    }

    /// One request through the gates, recorded for the audit line.
    async fn send(
        &self,
        method: Method,
        path: &[String],
        params: &Value,
        schema: bool,
    ) -> Result<(String, Option<Checked>), ApiError> {
        let started = Instant::now();
        let (shown, result) = match encode_path(path) {
            Ok(shown) => {
                let result = self.checked_request(method, path, &shown, params, schema).await;
                (shown, result)
            }
            Err(e) => ("(invalid path)".to_string(), Err(e)),
        };
        let status = match &result {
            Ok(_) => 200,
            Err(e) => audit_status(e),
        };
        if let Ok(mut log) = self.requests.lock() {
            log.push(RequestRecord {
                method: method.as_str().to_string(),
                path: shown,
                status,
                ms: started.elapsed().as_millis() as u64,
            });
        }
        result
    }

    /// A write that does what a tool the deployment or the caller's role
    /// denies is refused from any other tool too (the raw API above all).
    /// Reads are not: the tools that read an endpoint are many and reading
    /// it is no way around a denied tool's effect.
    fn check_tool_of_endpoint(&self, method: Method, shown: &str, path: &[String]) -> Result<(), ApiError> {
        let Some(m) = endpoints::lookup(method, path).filter(|_| method.is_write()) else {
            return Ok(());
        };
        let tools = m.endpoint.tools;
        if tools.is_empty() || tools.contains(&self.tool.as_str()) {
            return Ok(());
        }
        if tools.iter().all(|t| !self.tools.offers(t) || !self.role.allows(t)) {
            return Err(ApiError::DeniedByPolicy(format!(
                "{method} {shown} does what tool {} does, which this deployment or role {:?} does not allow; nothing was sent",
                tools.join(" or "),
                self.role.name
            )));
        }
        Ok(())
    }

    async fn check_approval(&self, method: Method, path: &[String], params: &Value) -> Result<(), ApiError> {
        // Decide under the lock, describe and ask after it is released.
        let approved = {
            let mut approval = self.approval.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            match &mut *approval {
                Approval::Confirmed => Some(true),
                Approval::Exactly(plan) => match plan.iter().position(|p| p.is(method, path, params)) {
                    Some(i) => {
                        plan.remove(i);
                        Some(true)
                    }
                    None => Some(false),
                },
                Approval::None => None,
            }
        };
        match approved {
            Some(true) => Ok(()),
            Some(false) => Err(ApiError::ConfirmationRequired(format!(
                "the user approved other requests, not this one: would {}; nothing was sent",
                describe(self.target.pve.as_ref(), method, path, params).await
            ))),
            None => {
                // No plan to approve (a plugin whose dry run lists no
                // requests): the user is asked for this one request.
                let action = describe(self.target.pve.as_ref(), method, path, params).await;
                ask_user(self.ctx.confirmer.as_ref(), &[action]).await
            }
        }
    }

    async fn wait(&self, node: &str, upid: &str, timeout: Duration) -> Result<TaskOutcome, ApiError> {
        let left = self.deadline.saturating_duration_since(Instant::now()).saturating_sub(ANSWER_MARGIN);
        let timeout = timeout.min(self.task_wait).min(left);
        if let Some(sink) = &self.ctx.on_task {
            sink(&self.target.name, node, upid);
        }
        let progress = self.ctx.progress.clone();
        let step = *self.step.lock().unwrap_or_else(|e| e.into_inner());
        let wait = self.client()?.wait_task(node, upid, timeout, move |p| {
            if let Some(sink) = &progress {
                sink(Progress::of_task(&p, step));
            }
        });
        tokio::select! {
            outcome = wait => outcome,
            () = self.ctx.cancel.cancelled() => Ok(TaskOutcome::Cancelled { upid: upid.to_string(), node: node.to_string() }),
        }
    }
}

#[async_trait::async_trait]
impl Broker for CallBroker {
    fn log(&self, level: tracing::Level, message: &str) {
        if let Some(sink) = &self.ctx.log {
            sink(level, &self.plugin, message);
        }
    }

    async fn request(&self, method: Method, path: &[String], params: &Value) -> Result<String, ApiError> {
        self.send(method, path, params, false).await.map(|(data, _)| data)
    }

    fn progress(&self, done: u32, total: u32, message: &str) {
        *self.step.lock().unwrap_or_else(|e| e.into_inner()) = Some((done, total));
        if let Some(sink) = &self.ctx.progress {
            let total = (total > 0).then_some(f64::from(total));
            sink(Progress { value: f64::from(done), total, message: message.to_string() });
        }
    }

    async fn pause(&self, wanted: Duration) -> bool {
        let left = self.deadline.saturating_duration_since(Instant::now()).saturating_sub(ANSWER_MARGIN);
        if left.is_zero() || self.ctx.cancel.is_cancelled() {
            return false;
        }
        tokio::select! {
            () = tokio::time::sleep(wanted.min(left)) => !self.ctx.cancel.is_cancelled(),
            () = self.ctx.cancel.cancelled() => false,
        }
    }

    async fn schema_request(
        &self,
        method: Method,
        path: &[String],
        params: &Value,
    ) -> Result<(String, Checked), ApiError> {
        let (data, checked) = self.send(method, path, params, true).await?;
        // `send` with the schema gate always says how the check went.
        Ok((data, checked.unwrap_or_else(|| Checked::Unchecked("the schema gate did not run".into()))))
    }

    async fn resolve_guest(&self, vmid: u32) -> Result<GuestInfo, ApiError> {
        let g = self.client()?.resolve_guest(vmid).await?;
        let scope = &self.role.scope;
        if !scope.guests_open() && !scope.covers(&g) {
            // Outside the scope is as good as absent.
            return Err(ApiError::NotFound(format!(
                "guest {vmid} is not among the guests role {:?} may reach ({})",
                self.role.name,
                scope.describe()
            )));
        }
        Ok(g)
    }

    async fn wait_task(&self, node: &str, upid: &str, timeout: Duration) -> Result<TaskOutcome, ApiError> {
        self.wait(node, upid, timeout).await
    }

    async fn permissions(&self) -> Result<String, ApiError> {
        let identity = self.client()?.identity().clone();
        let read = |what: &'static str| async move {
            let text = self.request(Method::Get, &["access".to_string(), what.to_string()], &Value::Null).await?;
            serde_json::from_str(&text).map_err(|e| ApiError::Other(format!("Proxmox's answer is not JSON: {e}")))
        };
        let report = super::doctor::examine(&self.catalog, &identity, read).await?;
        serde_json::to_string(&report).map_err(|e| ApiError::Other(format!("the report could not be encoded: {e}")))
    }

    async fn api_schema(&self) -> Result<std::sync::Arc<ApiSchema>, String> {
        match &self.target.pve {
            Some(client) => client.api_schema().await,
            None => Err("no Proxmox connection is configured".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gate::{Protection, UnknownWrites};
    use serde_json::json;

    /// A broker for the `raw` tool of plugin `p` with no Proxmox behind it:
    /// a request that passes every gate fails at the missing connection.
    fn broker(grant: &str, setup: impl FnOnce(&mut CallBroker)) -> CallBroker {
        let mut b = CallBroker {
            plugin: "p".into(),
            tool: "raw".into(),
            grants: vec![Grant::parse(grant).unwrap()].into(),
            read_only: false,
            reads_only: false,
            role: std::sync::Arc::new(Role {
                name: "admin".into(),
                tools: vec!["*".into()],
                read_only: false,
                scope: Default::default(),
            }),
            tools: ToolSelection::default(),
            approval: Mutex::new(Approval::None),
            dry_run: false,
            target: std::sync::Arc::new(crate::gate::Target {
                name: "default".into(),
                pve: None,
                read_only: false,
                protection: Protection { tag: None, vmids: [100].into(), unknown_writes: UnknownWrites::Refuse },
                caller_credentials: false,
            }),
            catalog: std::sync::Arc::new([]),
            task_wait: Duration::from_secs(1),
            deadline: Instant::now() + Duration::from_secs(5),
            ctx: CallContext::default(),
            requests: Mutex::new(Vec::new()),
            step: Mutex::new(None),
        };
        setup(&mut b);
        b
    }

    async fn stop(b: &CallBroker, vmid: &str) -> String {
        let path: Vec<String> = ["nodes", "pve1", "qemu", vmid, "status", "stop"].map(String::from).to_vec();
        match b.request(Method::Post, &path, &json!({})).await {
            Ok(_) => "sent".into(),
            Err(e) => e.to_string(),
        }
    }

    #[tokio::test]
    async fn the_gates_run_in_order_read_only_role_grant_tools_protection_dry_run_approval() {
        let err = stop(&broker("GET /**", |b| b.read_only = true), "100").await;
        assert!(err.contains("read-only mode"), "read-only comes first: {err}");
        let err = stop(
            &broker("GET /**", |b| {
                b.role = std::sync::Arc::new(Role {
                    name: "viewer".into(),
                    tools: vec!["*".into()],
                    read_only: true,
                    scope: Default::default(),
                })
            }),
            "100",
        )
        .await;
        assert!(err.contains("may only read"), "then the role: {err}");
        let err = stop(&broker("GET /**", |_| {}), "100").await;
        assert!(err.contains("no grant"), "then the grant, before protection: {err}");
        let err = stop(
            &broker("* /**", |b| b.tools = ToolSelection { allow: vec![], deny: vec!["pve_stop_vm".into()] }),
            "100",
        )
        .await;
        assert!(err.contains("does what tool pve_stop_vm does"), "then denied tools: {err}");
        let err = stop(&broker("* /**", |b| b.dry_run = true), "100").await;
        assert!(err.contains("protected"), "protection before the dry run: {err}");
        let err = stop(&broker("* /**", |b| b.dry_run = true), "102").await;
        assert!(err.contains("dry run"), "the dry run before approval: {err}");
        let err = stop(&broker("* /**", |_| {}), "102").await;
        assert!(err.contains("confirm=true"), "then approval: {err}");
        let err = stop(&broker("* /**", |b| b.approval = Mutex::new(Approval::Confirmed)), "102").await;
        assert!(err.contains("no Proxmox connection"), "a confirmed request reaches the client: {err}");
    }

    #[tokio::test]
    async fn every_request_is_recorded_with_status_zero_when_refused() {
        let b = broker("GET /**", |_| {});
        stop(&b, "102").await;
        let log = b.requests.lock().unwrap().clone();
        assert_eq!(log.len(), 1);
        assert_eq!((log[0].method.as_str(), log[0].status), ("POST", 0));
    }
}
