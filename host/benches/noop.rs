//! The floor the benchmark compares proxmcp with: a minimal rmcp server,
//! run as a child process of the bench binary itself
//! (`PROXMCP_BENCH_NOOP=stdio|http`). Tool `noop` answers at once (the MCP
//! transport's own cost); tool `version` makes the same simulator request
//! `pve_get_version` makes, with reqwest and nothing else.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, InitializeResult, ListToolsResult,
    PaginatedRequestParams, ServerCapabilities, Tool,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, ServiceExt};
use serde_json::json;

/// The environment variable that turns the bench binary into the no-op
/// server, and the transport it serves.
pub const ENV: &str = "PROXMCP_BENCH_NOOP";

#[derive(Clone)]
struct Noop {
    http: reqwest::Client,
    url: String,
    auth: String,
}

impl ServerHandler for Noop {
    fn get_info(&self) -> InitializeResult {
        InitializeResult::new(ServerCapabilities::builder().enable_tools().build())
    }

    async fn list_tools(
        &self,
        _: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let schema = Arc::new(json!({"type": "object", "properties": {}}).as_object().unwrap().clone());
        Ok(ListToolsResult::with_all_items(vec![
            Tool::new("noop", "Answers at once.", schema.clone()),
            Tool::new("version", "GET /version of the simulator.", schema),
        ]))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        if request.name == "noop" {
            return Ok(CallToolResult::success(vec![ContentBlock::text("ok")]).into());
        }
        let answer = self.http.get(&self.url).header("Authorization", &self.auth).send().await;
        let body: serde_json::Value = match answer {
            Ok(r) => r.json().await.map_err(|e| ErrorData::internal_error(e.to_string(), None))?,
            Err(e) => return Err(ErrorData::internal_error(e.to_string(), None)),
        };
        let data = body["data"].clone();
        Ok(CallToolResult::structured(data).into())
    }
}

/// Serves until stdin closes (stdio) or the parent kills it (http; the
/// URL is the first line on stdout).
pub async fn serve(transport: &str) {
    ::proxmcp::pve::install_crypto_provider();
    let server = Noop {
        http: reqwest::Client::new(),
        url: format!("{}/api2/json/version", std::env::var("PVE_BASE_URL").unwrap()),
        auth: format!(
            "PVEAPIToken={}={}",
            std::env::var("PVE_API_TOKEN_ID").unwrap(),
            std::env::var("PVE_API_TOKEN_SECRET").unwrap()
        ),
    };
    if transport == "stdio" {
        let running = server.serve(rmcp::transport::stdio()).await.unwrap();
        let _ = running.waiting().await;
        return;
    }
    use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
    use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
    let service = StreamableHttpService::new(
        move || Ok(server.clone()),
        Arc::new(LocalSessionManager::default()),
        StreamableHttpServerConfig::default(),
    );
    let app = axum::Router::new().route_service("/mcp", service);
    use axum::serve::ListenerExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    println!("http://{}/mcp", listener.local_addr().unwrap());
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app).await.unwrap();
}
