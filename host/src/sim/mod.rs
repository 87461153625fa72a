//! An embedded, stateful Proxmox VE API for demos and tests.
//!
//! It serves real HTTP(S) on a loopback port: a seeded cluster, API tokens
//! and tickets with CSRF as PVE checks them, tasks that take simulated time
//! and hold locks, parameter checks with PVE's messages, and answers shaped
//! like the official schema. Reached from the CLI (`proxmcp sim`,
//! `proxmcp demo`) and from tests only; the server's layers never depend on
//! it.

pub mod api;
pub mod params;
pub mod seed;
pub mod state;
pub mod tls;

use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use tokio::net::TcpListener;

use self::api::Caller;
use self::params::Params;
pub use self::seed::Seed;
use self::state::World;
use crate::secret::Secret;

/// An API token the simulator accepts.
#[derive(Debug, Clone)]
pub struct SimToken {
    /// `USER@REALM!NAME`.
    pub id: String,
    /// The secret.
    pub secret: Secret,
    /// Only reads are allowed (as with the PVEAuditor role).
    pub read_only: bool,
}

/// A user who can log in with a password (ticket + CSRF token).
#[derive(Debug, Clone)]
pub struct SimUser {
    /// `USER@REALM`.
    pub username: String,
    /// The password.
    pub password: Secret,
    /// Only reads are allowed.
    pub read_only: bool,
}

/// How to run the simulator.
#[derive(Debug, Clone)]
pub struct SimOptions {
    /// The cluster to start with.
    pub seed: Seed,
    /// Real seconds per simulated second of task time; 0 finishes tasks at once.
    pub time_scale: f64,
    /// Accepted API tokens.
    pub tokens: Vec<SimToken>,
    /// Users for password login.
    pub users: Vec<SimUser>,
    /// Append every request, as validate.py's JSONL, to this file.
    pub request_log: Option<PathBuf>,
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    if getrandom::fill(&mut buf).is_err() {
        // No OS randomness: fall back to time-derived bytes (demo use only).
        let seed = state::now().to_le_bytes();
        for (i, b) in buf.iter_mut().enumerate() {
            *b = seed[i % seed.len()] ^ (i as u8).wrapping_mul(151);
        }
    }
    hex::encode(buf)
}

/// A random UUID-shaped secret, like PVE's token secrets.
pub fn random_secret() -> Secret {
    let h = random_hex(16);
    Secret::new(format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..]))
}

impl SimOptions {
    /// The default cluster with a fresh admin token (`root@pam!proxmcp`), a
    /// read-only token (`auditor@pve!readonly`) and a `root@pam` password,
    /// all random; time scale 1.
    pub fn demo() -> SimOptions {
        SimOptions {
            seed: Seed::default(),
            time_scale: 1.0,
            tokens: vec![
                SimToken { id: "root@pam!proxmcp".into(), secret: random_secret(), read_only: false },
                SimToken { id: "auditor@pve!readonly".into(), secret: random_secret(), read_only: true },
            ],
            users: vec![SimUser {
                username: "root@pam".into(),
                password: Secret::new(random_hex(12)),
                read_only: false,
            }],
            request_log: None,
        }
    }
}

