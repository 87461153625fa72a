//! The host side of the contract: generated bindings, per-call store
//! state, and the implementations of the `pve`, `log`, `api-schema`,
//! `permissions` and `progress` imports.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime::{Engine, ResourceLimiter};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use super::Limits;
use super::guest_io::{GuestStream, LogBudget};
use crate::pve::apischema::{ApiSchema, Checked, check, describe};
use crate::pve::{self, ApiError, GuestInfo, Method, TaskOutcome};

wasmtime::component::bindgen!({
    path: "../wit",
    world: "plugin-with-resources",
    imports: { default: async | trappable },
    exports: { default: async },
});

use self::proxmcp::plugin::api_schema;
use self::proxmcp::plugin::types as wit;
pub use exports::proxmcp::plugin::resources as wit_resources;
pub use exports::proxmcp::plugin::tools as wit_tools;

/// The name under which a plugin exports resources (contract 0.1.1); the
/// component model finds a plugin's export of any 0.1.x by it.
const RESOURCES_EXPORT: &str = "proxmcp:plugin/resources@0.1.1";

/// A plugin linked and ready to instantiate per call: its `tools` export,
/// and its `resources` export when it has one (contract 0.1.1; plugins
/// built for 0.1.0 have none).
pub struct Pre {
    /// The linked component.
    pub instance: wasmtime::component::InstancePre<CallState>,
    /// Where `tools` lives in it.
    pub tools: wit_tools::GuestIndices,
    /// Where `resources` lives in it, if exported.
    pub resources: Option<wit_resources::GuestIndices>,
}

impl Pre {
    /// Finds the exports; a plugin without `tools`, or with a `resources`
    /// export of the wrong shape, is refused.
    pub fn new(instance: wasmtime::component::InstancePre<CallState>) -> wasmtime::Result<Self> {
        let tools = wit_tools::GuestIndices::new(&instance)?;
        let resources = match instance.component().get_export_index(None, RESOURCES_EXPORT) {
            Some(_) => Some(wit_resources::GuestIndices::new(&instance)?),
            None => None,
        };
        Ok(Pre { instance, tools, resources })
    }
}

/// What the runtime asks of the layer above for each Proxmox request a
/// plugin makes. The gate layer implements it per call: it checks grants,
/// read-only mode and confirmation before anything is sent.
#[async_trait::async_trait]
pub trait Broker: Send + Sync {
    /// A request from the plugin; `path` is unvalidated segments. The
    /// answer is the JSON text the plugin receives.
    async fn request(&self, method: Method, path: &[String], params: &Value) -> Result<String, ApiError>;
    /// Guest resolution for the plugin.
    async fn resolve_guest(&self, vmid: u32) -> Result<GuestInfo, ApiError>;
    /// Waits for a task the plugin started.
    async fn wait_task(&self, node: &str, upid: &str, timeout: Duration) -> Result<TaskOutcome, ApiError>;
    /// A message the plugin logged (already in the host's log).
    fn log(&self, _level: tracing::Level, _message: &str) {}
    /// The plugin's own progress (`progress.report`): `done` of `total`
    /// steps (0: unknown).
    fn progress(&self, _done: u32, _total: u32, _message: &str) {}
    /// Pauses the call (`progress.pause`); `false` when it was cancelled or
    /// its deadline is too close.
    async fn pause(&self, _wanted: Duration) -> bool {
        false
    }
    /// The cluster's API schema, for the `api-schema` import; `Err` says
    /// why there is none.
    async fn api_schema(&self) -> Result<Arc<ApiSchema>, String> {
        Err("this call has no Proxmox connection".into())
    }
    /// The permissions doctor's report (JSON text) for the deployment's
    /// tools (`permissions.check`).
    async fn permissions(&self) -> Result<String, ApiError> {
        Err(ApiError::Other("this call has no Proxmox connection".into()))
    }
    /// A request with the schema check as one of the gates
    /// (`api-schema.request`).
    async fn schema_request(&self, _: Method, _: &[String], _: &Value) -> Result<(String, Checked), ApiError> {
        Err(ApiError::Other("this call has no Proxmox connection".into()))
    }
}

/// The broker used while listing tools: `list-tools` must not make
/// requests, so every one is refused.
pub struct NoRequests;

