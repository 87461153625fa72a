//! The MCP face of proxmcp: an rmcp server whose tool registry is built
//! from the loaded plugins, and the transports that carry it (stdio here,
//! HTTP in [`http`]).

mod call_context;
mod forward;
pub mod http;
mod logging;
mod prompts;
mod resources;
mod stdio;
mod tasks;

use std::sync::Arc;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation, InitializeResult,
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, Tool, ToolAnnotations,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler, ServiceExt};
use serde_json::{Map, Value, json};

use crate::gate::{CallContext, Caller, CompletionRef, Gate, GateError};
use crate::runtime::{CallError, ToolFailure, ToolSpec};

use self::call_context::{confirmer, input_required, progress_sink, proxmox_token, retry};

/// The MCP server over a [`Gate`].
#[derive(Clone)]
pub struct ProxmcpServer {
    gate: Arc<Gate>,
    /// Every offered tool; each caller sees the ones its role allows.
    tools: Arc<Vec<Tool>>,
    /// The caller of the whole session (legacy SSE authenticates once per
    /// stream); `None`: per request from the HTTP layer, else local.
    session_caller: Option<Caller>,
    /// The session's log level; each session gets its own.
    log_level: logging::SessionLevel,
    /// Calls running as MCP tasks, shared by every session.
    tasks: Arc<tasks::TaskBook>,
    drain: Arc<Drain>,
}

/// After the last call in flight finished, how long its answer gets to
/// reach the client before the sessions close.
const FLUSH_WINDOW: std::time::Duration = std::time::Duration::from_millis(500);

/// Graceful shutdown: once draining, new calls are refused while the
/// calls in flight get to finish.
#[derive(Default)]
struct Drain {
    draining: std::sync::atomic::AtomicBool,
    inflight: tokio_util::task::TaskTracker,
}

impl std::fmt::Debug for ProxmcpServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxmcpServer").field("tools", &self.tools.len()).finish()
    }
}

impl ProxmcpServer {
    /// A server offering the gate's tools.
    pub fn new(gate: Arc<Gate>) -> Self {
        let tools = gate.tools().map(to_mcp_tool).collect();
        Self {
            gate,
            tools: Arc::new(tools),
            session_caller: None,
            log_level: logging::SessionLevel::default(),
            tasks: Arc::default(),
            drain: Arc::default(),
        }
    }

    /// Stops taking new tool calls and waits up to `grace` for those in
    /// flight; returns (and logs) how many were still running when time ran
    /// out.
    pub async fn drain(&self, grace: std::time::Duration) -> usize {
        self.drain.draining.store(true, std::sync::atomic::Ordering::SeqCst);
        self.drain.inflight.close();
        let running = self.drain.inflight.len();
        if running > 0 {
            tracing::info!(running, "shutting down: waiting up to {:.0} s for calls in flight", grace.as_secs_f64());
        }
        let _ = tokio::time::timeout(grace, self.drain.inflight.wait()).await;
        let left = self.drain.inflight.len();
        if left > 0 {
            tracing::warn!(left, "shutting down with calls still running");
        }
        left
    }

    /// The same server for a session whose caller is known up front.
    pub fn for_caller(&self, caller: Caller) -> Self {
        Self { session_caller: Some(caller), ..self.for_session() }
    }

    /// The same server for a new session: its own log level.
    pub fn for_session(&self) -> Self {
        Self { log_level: logging::SessionLevel::default(), ..self.clone() }
    }

    /// Every tool the deployment offers, as MCP tools.
    pub fn tools(&self) -> &[Tool] {
        &self.tools
    }