/// Why the simulator could not start.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The listen address could not be bound.
    #[error(
        "cannot listen on {addr}: {source}; pick another address with --listen (e.g. 127.0.0.1:0 for any free port)"
    )]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The certificate could not be generated.
    #[error("cannot generate the simulator's TLS certificate: {0}")]
    Tls(String),
    /// The request log could not be opened.
    #[error("cannot open the request log {path}: {source}")]
    RequestLog {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

struct Ticket {
    user: String,
    csrf: String,
}

struct Shared {
    world: Arc<World>,
    tokens: Vec<SimToken>,
    users: Vec<SimUser>,
    tickets: Mutex<HashMap<String, Ticket>>,
    log_file: Option<Mutex<std::fs::File>>,
    requests: Mutex<Vec<Value>>,
    /// Who each authenticated request came from (token or user id).
    callers: Mutex<Vec<String>>,
}

/// A running simulator; stops when dropped.
pub struct Simulator {
    addr: SocketAddr,
    tls: Option<(String, String)>,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator").field("addr", &self.addr).finish_non_exhaustive()
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Simulator {
    /// Starts serving on `listen`, over HTTPS with a generated certificate
    /// when `tls` is true, plain HTTP otherwise.
    pub async fn start(listen: SocketAddr, tls: bool, options: SimOptions) -> Result<Simulator, SimError> {
        let listener = TcpListener::bind(listen).await.map_err(|source| SimError::Bind { addr: listen, source })?;
        let addr = listener.local_addr().map_err(|source| SimError::Bind { addr: listen, source })?;
        let log_file = match &options.request_log {
            Some(path) => Some(Mutex::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|source| SimError::RequestLog { path: path.clone(), source })?,
            )),
            None => None,
        };
        let world = World::new(options.seed, options.time_scale);
        {
            // Each credential starts with one role on `/`: Administrator,
            // or PVEAuditor for the read-only ones.
            let mut c = world.lock();
            let ids = options.tokens.iter().map(|t| ("token", &t.id, t.read_only));
            for (kind, ugid, read_only) in ids.chain(options.users.iter().map(|u| ("user", &u.username, u.read_only))) {
                c.acl.push(state::AclEntry {
                    path: "/".into(),
                    kind,
                    ugid: ugid.clone(),
                    roleid: if read_only { "PVEAuditor" } else { "Administrator" }.into(),
                    propagate: true,
                });
            }
        }
        let shared = Arc::new(Shared {
            world,
            tokens: options.tokens,
            users: options.users,
            tickets: Mutex::new(HashMap::new()),
            log_file,
            requests: Mutex::new(Vec::new()),
            callers: Mutex::new(Vec::new()),
        });
        let router = axum::Router::new().fallback(serve_request).with_state(shared.clone());
        let (acceptor, tls_info) = if tls {
            let id = tls::generate().map_err(SimError::Tls)?;
            (Some(id.acceptor), Some((id.fingerprint, id.cert_pem)))
        } else {
            (None, None)
        };
        let task = tokio::spawn(accept_loop(listener, acceptor, router));
        Ok(Simulator { addr, tls: tls_info, shared, task })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `https://127.0.0.1:PORT` or `http://…`.
    pub fn base_url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// The certificate fingerprint (`AA:BB:…`) when serving HTTPS.
    pub fn fingerprint(&self) -> Option<&str> {
        self.tls.as_ref().map(|(f, _)| f.as_str())
    }

    /// The certificate as PEM when serving HTTPS.
    pub fn cert_pem(&self) -> Option<&str> {
        self.tls.as_ref().map(|(_, p)| p.as_str())
    }

    /// The accepted tokens.
    pub fn tokens(&self) -> &[SimToken] {
        &self.shared.tokens
    }

    /// The users for password login.
    pub fn users(&self) -> &[SimUser] {
        &self.shared.users
    }

    /// The cluster state (for tests).
    pub fn world(&self) -> &Arc<World> {
        &self.shared.world
    }

    /// The credentials (API token id or user) of every authenticated
    /// request so far, in order.
    pub fn callers(&self) -> Vec<String> {
        self.shared.callers.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// Every request received so far, in validate.py's JSONL object form.
    pub fn requests(&self) -> Vec<Value> {
        self.shared.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

async fn accept_loop(listener: TcpListener, acceptor: Option<tokio_rustls::TlsAcceptor>, router: axum::Router) {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use hyper_util::server::conn::auto::Builder;
    use hyper_util::service::TowerToHyperService;
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let service = TowerToHyperService::new(router.clone());
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let builder = Builder::new(TokioExecutor::new());
            let result = match acceptor {
                Some(acceptor) => match acceptor.accept(stream).await {
                    Ok(tls) => builder.serve_connection(TokioIo::new(tls), service).await,
                    Err(e) => {
                        tracing::debug!("simulator TLS handshake failed: {e}");
                        return;
                    }
                },
                None => builder.serve_connection(TokioIo::new(stream), service).await,
            };
            if let Err(e) = result {
                tracing::debug!("simulator connection ended: {e}");
            }
        });
    }
}

fn answer(status: u16, body: Value) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, [("content-type", "application/json;charset=UTF-8")], body.to_string()).into_response()
}

fn error(status: u16, message: &str) -> Response {
    answer(status, json!({"data": null, "message": format!("{message}\n")}))
}

