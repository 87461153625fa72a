//! The HTTP transports: streamable HTTP (rmcp's service) at `MCP_PATH`,
//! legacy SSE at `/sse` + `/messages`, and the `/healthz` and `/readyz`
//! probes, behind bearer authentication and Host/Origin checks.
//!
//! Every MCP request is authenticated here and the [`Caller`] put on the
//! request; the MCP layer reads it from there, never from tool arguments.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures::StreamExt;
use futures::future::BoxFuture;
use rmcp::ServiceExt;
use rmcp::service::{RoleServer, RxJsonRpcMessage, TxJsonRpcMessage};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService, Transport};
use serde_json::json;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

mod origin;
mod sessions;

pub use sessions::HttpLimits;

use super::ProxmcpServer;
use crate::gate::{Caller, ProxmoxToken, Rbac, TOKEN_HEADER};

/// Which HTTP transport to serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpTransport {
    /// MCP streamable HTTP at the configured path.
    Streamable,
    /// The 2024-11-05 HTTP+SSE transport: `GET /sse`, `POST /messages`.
    Sse,
}

/// Answers `/readyz`: for each target, `Ok` when its Proxmox is reachable
/// and accepts our credentials, else why not.
pub type ReadyCheck = Arc<dyn Fn() -> BoxFuture<'static, Vec<(String, Result<(), String>)>> + Send + Sync>;

/// How to serve HTTP.
#[derive(Clone)]
pub struct HttpOptions {
    /// Listen address.
    pub addr: SocketAddr,
    /// Streamable HTTP endpoint path (`/mcp`).
    pub path: String,
    /// Which transport.
    pub transport: HttpTransport,
    /// Extra `Host` values accepted besides loopback names.
    pub allowed_hosts: Vec<String>,
    /// Extra `Origin` values accepted besides loopback origins.
    pub allowed_origins: Vec<String>,
    /// Serve a non-loopback address without bearer tokens.
    pub allow_unauthenticated: bool,
    /// The `/readyz` check.
    pub ready: ReadyCheck,
    /// Timeouts and caps.
    pub limits: HttpLimits,
}

/// Why the HTTP server could not run.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// Non-loopback address without authentication.
    #[error(
        "refusing to serve MCP on {0} without authentication: anyone who can reach it could drive your cluster. Create a token with `proxmcp token new NAME --role ROLE` and add it to [rbac], keep MCP_HOST=127.0.0.1, or set MCP_ALLOW_UNAUTHENTICATED=true if something in front of proxmcp authenticates"
    )]
    Unauthenticated(SocketAddr),
    /// The address could not be bound.
    // The cause is part of the message, not a source, so it is not printed twice.
    #[error("cannot listen on {addr}: {cause}; pick a free MCP_PORT or another MCP_HOST")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        cause: std::io::Error,
    },
    /// The server failed while running.
    #[error("the HTTP server failed: {0}")]
    Serve(std::io::Error),
}

/// Each target's name and whether it is ready.
type Readiness = Vec<(String, bool)>;

/// Shared by the middleware and handlers.
struct Shared {
    server: ProxmcpServer,
    rbac: Rbac,
    allowed_hosts: Vec<String>,
    allowed_origins: Vec<String>,
    ready: ReadyCheck,
    ready_cache: tokio::sync::Mutex<Option<(std::time::Instant, Readiness)>>,
    sse_sessions: Mutex<HashMap<String, SseSession>>,
    shutdown: CancellationToken,
    limits: HttpLimits,
    /// Listening on loopback only: nothing crosses a network in clear, so
    /// a caller's `X-Proxmox-Token` may be accepted.
    loopback: bool,
}

struct SseSession {
    principal: String,
    to_server: mpsc::Sender<RxJsonRpcMessage<RoleServer>>,
}

/// A bound, not yet serving, HTTP server.
pub struct HttpServer {
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: CancellationToken,
    limits: HttpLimits,
}