#[async_trait::async_trait]
impl Broker for NoRequests {
    async fn request(&self, _: Method, _: &[String], _: &Value) -> Result<String, ApiError> {
        Err(ApiError::DeniedByPolicy("list-tools may not make Proxmox requests".into()))
    }
    async fn resolve_guest(&self, _: u32) -> Result<GuestInfo, ApiError> {
        Err(ApiError::DeniedByPolicy("list-tools may not make Proxmox requests".into()))
    }
    async fn wait_task(&self, _: &str, _: &str, _: Duration) -> Result<TaskOutcome, ApiError> {
        Err(ApiError::DeniedByPolicy("list-tools may not make Proxmox requests".into()))
    }
}

/// The error that stops a call at its deadline.
#[derive(Debug, thiserror::Error)]
#[error("deadline reached")]
pub struct DeadlineReached;

/// The error that stops a call at its memory limit.
#[derive(Debug, thiserror::Error)]
#[error("memory limit reached")]
pub struct MemoryLimitReached;

/// Enforces the per-call memory cap and remembers when it was hit.
struct CallLimiter {
    memory_bytes: usize,
    exceeded: bool,
}

impl ResourceLimiter for CallLimiter {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > self.memory_bytes {
            self.exceeded = true;
            return Err(wasmtime::Error::new(MemoryLimitReached));
        }
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= 1 << 20)
    }
}

/// Everything one tool call's store holds. Created fresh per call and
/// dropped with it, so nothing survives between calls.
pub struct CallState {
    wasi: WasiCtx,
    table: ResourceTable,
    limiter: CallLimiter,
    broker: Arc<dyn Broker>,
    budget: LogBudget,
    stdout: GuestStream,
    stderr: GuestStream,
}

impl CallState {
    /// State for one call of `plugin`, with requests going to `broker`.
    pub fn new(plugin: Arc<str>, broker: Arc<dyn Broker>, limits: &Limits) -> Self {
        let budget = LogBudget::new(plugin, limits.log_bytes);
        let stdout = GuestStream::new("stdout", budget.clone());
        let stderr = GuestStream::new("stderr", budget.clone());
        // Deny by default: no preopens, env, args, stdin or network.
        let mut builder = WasiCtxBuilder::new();
        builder
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_ip_name_lookup(false)
            .allow_tcp(false)
            .allow_udp(false);
        Self {
            wasi: builder.build(),
            table: ResourceTable::new(),
            limiter: CallLimiter { memory_bytes: limits.memory_bytes, exceeded: false },
            broker,
            budget,
            stdout,
            stderr,
        }
    }

    /// The limiter enforcing this call's memory cap.
    pub fn limiter(&mut self) -> &mut dyn ResourceLimiter {
        &mut self.limiter
    }

    /// Whether the call hit its memory cap.
    pub fn memory_exceeded(&self) -> bool {
        self.limiter.exceeded
    }

    /// Flushes captured output at the end of the call.
    pub fn finish(&self) {
        self.stdout.flush_rest();
        self.stderr.flush_rest();
        self.budget.finish();
    }
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

/// A linker with WASI p2 and the contract's imports.
pub fn linker(engine: &Engine) -> wasmtime::Result<Linker<CallState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    PluginWithResources::add_to_linker::<CallState, HasSelf<CallState>>(&mut linker, |s| s)?;
    Ok(linker)
}

impl wit::Host for CallState {}

fn method_of(method: wit::Method) -> Method {
    match method {
        wit::Method::Get => Method::Get,
        wit::Method::Post => Method::Post,
        wit::Method::Put => Method::Put,
        wit::Method::Delete => Method::Delete,
    }
}

/// A plugin's `params` text: a JSON value, or null when empty.
fn params_of(params: &str) -> Result<Value, wit::ApiError> {
    if params.trim().is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_str(params).map_err(|e| wit::ApiError::InvalidRequest(format!("params are not JSON: {e}")))
}

impl self::proxmcp::plugin::pve::Host for CallState {
    async fn request(
        &mut self,
        method: wit::Method,
        path: Vec<String>,
        params: String,
    ) -> wasmtime::Result<Result<String, wit::ApiError>> {
        let params = match params_of(&params) {
            Ok(p) => p,
            Err(e) => return Ok(Err(e)),
        };
        let result = self.broker.request(method_of(method), &path, &params).await;
        Ok(result.map_err(to_wit))
    }