/// Parses query and body into PVE parameters (JSON bodies as PVE 9 takes them).
fn parse_params(uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Result<Params, String> {
    let mut params = Params::new();
    if let Some(q) = uri.query() {
        for (k, v) in url::form_urlencoded::parse(q.as_bytes()) {
            params.entry(k.into_owned()).or_default().push(v.into_owned());
        }
    }
    if body.is_empty() {
        return Ok(params);
    }
    let is_json =
        headers.get("content-type").and_then(|v| v.to_str().ok()).is_some_and(|ct| ct.starts_with("application/json"));
    if is_json {
        let value: Value = serde_json::from_slice(body).map_err(|e| format!("invalid JSON body: {e}"))?;
        let Value::Object(map) = value else { return Err("JSON body is not an object".into()) };
        for (k, v) in map {
            let items = match v {
                Value::Array(items) => items,
                other => vec![other],
            };
            for item in items {
                let text = match item {
                    Value::Bool(b) => if b { "1" } else { "0" }.to_string(),
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                params.entry(k.clone()).or_default().push(text);
            }
        }
    } else {
        for (k, v) in url::form_urlencoded::parse(body) {
            params.entry(k.into_owned()).or_default().push(v.into_owned());
        }
    }
    Ok(params)
}

fn record(shared: &Shared, method: &Method, path: &str, params: &Params) {
    let mut obj = Map::new();
    for (k, values) in params {
        let v = if values.len() == 1 { json!(values[0]) } else { json!(values) };
        obj.insert(k.clone(), v);
    }
    let line = json!({"method": method.as_str(), "path": path, "params": obj});
    if let Some(file) = &shared.log_file
        && let Ok(mut f) = file.lock()
    {
        let _ = writeln!(f, "{line}");
    }
    if let Ok(mut r) = shared.requests.lock() {
        r.push(line);
    }
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    let raw = headers.get("cookie")?.to_str().ok()?;
    raw.split(';').find_map(|c| {
        let (k, v) = c.trim().split_once('=')?;
        (k == name).then(|| percent_encoding::percent_decode_str(v).decode_utf8_lossy().into_owned())
    })
}

/// Authenticates as PVE does: API token header, or ticket cookie plus the
/// CSRF header on writes.
fn authenticate(shared: &Shared, method: &Method, headers: &HeaderMap) -> Result<Caller, (u16, &'static str)> {
    if let Some(auth) = headers.get("authorization").and_then(|v| v.to_str().ok()) {
        let Some(rest) = auth.strip_prefix("PVEAPIToken=") else {
            return Err((401, "authentication failure"));
        };
        let (id, secret) = rest.split_once('=').unwrap_or((rest, ""));
        return match shared.tokens.iter().find(|t| t.id == id && t.secret.expose() == secret) {
            Some(t) => {
                Ok(Caller { user: t.id.split('!').next().unwrap_or_default().to_string(), auth_id: t.id.clone() })
            }
            None => Err((401, "authentication failure")),
        };
    }
    let Some(ticket) = cookie(headers, "PVEAuthCookie") else {
        return Err((401, "No ticket"));
    };
    let tickets = shared.tickets.lock().map_err(|_| (500, "internal error"))?;
    let Some(t) = tickets.get(&ticket) else {
        return Err((401, "authentication failure"));
    };
    if method != Method::GET {
        let csrf = headers.get("csrfpreventiontoken").and_then(|v| v.to_str().ok());
        if csrf != Some(t.csrf.as_str()) {
            return Err((401, "Permission denied - invalid csrf token"));
        }
    }
    Ok(Caller { user: t.user.clone(), auth_id: t.user.clone() })
}

fn login(shared: &Shared, params: &Params) -> Response {
    if let Err(errors) = params::verify(
        params,
        &[
            params::req("username", params::Ty::Str),
            params::req("password", params::Ty::Str),
            params::opt("realm", params::Ty::Str),
            params::opt("otp", params::Ty::Str),
            params::opt("new-format", params::Ty::Bool),
            params::opt("tfa-challenge", params::Ty::Str),
            params::opt("path", params::Ty::Str),
            params::opt("privs", params::Ty::Str),
        ],
    ) {
        return answer(400, json!({"data": null, "errors": errors, "message": "Parameter verification failed.\n"}));
    }
    let mut username = params::first(params, "username").unwrap_or_default().to_string();
    if let Some(realm) = params::first(params, "realm")
        && !username.contains('@')
    {
        username = format!("{username}@{realm}");
    }
    let password = params::first(params, "password").unwrap_or_default();
    let Some(user) = shared.users.iter().find(|u| u.username == username && u.password.expose() == password) else {
        return error(401, "authentication failure");
    };
    let ticket = format!("PVE:{}:{:08X}::{}", user.username, state::now(), random_hex(32));
    let csrf = format!("{:08X}:{}", state::now(), random_hex(16));
    if let Ok(mut t) = shared.tickets.lock() {
        t.insert(ticket.clone(), Ticket { user: user.username.clone(), csrf: csrf.clone() });
    }
    answer(
        200,
        json!({"data": {"username": user.username, "ticket": ticket, "CSRFPreventionToken": csrf,
                                 "clustername": "demo-cluster", "cap": {}}}),
    )
}

async fn serve_request(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    // The API viewer's data, as a node serves it (outside the API, so not
    // in the request log).
    if method == Method::GET && path == crate::pve::apischema::source::APIDOC_PATH {
        return (StatusCode::OK, [("content-type", "application/javascript")], api::apidoc()).into_response();
    }
    let params = match parse_params(&uri, &headers, &body) {
        Ok(p) => p,
        Err(e) => return error(400, &e),
    };
    record(&shared, &method, &path, &params);
    let Some(rest) = path.strip_prefix("/api2/json/") else {
        return error(501, &format!("Method '{method} {path}' not implemented"));
    };
    let segments: Vec<String> = rest
        .trim_end_matches('/')
        .split('/')
        .map(|s| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned())
        .collect();
    let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
    if method == Method::POST && segs == ["access", "ticket"] {
        return login(&shared, &params);
    }
    let caller = match authenticate(&shared, &method, &headers) {
        Ok(c) => c,
        Err((status, message)) => return error(status, message),
    };
    if let Ok(mut callers) = shared.callers.lock() {
        callers.push(caller.auth_id.clone());
    }
    match api::handle(&shared.world, method.as_str(), &segs, &params, &caller) {
        Ok(a) => {
            let mut body = json!({"data": a.data});
            if let Some((k, v)) = a.extra {
                body[k] = v;
            }
            answer(200, body)
        }
        Err(e) if e.status == 400 => {
            answer(400, json!({"data": null, "errors": e.errors, "message": format!("{}\n", e.message)}))
        }
        Err(e) => error(e.status, &e.message),
    }
}