    /// The caller of a request: set by the HTTP layer on the request, else
    /// the session's, else the local principal. Never from tool arguments.
    fn caller(&self, context: &RequestContext<RoleServer>) -> Option<Caller> {
        context
            .extensions
            .get::<axum::http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<Caller>().cloned())
            .or_else(|| self.session_caller.clone())
    }

    /// The caller of a request, the local principal when there is none.
    fn caller_or_local(&self, context: &RequestContext<RoleServer>) -> Caller {
        self.caller(context).unwrap_or_else(|| self.gate.rbac().local().clone())
    }

    /// The names of the tools this request's caller may call.
    fn offered(&self, context: &RequestContext<RoleServer>) -> std::collections::BTreeSet<String> {
        let caller = self.caller(context);
        self.gate.tools_for(caller.as_ref()).map(|t| t.name.clone()).collect()
    }

    /// A confirmed write from a client that declared the tasks extension
    /// runs as an MCP task: the answer is the task, the call goes on.
    fn start_as_task(
        &self,
        request: &CallToolRequestParams,
        context: &RequestContext<RoleServer>,
    ) -> Option<CallToolResponse> {
        let declared = context.client_capabilities().is_some_and(|c| c.supports_tasks());
        let args = request.arguments.as_ref()?;
        let confirmed =
            args.get("confirm") == Some(&Value::Bool(true)) && args.get("dry_run") != Some(&Value::Bool(true));
        // The cheap tests first: most calls are reads without `confirm`.
        if !(declared && confirmed) {
            return None;
        }
        let caller = self.caller_or_local(context);
        if !self.gate.tools_for(Some(&caller)).any(|t| t.name == request.name && !t.hints.read_only) {
            return None;
        }
        let plugin = self.gate.plugin_of(&request.name)?;
        let (started, created) = self.tasks.start(&caller, plugin)?;
        let ctx = CallContext {
            progress: Some(started.on_progress),
            on_task: Some(started.on_task),
            cancel: started.cancel,
            caller: Some(caller),
            proxmox_token: proxmox_token(context),
            ..CallContext::default()
        };
        let (gate, book, id) = (self.gate.clone(), self.tasks.clone(), started.id);
        let (name, args) = (request.name.to_string(), Value::Object(args.clone()));
        let inflight = self.drain.inflight.token();
        tracing::info!(tool = %name, task = %id, "running as an MCP task");
        let began = std::time::Instant::now();
        tokio::spawn(async move {
            let _inflight = inflight;
            let outcome = gate.call_tool(&name, args, ctx).await;
            // A confirmed call never asks, so only a result or an error ends it.
            let as_object = |v: Result<Value, serde_json::Error>| match v {
                Ok(Value::Object(map)) => map,
                _ => Map::new(),
            };
            let end = match answer(&name, outcome, began) {
                Ok(CallToolResponse::Complete(result)) => Ok(as_object(serde_json::to_value(result))),
                Ok(_) => Err(as_object(serde_json::to_value(McpError::internal_error(
                    "the call asked a question inside a task",
                    None,
                )))),
                Err(e) => Err(as_object(serde_json::to_value(e))),
            };
            book.finish(&id, end);
        });
        Some(CallToolResponse::Task(created))
    }

    /// While draining, new work is refused with its own code.
    fn refuse_when_draining(&self) -> Result<(), McpError> {
        if self.drain.draining.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(McpError::new(
                rmcp::model::ErrorCode(SHUTTING_DOWN),
                "proxmcp is shutting down and takes no new calls; retry once it is back",
                None,
            ));
        }
        Ok(())
    }

    fn tools_for(&self, caller: Option<&Caller>) -> Vec<Tool> {
        let names: std::collections::BTreeSet<&str> = self.gate.tools_for(caller).map(|t| t.name.as_str()).collect();
        let mut tools: Vec<Tool> = self.tools.iter().filter(|t| names.contains(t.name.as_ref())).cloned().collect();
        // A role limited to some targets is offered only those.
        let role = &caller.unwrap_or(self.gate.rbac().local()).role;
        let allowed = &role.scope.targets;
        if !allowed.is_empty() {
            for tool in &mut tools {
                let Some(Value::Array(names)) =
                    tool.input_schema.get("properties").and_then(|p| p.get("target")).and_then(|t| t.get("enum"))
                else {
                    continue;
                };
                let kept: Vec<Value> = names
                    .iter()
                    .filter(|n| n.as_str().is_some_and(|n| allowed.iter().any(|a| a == n)))
                    .cloned()
                    .collect();
                let mut schema = (*tool.input_schema).clone();
                if let Some(Value::Object(target)) = schema.get_mut("properties").and_then(|p| p.get_mut("target")) {
                    target.insert("enum".into(), Value::Array(kept));
                }
                tool.input_schema = Arc::new(schema);
            }
        }
        tools
    }

    /// Serves MCP over stdin/stdout until the client disconnects or `stop`
    /// fires (then calls in flight get `grace` to finish).
    pub async fn serve_stdio(
        self,
        stop: impl std::future::Future<Output = ()>,
        grace: std::time::Duration,
    ) -> Result<(), std::io::Error> {
        let ct = tokio_util::sync::CancellationToken::new();
        let (input, output, restore) = stdio::streams();
        let running = self
            .clone()
            .serve_with_ct((input, output), ct.clone())
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        let waiting = running.waiting();
        tokio::pin!(waiting);
        tokio::select! {
            done = &mut waiting => {
                done.map_err(|e| std::io::Error::other(e.to_string()))?;
            }
            () = stop => {
                self.drain(grace).await;
                tokio::time::sleep(FLUSH_WINDOW).await;
                ct.cancel();
                // The session lets go of stdin and stdout before their
                // flags are restored (blocking again) below.
                let _ = tokio::time::timeout(FLUSH_WINDOW, waiting).await;
            }
        }
        drop(restore);
        Ok(())
    }
}