    async fn resolve_guest(&mut self, vmid: u32) -> wasmtime::Result<Result<wit::GuestInfo, wit::ApiError>> {
        let result = self.broker.resolve_guest(vmid).await;
        Ok(result
            .map(|g| wit::GuestInfo {
                vmid: g.vmid,
                node: g.node,
                kind: match g.kind {
                    pve::GuestKind::Qemu => wit::GuestKind::Qemu,
                    pve::GuestKind::Lxc => wit::GuestKind::Lxc,
                },
                name: g.name,
                status: g.status,
                template: g.template,
            })
            .map_err(to_wit))
    }

    async fn wait_task(
        &mut self,
        node: String,
        upid: String,
        timeout_ms: u32,
    ) -> wasmtime::Result<Result<wit::TaskResult, wit::ApiError>> {
        let outcome = self.broker.wait_task(&node, &upid, Duration::from_millis(u64::from(timeout_ms))).await;
        Ok(outcome
            .map(|o| match o {
                TaskOutcome::Succeeded { upid, log_tail } => {
                    wit::TaskResult { upid, node, status: wit::TaskStatus::Ok, exitstatus: Some("OK".into()), log_tail }
                }
                TaskOutcome::Failed { upid, exitstatus, log_tail } => wit::TaskResult {
                    upid,
                    node,
                    status: wit::TaskStatus::Failed,
                    exitstatus: Some(exitstatus),
                    log_tail,
                },
                TaskOutcome::Running { upid, node } => wit::TaskResult {
                    upid,
                    node,
                    status: wit::TaskStatus::Running,
                    exitstatus: None,
                    log_tail: Vec::new(),
                },
                TaskOutcome::Cancelled { upid, node } => wit::TaskResult {
                    upid,
                    node,
                    status: wit::TaskStatus::Cancelled,
                    exitstatus: None,
                    log_tail: Vec::new(),
                },
            })
            .map_err(to_wit))
    }
}

impl self::proxmcp::plugin::api_schema::Host for CallState {
    async fn search(
        &mut self,
        query: String,
        method: Option<wit::Method>,
        limit: u32,
    ) -> wasmtime::Result<Result<String, wit::ApiError>> {
        Ok(match self.broker.api_schema().await {
            Ok(schema) => Ok(describe::search(&schema, &query, method.map(method_of), limit as usize).to_string()),
            Err(why) => Err(unavailable(&why)),
        })
    }

    async fn describe(
        &mut self,
        path: String,
        method: Option<wit::Method>,
        param: Option<String>,
        page: u32,
    ) -> wasmtime::Result<Result<String, wit::ApiError>> {
        Ok(match self.broker.api_schema().await {
            Ok(schema) => describe::describe(&schema, &path, method.map(method_of), param.as_deref(), page as usize)
                .map(|v| v.to_string())
                .map_err(to_wit),
            Err(why) => Err(unavailable(&why)),
        })
    }

    async fn check(
        &mut self,
        method: wit::Method,
        path: Vec<String>,
        params: String,
    ) -> wasmtime::Result<Result<api_schema::Checked, wit::ApiError>> {
        let params = match params_of(&params) {
            Ok(p) => p,
            Err(e) => return Ok(Err(e)),
        };
        let verdict = check::verdict(self.broker.api_schema().await, method_of(method), &path, &params);
        Ok(verdict.map(checked_to_wit).map_err(to_wit))
    }

    async fn request(
        &mut self,
        method: wit::Method,
        path: Vec<String>,
        params: String,
    ) -> wasmtime::Result<Result<api_schema::Sent, wit::ApiError>> {
        let params = match params_of(&params) {
            Ok(p) => p,
            Err(e) => return Ok(Err(e)),
        };
        let result = self.broker.schema_request(method_of(method), &path, &params).await;
        Ok(result.map(|(data, checked)| api_schema::Sent { data, checked: checked_to_wit(checked) }).map_err(to_wit))
    }
}

fn checked_to_wit(checked: Checked) -> api_schema::Checked {
    match checked {
        Checked::Valid(version) => api_schema::Checked::Valid(version),
        Checked::Unchecked(why) => api_schema::Checked::Unchecked(why),
    }
}

fn unavailable(why: &str) -> wit::ApiError {
    wit::ApiError::Other(format!(
        "the cluster's API schema is not available ({why}); pve_api_request still works, unchecked"
    ))
}

impl self::proxmcp::plugin::permissions::Host for CallState {
    async fn check(&mut self) -> wasmtime::Result<Result<String, wit::ApiError>> {
        Ok(self.broker.permissions().await.map_err(to_wit))
    }
}