impl HttpServer {
    /// Checks the options and binds the address.
    pub async fn bind(server: ProxmcpServer, rbac: Rbac, options: HttpOptions) -> Result<HttpServer, HttpError> {
        if let Some(warning) = exposure(options.addr, rbac.has_tokens(), options.allow_unauthenticated)? {
            tracing::warn!("{warning}");
        }
        let listener = tokio::net::TcpListener::bind(options.addr)
            .await
            .map_err(|cause| HttpError::Bind { addr: options.addr, cause })?;
        let shutdown = CancellationToken::new();
        let mut allowed_hosts = vec!["localhost".to_string(), "127.0.0.1".to_string(), "::1".to_string()];
        if !options.addr.ip().is_unspecified() {
            allowed_hosts.push(options.addr.ip().to_string());
        }
        allowed_hosts.extend(options.allowed_hosts.iter().map(|h| h.to_ascii_lowercase()));
        let shared = Arc::new(Shared {
            server: server.clone(),
            rbac,
            allowed_hosts,
            allowed_origins: options
                .allowed_origins
                .iter()
                .map(|o| o.trim_end_matches('/').to_ascii_lowercase())
                .collect(),
            ready: options.ready.clone(),
            ready_cache: tokio::sync::Mutex::new(None),
            sse_sessions: Mutex::new(HashMap::new()),
            shutdown: shutdown.clone(),
            limits: options.limits.clone(),
            loopback: options.addr.ip().is_loopback(),
        });
        let mcp = match options.transport {
            HttpTransport::Streamable => {
                // Host and Origin are checked by our middleware for every
                // transport alike, so rmcp's own host list is turned off.
                let config = StreamableHttpServerConfig::default()
                    .disable_allowed_hosts()
                    .with_cancellation_token(shutdown.child_token());
                let factory = server.clone();
                let mut manager = LocalSessionManager::default();
                manager.session_config.keep_alive = Some(options.limits.session_idle);
                let manager = Arc::new(manager);
                let service = StreamableHttpService::new(move || Ok(factory.for_session()), manager.clone(), config);
                let book = Arc::new(sessions::SessionBook::new(manager, options.limits.clone()));
                Router::new()
                    .route_service(&options.path, service)
                    .layer(middleware::from_fn_with_state(book, sessions::bind))
            }
            HttpTransport::Sse => Router::new()
                .route("/sse", get(sse_connect))
                .route("/messages", post(sse_message))
                .with_state(shared.clone()),
        };
        let mcp = mcp.layer(middleware::from_fn_with_state(shared.clone(), authenticate));
        let probes = Router::new()
            .route("/healthz", get(|| async { "ok\n" }))
            .route("/readyz", get(readyz))
            .with_state(shared.clone());
        let router = probes
            .merge(mcp)
            .layer(middleware::from_fn_with_state(shared.clone(), check_host_and_origin))
            .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(options.limits.body_timeout));
        Ok(HttpServer { listener, router, shutdown, limits: options.limits })
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> Result<SocketAddr, HttpError> {
        self.listener.local_addr().map_err(HttpError::Serve)
    }

    /// Serves until `stop` fires, then stops accepting connections and
    /// closes the MCP sessions. A connection must send its headers within
    /// the header timeout, and at most `max_connections` are open at once.
    pub async fn run(self, stop: impl std::future::Future<Output = ()> + Send + 'static) -> Result<(), HttpError> {
        use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
        use hyper_util::server::conn::auto::Builder;
        use hyper_util::service::TowerToHyperService;

        let mut builder = Builder::new(TokioExecutor::new());
        builder.http1().timer(TokioTimer::new()).header_read_timeout(self.limits.header_timeout);
        builder.http2().timer(TokioTimer::new()).keep_alive_interval(Some(Duration::from_secs(30)));
        let graceful = hyper_util::server::graceful::GracefulShutdown::new();
        let slots = Arc::new(tokio::sync::Semaphore::new(self.limits.max_connections.max(1)));
        let service = TowerToHyperService::new(self.router);
        tokio::pin!(stop);
        loop {
            let permit = tokio::select! {
                permit = slots.clone().acquire_owned() => permit.map_err(|e| HttpError::Serve(std::io::Error::other(e)))?,
                () = &mut stop => break,
            };
            let (stream, _) = tokio::select! {
                accepted = self.listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!("accepting a connection failed: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                () = &mut stop => break,
            };
            // Small JSON-RPC answers must not wait for Nagle's algorithm.
            let _ = stream.set_nodelay(true);
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service.clone()).into_owned();
            let conn = graceful.watch(conn);
            tokio::spawn(async move {
                let _ = conn.await;
                drop(permit);
            });
        }
        // New connections stop now; the answers of calls that just finished
        // still need a moment to be written before the sessions (and their
        // open streams) are closed.
        tokio::time::sleep(super::FLUSH_WINDOW).await;
        self.shutdown.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(5), graceful.shutdown()).await;
        Ok(())
    }
}