/// Turns a plugin's tool into an MCP tool. Tools that are not read-only get
/// a `confirm` argument: the host refuses their writes without it.
/// How many bytes `spec` adds to a `tools/list` answer (its JSON, and the
/// comma that separates it): the token cost a plugin puts on every client.
pub fn tools_list_bytes(spec: &ToolSpec) -> usize {
    serde_json::to_string(&to_mcp_tool(spec)).map_or(0, |s| s.len() + 1)
}

/// The MCP tool a plugin's tool is served as.
pub fn to_mcp_tool(spec: &ToolSpec) -> Tool {
    let mut input = spec.input_schema.clone();
    if !spec.hints.read_only {
        let props = input.entry("properties").or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(props) = props {
            props.entry("confirm").or_insert_with(|| {
                json!({"type": "boolean", "description": "Must be true for the call to change anything; ask the user first."})
            });
        }
    }
    // Only what differs from MCP's defaults (not read-only; destructive,
    // not idempotent, open world), and destructive/idempotent only for a
    // tool that writes, where they mean something: the same hints in fewer
    // bytes of every client's context. The title is the tool's own.
    let h = &spec.hints;
    let mut annotations = ToolAnnotations::new();
    annotations.read_only_hint = h.read_only.then_some(true);
    annotations.destructive_hint = (!h.read_only && !h.destructive).then_some(false);
    annotations.idempotent_hint = (!h.read_only && h.idempotent).then_some(true);
    annotations.open_world_hint = (!h.open_world).then_some(false);
    let mut tool =
        Tool::new(spec.name.clone(), spec.description.clone(), Arc::new(input)).with_annotations(annotations);
    if let Some(title) = &spec.title {
        tool = tool.with_title(title.clone());
    }
    if let Some(out) = &spec.output_schema {
        tool = tool.with_raw_output_schema(Arc::new(out.clone()));
    }
    tool
}

/// JSON-RPC error codes of proxmcp's own, outside the range -32768..-32000
/// that JSON-RPC and MCP reserve: over the rate limit (retry after
/// `data.retryAfterSeconds`), and shutting down (retry once it is back).
pub const RATE_LIMITED: i32 = -31029;
/// See [`RATE_LIMITED`].
pub const SHUTTING_DOWN: i32 = -31001;

/// A refusal of the gate as a JSON-RPC error: unknown or not allowed is
/// the caller's mistake (invalid params), over the rate limit has its own
/// code with the wait; anything else is an internal error with the reason.
fn gate_error(what: &str, e: GateError) -> McpError {
    match e {
        GateError::RateLimited { retry_after, .. } => {
            tracing::info!(what, "rate limited");
            McpError::new(
                rmcp::model::ErrorCode(RATE_LIMITED),
                e.to_string(),
                Some(json!({"retryAfterSeconds": retry_after.as_secs_f64()})),
            )
        }
        GateError::UnknownResource(_) => McpError::resource_not_found(e.to_string(), None),
        GateError::UnknownTool(_)
        | GateError::NotAllowed { .. }
        | GateError::ResourceNotAllowed { .. }
        | GateError::ArgumentsNotObject => McpError::invalid_params(e.to_string(), None),
        GateError::Call(CallError::Tool(ToolFailure::InvalidArguments(_) | ToolFailure::UnknownTool(_))) => {
            McpError::invalid_params(e.to_string(), None)
        }
        other => McpError::internal_error(other.to_string(), None),
    }
}

