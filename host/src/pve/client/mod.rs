//! The HTTP side of the Proxmox client.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::{Mutex, Semaphore};
use url::Url;

use super::apischema::ApiSchema;
use super::apischema::source::SchemaSource;
use super::auth::{Clock, SystemClock, Ticket};
use super::error::{ApiError, ConfigError};
use super::guests::{self, GuestInfo};
use super::tls::{self, TlsMode};
use super::{Method, encode_path, endpoints, to_form};
use crate::secret::Secret;

/// How long a `/cluster/resources` answer serves guest resolution.
const GUEST_CACHE_TTL: Duration = Duration::from_secs(5);
/// Largest response body read; PVE's biggest answers (task logs, resource
/// lists of large clusters) stay far below it.
const MAX_BODY_BYTES: usize = 32 << 20;

/// Whom Proxmox sees, as ACLs name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// An API token, `USER@REALM!NAME`.
    Token(String),
    /// A user logging in with a password, `USER@REALM`.
    User(String),
}

impl Identity {
    /// The `pveum` option that names it: `--tokens 'ID'` or `--users 'ID'`.
    pub fn pveum_option(&self) -> String {
        match self {
            Identity::Token(id) => format!("--tokens '{id}'"),
            Identity::User(id) => format!("--users '{id}'"),
        }
    }
}

impl std::fmt::Display for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Identity::Token(id) => write!(f, "API token {id}"),
            Identity::User(id) => write!(f, "user {id}"),
        }
    }
}

/// How the client authenticates.
#[derive(Debug, Clone)]
pub enum Auth {
    /// `Authorization: PVEAPIToken=USER@REALM!NAME=SECRET`.
    ApiToken {
        /// `USER@REALM!NAME`.
        id: String,
        /// The token's secret.
        secret: Secret,
    },
    /// Password login (ticket + CSRF token).
    Password {
        /// `USER@REALM`.
        username: String,
        /// The password.
        password: Secret,
    },
}

/// Everything the client needs to reach a cluster.
#[derive(Debug, Clone)]
pub struct PveConfig {
    /// Origin of the API, e.g. `https://pve1:8006`.
    pub base_url: String,
    /// Credentials.
    pub auth: Auth,
    /// How the node's certificate is trusted.
    pub tls: TlsMode,
    /// Allow `http://` URLs.
    pub allow_insecure_http: bool,
    /// Timeout for one request.
    pub timeout: Duration,
    /// Requests in flight at once against this cluster.
    pub max_concurrency: usize,
    /// Extra attempts for a GET after a reset connection or a 502/503/504.
    pub retries: u32,
    /// Time source for ticket renewal.
    pub clock: Arc<dyn Clock>,
    /// Where the cluster's API schema is cached on disk (none: memory only).
    pub schema_cache: Option<Arc<crate::cache::CompileCache>>,
}

impl PveConfig {
    /// A configuration with the defaults: system TLS roots, https only,
    /// 30 s timeout, 8 requests at once, 2 retries for reads.
    pub fn new(base_url: impl Into<String>, auth: Auth) -> PveConfig {
        PveConfig {
            base_url: base_url.into(),
            auth,
            tls: TlsMode::System,
            allow_insecure_http: false,
            timeout: crate::defaults::PVE_TIMEOUT,
            max_concurrency: crate::defaults::PVE_MAX_CONCURRENCY,
            retries: crate::defaults::PVE_RETRIES,
            clock: Arc::new(SystemClock),
            schema_cache: None,
        }
    }
}

/// How requests are authenticated.
enum Credentials {
    /// The full `Authorization` header value.
    Token(Secret),
    /// Password login with the current ticket.
    Password { username: String, password: Secret, ticket: Mutex<Option<Ticket>> },
}

/// A Proxmox API client with one pooled connection set.
#[derive(Clone)]
pub struct PveClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    /// `https://host:port/api2/json`, no trailing slash, parsed once: a
    /// request's URL is this with its path set, so the host is not parsed
    /// again on every request.
    api_url: Url,
    identity: Identity,
    credentials: Credentials,
    timeout: Duration,
    retries: u32,
    /// Shared with the clients [`PveClient::with_token`] makes: one limit per target.
    limit: Arc<Semaphore>,
    clock: Arc<dyn Clock>,
    guests: Mutex<Option<(Instant, Vec<GuestInfo>)>>,
    schema: Arc<SchemaSource>,
}