/// Whether serving `addr` is allowed: loopback always, anything else only
/// with bearer tokens or the explicit opt-out, whose warning is returned to
/// be logged at every start.
fn exposure(addr: SocketAddr, has_tokens: bool, allow_unauthenticated: bool) -> Result<Option<String>, HttpError> {
    if addr.ip().is_loopback() || has_tokens {
        return Ok(None);
    }
    if !allow_unauthenticated {
        return Err(HttpError::Unauthenticated(addr));
    }
    Ok(Some(format!(
        "!!! MCP is served on {addr} WITHOUT AUTHENTICATION (MCP_ALLOW_UNAUTHENTICATED=true): anyone who can reach this address can call every tool the local role allows !!!"
    )))
}

fn problem(status: StatusCode, message: impl Into<String>) -> Response {
    (status, axum::Json(json!({"error": message.into()}))).into_response()
}

/// Refuses requests whose `Host` or `Origin` is not expected: a web page
/// on another site must not reach a local server through DNS rebinding.
/// Both headers are parsed strictly and must not be sent twice.
async fn check_host_and_origin(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    let headers = request.headers();
    let host = match origin::single(headers, &header::HOST) {
        Ok(h) => h.unwrap_or(""),
        Err(why) => return problem(StatusCode::BAD_REQUEST, why),
    };
    if !origin::parse_authority(host).is_some_and(|a| origin::host_allowed(&a, &shared.allowed_hosts)) {
        return problem(
            StatusCode::FORBIDDEN,
            format!("Host {host:?} is not allowed; an operator can add it to MCP_ALLOWED_HOSTS"),
        );
    }
    match origin::single(headers, &header::ORIGIN) {
        Err(why) => return problem(StatusCode::FORBIDDEN, why),
        Ok(Some(origin)) if !origin::origin_allowed(origin, &shared.allowed_origins) => {
            return problem(
                StatusCode::FORBIDDEN,
                format!("Origin {origin:?} is not allowed; an operator can add it to MCP_ALLOWED_ORIGINS"),
            );
        }
        Ok(_) => {}
    }
    next.run(request).await
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token.trim())
}

/// With tokens configured, every MCP request needs a valid one; its caller
/// goes on the request. Without tokens (loopback only, or the loud
/// opt-out) requests run as the local principal.
async fn authenticate(State(shared): State<Arc<Shared>>, mut request: Request, next: Next) -> Response {
    if shared.rbac.has_tokens() {
        let caller = bearer(request.headers()).and_then(|t| shared.rbac.authenticate(t));
        let Some(caller) = caller else {
            let mut response = problem(
                StatusCode::UNAUTHORIZED,
                "missing or unknown bearer token; send Authorization: Bearer TOKEN (an operator creates one with `proxmcp token new NAME`)",
            );
            response.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
            return response;
        };
        request.extensions_mut().insert(caller);
    } else {
        request.extensions_mut().insert(shared.rbac.local().clone());
    }
    // A caller's own Proxmox token: read once, taken off the headers so
    // nothing further down can log it, and kept for this request only.
    if let Some(value) = request.headers_mut().remove(TOKEN_HEADER) {
        if !shared.loopback {
            return problem(
                StatusCode::BAD_REQUEST,
                "X-Proxmox-Token is refused: proxmcp serves plain HTTP on a non-loopback address, where the token would cross the network in clear; listen on 127.0.0.1 behind a TLS-terminating proxy on the same host",
            );
        }
        let token = value.to_str().map_err(|_| "X-Proxmox-Token is not text".to_string()).and_then(ProxmoxToken::parse);
        match token {
            Ok(token) => {
                request.extensions_mut().insert(token);
            }
            Err(why) => return problem(StatusCode::BAD_REQUEST, why),
        }
    }
    next.run(request).await
}

/// How long a `/readyz` answer is reused: the probe is unauthenticated, so
/// a flood of it must not become a flood of Proxmox requests.
const READY_CACHE: Duration = Duration::from_secs(5);

