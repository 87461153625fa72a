//! The MCP face of proxmcp: an rmcp server whose tool registry is built
//! from the loaded plugins, and the transports that carry it.

use std::sync::Arc;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation, InitializeResult,
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, Tool, ToolAnnotations,
};
use rmcp::model::{ProgressNotificationParam, ProgressToken};
use rmcp::service::{Peer, RequestContext};
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler, ServiceExt};
use serde_json::{Map, Value, json};

use crate::gate::{CallContext, Gate, GateError, ProgressSink};
use crate::pve::TaskProgress;
use crate::runtime::ToolSpec;

/// The MCP server over a [`Gate`].
#[derive(Clone)]
pub struct ProxmcpServer {
    gate: Arc<Gate>,
    tools: Arc<Vec<Tool>>,
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
        Self { gate, tools: Arc::new(tools) }
    }

    /// The tools as listed to clients.
    pub fn tools(&self) -> &[Tool] {
        &self.tools
    }

    /// Serves MCP over stdin/stdout until the client disconnects.
    pub async fn serve_stdio(self) -> Result<(), std::io::Error> {
        let running = self.serve(rmcp::transport::stdio()).await.map_err(|e| std::io::Error::other(e.to_string()))?;
        running.waiting().await.map_err(|e| std::io::Error::other(e.to_string()))?;
        Ok(())
    }
}

/// Turns a plugin's tool into an MCP tool. Tools that are not read-only get
/// a `confirm` argument: the host refuses their writes without it.
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
    let mut annotations = ToolAnnotations::new()
        .read_only(spec.hints.read_only)
        .destructive(spec.hints.destructive)
        .idempotent(spec.hints.idempotent)
        .open_world(spec.hints.open_world);
    annotations.title = spec.title.clone();
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

/// Turns task progress into MCP progress notifications for `token`: the
/// percentage PVE logs when there is one, else elapsed seconds, with the
/// newest log line as the message. Progress never goes backwards. The
/// returned task ends once every sender is dropped and all are sent.
fn progress_sink(peer: Peer<RoleServer>, token: ProgressToken) -> (ProgressSink, tokio::task::JoinHandle<()>) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<TaskProgress>();
    let task = tokio::spawn(async move {
        let mut last = -1.0f64;
        while let Some(p) = rx.recv().await {
            let (value, total) = match p.percent {
                Some(pct) => (pct, Some(100.0)),
                None => (p.elapsed.as_secs_f64(), None),
            };
            if value <= last {
                continue;
            }
            last = value;
            let mut param = ProgressNotificationParam::new(token.clone(), value);
            param.total = total;
            param.message = Some(match (&p.line, p.percent) {
                (Some(line), _) => line.clone(),
                (None, Some(pct)) => format!("{pct:.0}% done"),
                (None, None) => format!("waiting for the Proxmox task ({}s)", p.elapsed.as_secs()),
            });
            if peer.notify_progress(param).await.is_err() {
                break;
            }
        }
    });
    let sink: ProgressSink = Arc::new(move |p| {
        let _ = tx.send(p);
    });
    (sink, task)
}

fn error_result(message: String) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(message)])
}

impl ServerHandler for ProxmcpServer {
    fn get_info(&self) -> InitializeResult {
        let mut caps = ServerCapabilities::builder().enable_tools().build();
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
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        Ok(ListToolsResult { tools: self.tools.as_ref().clone(), ..ListToolsResult::default() })
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.tools.iter().find(|t| t.name == name).cloned()
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let args = Value::Object(request.arguments.unwrap_or_default());
        let started = std::time::Instant::now();
        let (progress, forwarder) = match context.meta.get_progress_token() {
            Some(token) => {
                let (sink, task) = progress_sink(context.peer.clone(), token);
                (Some(sink), Some(task))
            }
            None => (None, None),
        };
        let ctx = CallContext { progress, cancel: context.ct.clone() };
        let outcome = self.gate.call_tool(&request.name, args, ctx).await;
        // The call has dropped every sender: let the last progress
        // notifications go out before the answer does.
        if let Some(task) = forwarder {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(2), task).await;
        }
        let elapsed_ms = started.elapsed().as_millis();
        let result = match outcome {
            Ok(out) => {
                tracing::info!(tool = %request.name, elapsed_ms, "tool call ok");
                let mut result = match out.structured {
                    Some(v) => CallToolResult::structured(v),
                    None => CallToolResult::success(vec![]),
                };
                result.content = vec![ContentBlock::text(out.text)];
                result
            }
            Err(GateError::UnknownTool(msg)) => return Err(McpError::invalid_params(msg, None)),
            Err(e) => {
                tracing::info!(tool = %request.name, elapsed_ms, error = %e, "tool call failed");
                error_result(e.to_string())
            }
        };
        Ok(result.into())
    }
}