/// One attempt's result: status, reason phrase and body, or a transport error.
type Attempt = Result<(u16, String, Vec<u8>), reqwest::Error>;

impl std::fmt::Debug for PveClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PveClient").field("api_root", &self.api_root()).finish_non_exhaustive()
    }
}

impl PveClient {
    /// Builds a client; checks the URL, credentials and TLS settings without
    /// contacting the cluster.
    pub fn new(config: PveConfig) -> Result<Self, ConfigError> {
        let origin = normalize_base_url(&config.base_url, config.allow_insecure_http)?;
        let credentials = match &config.auth {
            Auth::ApiToken { id, secret } => {
                if !valid_token_id(id) {
                    return Err(ConfigError::BadTokenId(id.clone()));
                }
                Credentials::Token(Secret::new(format!("PVEAPIToken={id}={}", secret.expose())))
            }
            Auth::Password { username, password } => Credentials::Password {
                username: username.clone(),
                password: password.clone(),
                ticket: Mutex::new(None),
            },
        };
        install_crypto_provider();
        let builder = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10).min(config.timeout))
            .timeout(config.timeout)
            .pool_idle_timeout(Duration::from_secs(60))
            .user_agent(concat!("proxmcp/", env!("CARGO_PKG_VERSION")));
        let http = tls::configure(builder, &config.tls)?.build().map_err(|e| ConfigError::Http(e.to_string()))?;
        let api_url =
            Url::parse(&format!("{}api2/json", origin.as_str())).map_err(|e| ConfigError::Http(e.to_string()))?;
        let identity = match &config.auth {
            Auth::ApiToken { id, .. } => Identity::Token(id.clone()),
            Auth::Password { username, .. } => Identity::User(username.clone()),
        };
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                api_url,
                identity,
                credentials,
                timeout: config.timeout,
                retries: config.retries,
                limit: Arc::new(Semaphore::new(config.max_concurrency.max(1))),
                clock: config.clock,
                guests: Mutex::new(None),
                schema: Arc::new(SchemaSource::new(config.schema_cache)),
            }),
        })
    }

    /// A client for the same cluster that authenticates with the API token
    /// `id`=`secret` instead (a caller's own credentials). It shares the
    /// connections, the concurrency limit and the API schema, but not the
    /// guest cache: what a caller may see depends on its ACLs.
    pub fn with_token(&self, id: &str, secret: &Secret) -> Result<PveClient, ConfigError> {
        if !valid_token_id(id) {
            return Err(ConfigError::BadTokenId(id.to_string()));
        }
        let i = &self.inner;
        Ok(PveClient {
            inner: Arc::new(Inner {
                http: i.http.clone(),
                api_url: i.api_url.clone(),
                identity: Identity::Token(id.to_string()),
                credentials: Credentials::Token(Secret::new(format!("PVEAPIToken={id}={}", secret.expose()))),
                timeout: i.timeout,
                retries: i.retries,
                limit: i.limit.clone(),
                clock: i.clock.clone(),
                guests: Mutex::new(None),
                schema: i.schema.clone(),
            }),
        })
    }

    /// The API root this client talks to (`https://host:port/api2/json`).
    pub fn api_root(&self) -> &str {
        self.inner.api_url.as_str()
    }

    /// The API root, parsed (its host and port).
    pub fn api_url(&self) -> &Url {
        &self.inner.api_url
    }

    /// Whom Proxmox sees: the token or user (never its secret).
    pub fn identity(&self) -> &Identity {
        &self.inner.identity
    }

    /// Sends one request and returns the `data` member of the answer.
    pub async fn request<S: AsRef<str>>(
        &self,
        method: Method,
        segments: &[S],
        params: &Value,
    ) -> Result<Value, ApiError> {
        let raw = self.request_raw(method, segments, params).await?;
        serde_json::from_str(&raw).map_err(|e| ApiError::Other(format!("Proxmox's answer is not JSON: {e}")))
    }

    /// Sends one request and returns the `data` member of the answer as JSON
    /// text, secrets redacted. The body is parsed once to find `data`; it is
    /// parsed again (to redact) only when a secret key could be in it, so a
    /// plugin's answer is usually Proxmox's own bytes.
    ///
    /// A GET is retried with jittered exponential backoff after a reset
    /// connection or a 502/503/504; writes are never replayed. With password
    /// login the ticket is renewed before it expires and once after a 401.
    pub async fn request_raw<S: AsRef<str>>(
        &self,
        method: Method,
        segments: &[S],
        params: &Value,
    ) -> Result<String, ApiError> {
        let path = encode_path(segments)?;
        let form = to_form(params)?;
        let _permit = self
            .inner
            .limit
            .acquire()
            .await
            .map_err(|_| ApiError::Other("the Proxmox client is shutting down".into()))?;
        let mut attempt = 0u32;
        let mut renewed = false;
        loop {
            let result = self.attempt(method, &path, &form).await?;
            let retry_read = method == Method::Get && attempt < self.inner.retries;
            match result {
                Err(e) if retry_read && is_retryable_transport(&e) => {}
                Err(e) => return Err(self.transport_error(method, &path, &e)),
                Ok((502..=504, _, _)) if retry_read => {}
                Ok((401, _, _)) if !renewed && matches!(self.inner.credentials, Credentials::Password { .. }) => {
                    // The ticket may have been revoked or expired early: log in once more.
                    renewed = true;
                    self.drop_ticket().await;
                    continue;
                }
                Ok((status, reason, body)) => {
                    let endpoint = endpoints::lookup(method, segments);
                    let mut result =
                        interpret(method, &path, endpoint.as_ref(), status, &reason, &body, Some(&self.inner.identity));
                    match &mut result {
                        Ok(data) => {
                            let answer_keys = endpoint.as_ref().map_or(&[][..], |m| m.endpoint.secret_answer);
                            if endpoints::may_hold_secrets(data, answer_keys) {
                                *data = redacted(data, endpoint.as_ref())?;
                            }
                        }
                        Err(ApiError::NotFound(_)) if endpoint.as_ref().is_some_and(|m| m.var("vmid").is_some()) => {
                            // The guest may have migrated: resolve afresh next time.
                            self.invalidate_guests().await;
                        }
                        Err(_) => {}
                    }
                    return result;
                }
            }
            attempt += 1;
            tokio::time::sleep(backoff(attempt)).await;
        }
    }

    /// The cluster's own API schema, fetched on first use (see
    /// [`SchemaSource`]); `Err` says why it cannot be had.
    pub async fn api_schema(&self) -> Result<Arc<ApiSchema>, String> {
        self.inner.schema.get(self).await
    }

    /// Fetches a file the node serves outside the API (its API viewer's
    /// `apidoc.js`), with the same TLS trust and credentials, as text.
    /// `path` is absolute on the node, e.g. `/pve-docs/api-viewer/apidoc.js`.
    pub async fn fetch_document(&self, path: &str) -> Result<String, ApiError> {
        let mut url = self.inner.api_url.clone();
        url.set_path(path);
        let mut req = self.inner.http.get(url);
        req = match &self.inner.credentials {
            Credentials::Token(header) => req.header("Authorization", header.expose()),
            Credentials::Password { .. } => {
                let ticket = self.ticket().await?;
                req.header("Cookie", format!("PVEAuthCookie={}", ticket.ticket.expose()))
            }
        };
        let resp = req.send().await.map_err(|e| self.transport_error(Method::Get, path, &e))?;
        let status = resp.status().as_u16();
        let body = read_capped(resp).await.map_err(|e| self.transport_error(Method::Get, path, &e))?;
        if status != 200 {
            return Err(ApiError::Upstream { status, message: format!("GET {path} answered HTTP {status}") });
        }
        String::from_utf8(body).map_err(|_| ApiError::Other(format!("GET {path} is not UTF-8 text")))
    }

    /// The URL of API path `path` (`/nodes/...`, already percent-encoded,
    /// one level per segment): the parsed API root with its path extended,
    /// so nothing parses the host again per request.
    fn endpoint(&self, path: &str) -> Url {
        let mut url = self.inner.api_url.clone();
        url.set_path(&format!("{}{path}", self.inner.api_url.path()));
        url
    }

    /// One HTTP exchange with the current credentials.
    async fn attempt(&self, method: Method, path: &str, form: &[(String, String)]) -> Result<Attempt, ApiError> {
        let url = self.endpoint(path);
        let http_method = match method {
            Method::Get => reqwest::Method::GET,
            Method::Post => reqwest::Method::POST,
            Method::Put => reqwest::Method::PUT,
            Method::Delete => reqwest::Method::DELETE,
        };
        let mut req = self.inner.http.request(http_method, url);
        req = match &self.inner.credentials {
            Credentials::Token(header) => req.header("Authorization", header.expose()),
            Credentials::Password { .. } => {
                let ticket = self.ticket().await?;
                // The raw ticket, as pvesh and proxmoxer send it: some
                // PVE-compatible servers and proxies accept no other form.
                let cookie = format!("PVEAuthCookie={}", ticket.ticket.expose());
                let req = req.header("Cookie", cookie);
                if method.is_write() { req.header("CSRFPreventionToken", ticket.csrf.expose()) } else { req }
            }
        };
        req = match method {
            Method::Get | Method::Delete => req.query(form),
            Method::Post | Method::Put => req.form(form),
        };
        Ok(match req.send().await {
            Err(e) => Err(e),
            Ok(resp) => {
                let status = resp.status();
                let reason = status.canonical_reason().unwrap_or("").to_string();
                read_capped(resp).await.map(|body| (status.as_u16(), reason, body))
            }
        })
    }

    /// The current ticket, logging in when there is none or it is due for
    /// renewal.
    async fn ticket(&self) -> Result<Ticket, ApiError> {
        let Credentials::Password { username, password, ticket } = &self.inner.credentials else {
            return Err(ApiError::Other("ticket requested for token authentication".into()));
        };
        let mut current = ticket.lock().await;
        let now = self.inner.clock.now();
        if let Some(t) = current.as_ref()
            && !t.stale(now)
        {
            return Ok(t.clone());
        }
        let fresh = self.login(username, password).await?;
        *current = Some(fresh.clone());
        Ok(fresh)
    }

    async fn drop_ticket(&self) {
        if let Credentials::Password { ticket, .. } = &self.inner.credentials {
            *ticket.lock().await = None;
        }
    }

    /// `POST /access/ticket` with username and password.
    async fn login(&self, username: &str, password: &Secret) -> Result<Ticket, ApiError> {
        let form = [("username", username), ("password", password.expose())];
        let resp = self
            .inner
            .http
            .post(self.endpoint("/access/ticket"))
            .form(&form)
            .send()
            .await
            .map_err(|e| self.transport_error(Method::Post, "/access/ticket", &e))?;
        let status = resp.status().as_u16();
        let body = read_capped(resp).await.map_err(|e| self.transport_error(Method::Post, "/access/ticket", &e))?;
        if status == 401 {
            return Err(ApiError::Unauthorized(format!(
                "Proxmox refused the password login for {username}; check PVE_USERNAME (USER@REALM, e.g. root@pam) and PVE_PASSWORD, or use an API token"
            )));
        }
        let data: Value =
            serde_json::from_str(&interpret(Method::Post, "/access/ticket", None, status, "", &body, None)?)
                .map_err(|e| ApiError::Other(format!("Proxmox's login answer is not JSON: {e}")))?;
        let tfa = data["NeedTFA"].as_u64() == Some(1)
            || data["NeedTFA"] == Value::Bool(true)
            || data["ticket"].as_str().is_some_and(|t| t.starts_with("PVE:!tfa!"));
        if tfa {
            return Err(ApiError::Unauthorized(format!(
                "{username} has two-factor authentication, which proxmcp cannot answer; create an API token for proxmcp (Datacenter > Permissions > API Tokens) and set PVE_API_TOKEN_ID and PVE_API_TOKEN_SECRET"
            )));
        }
        match (data["ticket"].as_str(), data["CSRFPreventionToken"].as_str()) {
            (Some(ticket), Some(csrf)) => {
                Ok(Ticket { ticket: Secret::new(ticket), csrf: Secret::new(csrf), obtained: self.inner.clock.now() })
            }
            _ => Err(ApiError::Other(
                "Proxmox answered the login without a ticket; is PVE_BASE_URL a Proxmox VE node?".into(),
            )),
        }
    }

    /// Resolves guest `vmid` to its node and kind; refreshes the cache once
    /// on a miss so a just-created or migrated guest is found.
    pub async fn resolve_guest(&self, vmid: u32) -> Result<GuestInfo, ApiError> {
        {
            let cache = self.inner.guests.lock().await;
            if let Some((at, guests)) = cache.as_ref()
                && at.elapsed() < GUEST_CACHE_TTL
                && let Some(g) = guests.iter().find(|g| g.vmid == vmid)
            {
                return Ok(g.clone());
            }
        }
        let guests = self.guests().await?;
        match guests.iter().find(|g| g.vmid == vmid) {
            Some(g) => Ok(g.clone()),
            None => Err(guests::not_found(vmid, &guests)),
        }
    }

    /// Every guest proxmcp's credentials can see, read now from
    /// `/cluster/resources` (and cached for [`PveClient::resolve_guest`]).
    pub async fn guests(&self) -> Result<Vec<GuestInfo>, ApiError> {
        let data = self.request(Method::Get, &["cluster", "resources"], &serde_json::json!({"type": "vm"})).await?;
        if !data.is_array() {
            return Err(ApiError::Other("Proxmox answered GET /cluster/resources without a list of guests".into()));
        }
        let guests = guests::parse_resources(&data);
        *self.inner.guests.lock().await = Some((Instant::now(), guests.clone()));
        Ok(guests)
    }

    /// Forgets cached guest locations (after a write that moves or creates
    /// guests).
    pub async fn invalidate_guests(&self) {
        *self.inner.guests.lock().await = None;
    }

    fn transport_error(&self, method: Method, path: &str, e: &reqwest::Error) -> ApiError {
        if e.is_timeout() {
            let what = if method.is_write() {
                "the change may or may not have been applied; check the object's state before repeating it"
            } else {
                "try again, or raise PVE_TIMEOUT"
            };
            return ApiError::Timeout(format!(
                "Proxmox did not answer {method} {path} within {}s; {what}",
                self.inner.timeout.as_secs()
            ));
        }
        if e.is_connect() {
            let detail = error_chain(e);
            let hint = if detail.contains("fingerprint mismatch") {
                "the pinned certificate does not match"
            } else if detail.contains("certificate") || detail.contains("Certificate") {
                "the TLS certificate was not trusted; for a self-signed node set PVE_FINGERPRINT (the node's SHA-256 fingerprint) or PVE_CA_FILE, or PVE_VERIFY_SSL=false on a trusted network"
            } else {
                ""
            };
            let hint = if hint.is_empty() {
                let port = self.inner.api_url.port_or_known_default().unwrap_or(8006);
                format!("check PVE_BASE_URL and that the node is up and reachable on port {port}")
            } else {
                hint.to_string()
            };
            return ApiError::Other(format!("cannot connect to Proxmox at {}: {detail}; {hint}", self.api_root()));
        }
        ApiError::Other(format!("request {method} {path} failed: {}", error_chain(e)))
    }
}