/// `/readyz`: 200 when every target is ready, else 503, with which targets
/// are (names only); why one is not goes to the server log, not to whoever
/// asks.
async fn readyz(State(shared): State<Arc<Shared>>) -> Response {
    if shared.shutdown.is_cancelled() {
        return problem(StatusCode::SERVICE_UNAVAILABLE, "shutting down");
    }
    let mut cached = shared.ready_cache.lock().await;
    let targets = match &*cached {
        Some((at, targets)) if at.elapsed() < READY_CACHE => targets.clone(),
        _ => {
            let targets: Vec<(String, bool)> =
                match tokio::time::timeout(Duration::from_secs(10), (shared.ready)()).await {
                    Ok(checks) => checks
                        .into_iter()
                        .map(|(name, result)| {
                            if let Err(why) = &result {
                                tracing::warn!(target_name = %name, "not ready: {why}");
                            }
                            (name, result.is_ok())
                        })
                        .collect(),
                    Err(_) => {
                        tracing::warn!("not ready: Proxmox did not answer within 10 s");
                        Vec::new()
                    }
                };
            *cached = Some((std::time::Instant::now(), targets.clone()));
            targets
        }
    };
    let ready = !targets.is_empty() && targets.iter().all(|(_, ok)| *ok);
    let mut body = json!({"ready": ready});
    if targets.len() > 1 {
        body["targets"] = targets.iter().map(|(name, ok)| (name.clone(), json!(ok))).collect();
    }
    if ready {
        (StatusCode::OK, axum::Json(body)).into_response()
    } else {
        body["see"] = json!("the server log");
        (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response()
    }
}

/// One legacy SSE session's transport: messages from `POST /messages`
/// come in through `from_client`; what the server sends goes to the stream.
struct ChannelTransport {
    from_client: mpsc::Receiver<RxJsonRpcMessage<RoleServer>>,
    to_client: mpsc::Sender<TxJsonRpcMessage<RoleServer>>,
}

impl Transport<RoleServer> for ChannelTransport {
    type Error = std::io::Error;

    fn send(
        &mut self,
        item: TxJsonRpcMessage<RoleServer>,
    ) -> impl std::future::Future<Output = Result<(), Self::Error>> + Send + 'static {
        let tx = self.to_client.clone();
        async move { tx.send(item).await.map_err(|_| std::io::Error::other("the SSE stream is closed")) }
    }

    fn receive(&mut self) -> impl std::future::Future<Output = Option<RxJsonRpcMessage<RoleServer>>> {
        self.from_client.recv()
    }

    async fn close(&mut self) -> Result<(), Self::Error> {
        self.from_client.close();
        Ok(())
    }
}

fn session_id() -> String {
    let mut bytes = [0u8; 16];
    // A failed draw would only make ids guessable, never collide silently:
    // fall back to the clock plus a counter rather than refuse to serve.
    if getrandom::fill(&mut bytes).is_err() {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
        bytes = nanos.to_le_bytes();
    }
    hex::encode(bytes)
}

/// Removes the session when its stream ends.
struct SessionGuard {
    shared: Arc<Shared>,
    id: String,
    service: CancellationToken,
}

impl Drop for SessionGuard {
    fn drop(&mut self) {
        self.service.cancel();
        if let Ok(mut sessions) = self.shared.sse_sessions.lock() {
            sessions.remove(&self.id);
        }
    }
}

/// `GET /sse`: opens a session; the first event names the endpoint to post
/// messages to.
async fn sse_connect(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let Some(caller) = request.extensions().get::<Caller>().cloned() else {
        return problem(StatusCode::UNAUTHORIZED, "not authenticated");
    };
    let counts = shared
        .sse_sessions
        .lock()
        .map(|s| (s.len(), s.values().filter(|x| x.principal == caller.principal).count()))
        .unwrap_or((0, 0));
    if let Err(why) = sessions::session_cap(&shared.limits, &caller.principal, counts.0, counts.1) {
        return problem(StatusCode::TOO_MANY_REQUESTS, why);
    }
    let id = session_id();
    let (to_server, from_client) = mpsc::channel(64);
    let (to_client, outgoing) = mpsc::channel::<TxJsonRpcMessage<RoleServer>>(64);
    if let Ok(mut sessions) = shared.sse_sessions.lock() {
        sessions.insert(id.clone(), SseSession { principal: caller.principal.clone(), to_server });
    }
    let service_ct = shared.shutdown.child_token();
    let server = shared.server.for_caller(caller);
    let ct = service_ct.clone();
    tokio::spawn(async move {
        let transport = ChannelTransport { from_client, to_client };
        match server.serve_with_ct(transport, ct).await {
            Ok(running) => {
                let _ = running.waiting().await;
            }
            Err(e) => tracing::info!("an SSE session ended during initialization: {e}"),
        }
    });
    let guard = SessionGuard { shared: shared.clone(), id: id.clone(), service: service_ct.clone() };
    let endpoint = Event::default().event("endpoint").data(format!("/messages?sessionId={id}"));
    let stream = event_stream(endpoint, outgoing, guard, service_ct);
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))).into_response()
}