fn error_result(message: String) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(message)])
}

/// The newest MCP revision proxmcp is tested against: a newer rmcp does not
/// advertise a revision the tests never saw.
pub const NEWEST_PROTOCOL: rmcp::model::ProtocolVersion = rmcp::model::ProtocolVersion::V_2026_07_28;

impl ServerHandler for ProxmcpServer {
    fn supported_protocol_versions(&self) -> std::borrow::Cow<'static, [rmcp::model::ProtocolVersion]> {
        std::borrow::Cow::Borrowed(rmcp::model::ProtocolVersion::known_up_to(&NEWEST_PROTOCOL))
    }

    fn get_info(&self) -> InitializeResult {
        // The builder's typestate wants its fields' order.
        #[allow(deprecated)]
        let mut caps = ServerCapabilities::builder()
            .enable_tasks()
            .enable_logging()
            .enable_completions()
            .enable_prompts()
            .enable_resources()
            .enable_tools()
            .build();
        if let Some(tools) = caps.tools.as_mut() {
            tools.list_changed = Some(false);
        }
        let mode = if self.gate.policy().read_only { " Read-only mode: only reads are possible." } else { "" };
        InitializeResult::new(caps)
            .with_server_info(Implementation::new("proxmcp", env!("CARGO_PKG_VERSION")).with_title("proxmcp: Proxmox VE"))
            .with_instructions(format!(
                "Tools for a Proxmox VE cluster. Tools that change anything need confirm=true; ask the user before setting it.{mode}"
            ))
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let caller = self.caller(&context);
        Ok(ListToolsResult { tools: self.tools_for(caller.as_ref()), ..ListToolsResult::default() })
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<rmcp::model::ListPromptsResult, McpError> {
        let offered = self.offered(&context);
        Ok(rmcp::model::ListPromptsResult { prompts: prompts::list(&|t| offered.contains(t)), ..Default::default() })
    }

    async fn get_prompt(
        &self,
        request: rmcp::model::GetPromptRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<rmcp::model::GetPromptResponse, McpError> {
        let offered = self.offered(&context);
        match prompts::get(&request.name, request.arguments.as_ref(), &|t| offered.contains(t)) {
            Ok(prompt) => Ok(prompt.into()),
            Err(e) => Err(McpError::invalid_params(e.to_string(), None)),
        }
    }

    #[allow(deprecated)]
    async fn set_level(
        &self,
        request: rmcp::model::SetLevelRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        self.log_level.set(request.level);
        Ok(())
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<rmcp::model::ListResourcesResult, McpError> {
        let caller = self.caller(&context);
        let listed = self.gate.resources_for(caller.as_ref()).into_iter().map(resources::to_mcp).collect();
        Ok(resources::listing(rmcp::model::ListResourcesResult::with_all_items(listed)))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<rmcp::model::ListResourceTemplatesResult, McpError> {
        let caller = self.caller(&context);
        let listed = self.gate.templates_for(caller.as_ref()).into_iter().map(resources::template_to_mcp).collect();
        Ok(resources::listing_templates(rmcp::model::ListResourceTemplatesResult::with_all_items(listed)))
    }

    async fn read_resource(
        &self,
        request: rmcp::model::ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<rmcp::model::ReadResourceResponse, McpError> {
        self.refuse_when_draining()?;
        let _inflight = self.drain.inflight.token();
        let ctx = CallContext {
            cancel: context.ct.clone(),
            caller: self.caller(&context),
            proxmox_token: proxmox_token(&context),
            ..CallContext::default()
        };
        match self.gate.read_resource(&request.uri, ctx).await {
            Ok((contents, ttl)) => Ok(resources::contents(&request.uri, contents, ttl).into()),
            Err(e) => Err(gate_error(&request.uri, e)),
        }
    }

    async fn complete(
        &self,
        request: rmcp::model::CompleteRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<rmcp::model::CompleteResult, McpError> {
        let reference = match &request.r#ref {
            rmcp::model::Reference::Resource(r) => CompletionRef::Template(&r.uri),
            rmcp::model::Reference::Prompt(_) => CompletionRef::Prompt,
            _ => return Ok(resources::completion(Vec::new())),
        };
        let ctx = CallContext {
            cancel: context.ct.clone(),
            caller: self.caller(&context),
            proxmox_token: proxmox_token(&context),
            ..CallContext::default()
        };
        match self.gate.complete(reference, &request.argument.name, &request.argument.value, ctx).await {
            Ok(values) => Ok(resources::completion(values)),
            Err(e) => Err(gate_error(&request.argument.name, e)),
        }
    }

    async fn get_task(
        &self,
        request: rmcp::model::GetTaskParams,
        context: RequestContext<RoleServer>,
    ) -> Result<rmcp::model::GetTaskResult, McpError> {
        let token = proxmox_token(&context);
        self.tasks.get(&self.gate, &self.caller_or_local(&context), token.as_ref(), &request.task_id).await
    }

    async fn cancel_task(
        &self,
        request: rmcp::model::CancelTaskParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        let token = proxmox_token(&context);
        self.tasks.cancel(&self.gate, &self.caller_or_local(&context), token.as_ref(), &request.task_id).await
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.tools_for(self.session_caller.as_ref()).into_iter().find(|t| t.name == name)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        self.refuse_when_draining()?;
        let _inflight = self.drain.inflight.token();
        if let Some(created) = self.start_as_task(&request, &context) {
            return Ok(created);
        }
        let retry = retry(&context, &request);
        let args = Value::Object(request.arguments.unwrap_or_default());
        let started = std::time::Instant::now();
        let (progress, progress_pending) = match context.meta.get_progress_token() {
            Some(token) => {
                let (sink, pending) = progress_sink(context.peer.clone(), token);
                (Some(sink), Some(pending))
            }
            None => (None, None),
        };
        let (log, log_pending) = self.log_level.sink(&context.peer).unzip();
        let ctx = CallContext {
            progress,
            log,
            cancel: context.ct.clone(),
            caller: self.caller(&context),
            confirmer: if retry.is_some() { None } else { confirmer(&context.peer) },
            retry,
            on_task: None,
            proxmox_token: proxmox_token(&context),
        };
        let outcome = self.gate.call_tool(&request.name, args, ctx).await;
        // The call has dropped every sender: let the last progress
        // notifications go out before the answer does.
        for pending in progress_pending.into_iter().chain(log_pending) {
            pending.sent(std::time::Duration::from_secs(2)).await;
        }
        answer(&request.name, outcome, started)
    }
}

/// A call's outcome as MCP answers it: the result (summary line, then the
/// data as compact JSON), a question to ask, or a JSON-RPC error.
fn answer(
    name: &str,
    outcome: Result<crate::runtime::ToolOutput, GateError>,
    started: std::time::Instant,
) -> Result<CallToolResponse, McpError> {
    let elapsed_ms = started.elapsed().as_millis();
    let result = match outcome {
        Ok(out) => {
            tracing::info!(tool = %name, elapsed_ms, "tool call ok");
            // The summary line first; then the data as compact JSON, for
            // clients that show the model only `content`.
            // (Not `CallToolResult::structured`, which serializes the data
            // once more for a text block that would be replaced.)
            let mut content = vec![ContentBlock::text(out.text)];
            if let Some(v) = &out.structured {
                content.push(ContentBlock::text(v.to_string()));
            }
            let mut result = CallToolResult::success(content);
            result.structured_content = out.structured;
            result
        }
        Err(GateError::InputRequired { question, state }) => {
            tracing::info!(tool = %name, elapsed_ms, "asking the user by retry");
            return Ok(input_required(question, state));
        }
        Err(e @ (GateError::UnknownTool(_) | GateError::NotAllowed { .. } | GateError::RateLimited { .. })) => {
            return Err(gate_error(name, e));
        }
        Err(e) => {
            tracing::info!(tool = %name, elapsed_ms, error = %e, "tool call failed");
            error_result(e.to_string())
        }
    };
    Ok(result.into())
}