/// Delay before retry `attempt` (1-based): 200 ms doubling, with ±50 %
/// jitter so that many clients do not retry in step.
fn backoff(attempt: u32) -> Duration {
    let base = 200u64 << attempt.saturating_sub(1).min(5);
    let jitter = getrandom::u32().unwrap_or(0) as u64 % base;
    Duration::from_millis(base / 2 + jitter)
}

/// A reset or refused connection: the request did not reach PVE's handler.
fn is_retryable_transport(e: &reqwest::Error) -> bool {
    if e.is_connect() {
        return true;
    }
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>()
            && matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::ConnectionAborted
                    | std::io::ErrorKind::BrokenPipe
            )
        {
            return true;
        }
        if s.to_string().contains("connection closed before message completed") {
            return true;
        }
        source = s.source();
    }
    false
}

/// Installs rustls' ring provider once per process (no aws-lc, no OpenSSL).
pub fn install_crypto_provider() {
    // A second install fails harmlessly; the first provider stays.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

async fn read_capped(mut resp: reqwest::Response) -> Result<Vec<u8>, reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await? {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            // Keep what fits; `interpret` reports the truncation.
            body.extend_from_slice(&chunk[..MAX_BODY_BYTES - body.len()]);
            break;
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Turns an HTTP answer into data or a typed error.
mod answer;
mod base_url;

pub use self::base_url::normalize_base_url;
use self::base_url::valid_token_id;

use answer::{interpret, redacted};

#[cfg(test)]
mod tests;