/// The SSE event stream: the endpoint event, then one `message` event per
/// server message, ending (and dropping the session) when the server does.
fn event_stream(
    first: Event,
    outgoing: mpsc::Receiver<TxJsonRpcMessage<RoleServer>>,
    guard: SessionGuard,
    ct: CancellationToken,
) -> impl futures::Stream<Item = Result<Event, std::convert::Infallible>> + Send + 'static {
    let rest = futures::stream::unfold((outgoing, guard, ct), |(mut outgoing, guard, ct)| async move {
        let message = tokio::select! {
            msg = outgoing.recv() => msg?,
            () = ct.cancelled() => return None,
        };
        let data = serde_json::to_string(&message).unwrap_or_else(|e| {
            tracing::error!("cannot encode an MCP message: {e}");
            String::from("{}")
        });
        Some((Ok(Event::default().event("message").data(data)), (outgoing, guard, ct)))
    });
    futures::stream::once(async move { Ok(first) }).chain(rest)
}

#[derive(serde::Deserialize)]
struct SessionQuery {
    #[serde(rename = "sessionId")]
    session_id: String,
}

/// `POST /messages?sessionId=…`: one JSON-RPC message for a session, from
/// the principal that opened it.
async fn sse_message(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<SessionQuery>,
    request: Request<Body>,
) -> Response {
    let caller = request.extensions().get::<Caller>().cloned();
    let session =
        shared.sse_sessions.lock().ok().and_then(|s| {
            s.get(&query.session_id).map(|session| (session.principal.clone(), session.to_server.clone()))
        });
    let Some((principal, to_server)) = session else {
        return problem(StatusCode::NOT_FOUND, "no such session; open a new one with GET /sse");
    };
    if caller.map(|c| c.principal) != Some(principal) {
        return problem(StatusCode::FORBIDDEN, "this session belongs to another principal");
    }
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, 4 << 20).await {
        Ok(b) => b,
        Err(_) => return problem(StatusCode::PAYLOAD_TOO_LARGE, "the message is over 4 MiB"),
    };
    let mut message: RxJsonRpcMessage<RoleServer> = match serde_json::from_slice(&body) {
        Ok(m) => m,
        Err(e) => return problem(StatusCode::BAD_REQUEST, format!("not a JSON-RPC message: {e}")),
    };
    // As streamable HTTP does: the request's parts (its caller, a caller's
    // Proxmox token) travel with the message it carries.
    if let rmcp::model::ClientJsonRpcMessage::Request(req) = &mut message {
        rmcp::model::GetExtensions::extensions_mut(&mut req.request).insert(parts);
    }
    if to_server.send(message).await.is_err() {
        return problem(StatusCode::GONE, "the session has ended; open a new one with GET /sse");
    }
    StatusCode::ACCEPTED.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_addresses_need_tokens_or_a_loud_opt_out() {
        let public: SocketAddr = ([0, 0, 0, 0], 8000).into();
        let local: SocketAddr = ([127, 0, 0, 1], 8000).into();
        assert!(matches!(exposure(local, false, false), Ok(None)));
        assert!(matches!(exposure(public, true, false), Ok(None)));
        assert!(matches!(exposure(public, false, false), Err(HttpError::Unauthenticated(_))));
        let warning = exposure(public, false, true).unwrap().unwrap();
        assert!(warning.contains("WITHOUT AUTHENTICATION") && warning.contains("0.0.0.0:8000"), "{warning}");
    }

    #[test]
    fn bearer_tokens_are_read_case_insensitively() {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, "bearer abc".parse().unwrap());
        assert_eq!(bearer(&h), Some("abc"));
        h.insert(header::AUTHORIZATION, "Basic abc".parse().unwrap());
        assert_eq!(bearer(&h), None);
    }
}