impl self::proxmcp::plugin::progress::Host for CallState {
    async fn report(&mut self, done: u32, total: u32, message: String) -> wasmtime::Result<()> {
        // Counted like log lines, so a loop cannot flood the client.
        if self.budget.emit("progress", tracing::Level::DEBUG, &message) {
            self.broker.progress(done, total, &message);
        }
        Ok(())
    }

    async fn pause(&mut self, ms: u32) -> wasmtime::Result<bool> {
        Ok(self.broker.pause(Duration::from_millis(u64::from(ms))).await)
    }
}

impl self::proxmcp::plugin::log::Host for CallState {
    async fn log(&mut self, level: self::proxmcp::plugin::log::Level, message: String) -> wasmtime::Result<()> {
        use self::proxmcp::plugin::log::Level as L;
        let level = match level {
            L::Trace => tracing::Level::TRACE,
            L::Debug => tracing::Level::DEBUG,
            L::Info => tracing::Level::INFO,
            L::Warn => tracing::Level::WARN,
            L::Error => tracing::Level::ERROR,
        };
        // Within the budget, the caller's client may see it too.
        if self.budget.emit("log", level, &message) {
            self.broker.log(level, &message);
        }
        Ok(())
    }
}

fn to_wit(e: ApiError) -> wit::ApiError {
    match e {
        ApiError::BadRequest { message, fields } => wit::ApiError::BadRequest(wit::BadRequest {
            message,
            fields: fields.into_iter().map(|f| wit::FieldError { field: f.field, message: f.message }).collect(),
        }),
        ApiError::Unauthorized(m) => wit::ApiError::Unauthorized(m),
        ApiError::Forbidden(m) => wit::ApiError::Forbidden(m),
        ApiError::NotFound(m) => wit::ApiError::NotFound(m),
        ApiError::Conflict(m) => wit::ApiError::Conflict(m),
        ApiError::Timeout(m) => wit::ApiError::Timeout(m),
        ApiError::NodeUnreachable(m) => wit::ApiError::NodeUnreachable(m),
        ApiError::DeniedByPolicy(m) => wit::ApiError::DeniedByPolicy(m),
        ApiError::ConfirmationRequired(m) => wit::ApiError::ConfirmationRequired(m),
        ApiError::InvalidRequest(m) => wit::ApiError::InvalidRequest(m),
        ApiError::Upstream { status, message } => wit::ApiError::Upstream(wit::UpstreamError { status, message }),
        ApiError::Other(m) => wit::ApiError::Other(m),
    }
}

fn from_wit(e: wit::ApiError) -> ApiError {
    match e {
        wit::ApiError::BadRequest(b) => ApiError::BadRequest {
            message: b.message,
            fields: b.fields.into_iter().map(|f| pve::FieldError { field: f.field, message: f.message }).collect(),
        },
        wit::ApiError::Unauthorized(m) => ApiError::Unauthorized(m),
        wit::ApiError::Forbidden(m) => ApiError::Forbidden(m),
        wit::ApiError::NotFound(m) => ApiError::NotFound(m),
        wit::ApiError::Conflict(m) => ApiError::Conflict(m),
        wit::ApiError::Timeout(m) => ApiError::Timeout(m),
        wit::ApiError::NodeUnreachable(m) => ApiError::NodeUnreachable(m),
        wit::ApiError::DeniedByPolicy(m) => ApiError::DeniedByPolicy(m),
        wit::ApiError::ConfirmationRequired(m) => ApiError::ConfirmationRequired(m),
        wit::ApiError::InvalidRequest(m) => ApiError::InvalidRequest(m),
        wit::ApiError::Upstream(u) => ApiError::Upstream { status: u.status, message: u.message },
        wit::ApiError::Other(m) => ApiError::Other(m),
    }
}

/// Converts a plugin's `tool-error` into the host's type.
pub fn tool_failure(e: exports::proxmcp::plugin::tools::ToolError) -> super::ToolFailure {
    use exports::proxmcp::plugin::tools::ToolError as T;
    match e {
        T::InvalidArguments(m) => super::ToolFailure::InvalidArguments(m),
        T::UnknownTool(m) => super::ToolFailure::UnknownTool(m),
        T::Api(a) => super::ToolFailure::Api(from_wit(a)),
        T::Other(m) => super::ToolFailure::Other(m),
    }
}
