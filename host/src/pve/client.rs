//! The HTTP side of the Proxmox client.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::Mutex;
use url::Url;

use super::error::{ApiError, ConfigError, FieldError};
use super::guests::{self, GuestInfo};
use super::{Method, encode_path, to_form};
use crate::secret::Secret;

/// How long a `/cluster/resources` answer serves guest resolution.
const GUEST_CACHE_TTL: Duration = Duration::from_secs(5);
/// Largest response body read; PVE's biggest answers (task logs, resource
/// lists of large clusters) stay far below it.
const MAX_BODY_BYTES: usize = 32 << 20;

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
    /// Verify the server's TLS certificate (default true).
    pub verify_tls: bool,
    /// Allow `http://` URLs.
    pub allow_insecure_http: bool,
    /// Timeout for one request.
    pub timeout: Duration,
}

/// A Proxmox API client with one pooled connection set.
#[derive(Clone)]
pub struct PveClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    /// `https://host:port/api2/json`, no trailing slash.
    api_root: String,
    authorization: Secret,
    timeout: Duration,
    guests: Mutex<Option<(Instant, Vec<GuestInfo>)>>,
}

impl std::fmt::Debug for PveClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PveClient").field("api_root", &self.inner.api_root).finish_non_exhaustive()
    }
}

/// Normalises a base URL to its origin: a trailing `/api2/json` is dropped,
/// the port defaults to 8006, and anything else after the host is refused.
pub fn normalize_base_url(raw: &str, allow_insecure_http: bool) -> Result<Url, ConfigError> {
    let bad = |reason: &str| ConfigError::BadBaseUrl { url: raw.to_string(), reason: reason.to_string() };
    let raw = raw.trim();
    if raw.is_empty() {
        return Err(ConfigError::MissingBaseUrl);
    }
    let with_scheme = if raw.contains("://") { raw.to_string() } else { format!("https://{raw}") };
    let mut url = Url::parse(&with_scheme).map_err(|e| bad(&format!("{e}; write it as https://HOST:8006")))?;
    match url.scheme() {
        "https" => {}
        "http" if allow_insecure_http => {
            tracing::warn!("PVE_ALLOW_INSECURE_HTTP=true: the API token travels unencrypted");
        }
        "http" => return Err(ConfigError::InsecureHttp),
        other => return Err(bad(&format!("scheme {other:?} is not supported; use https://"))),
    }
    if url.host_str().is_none() {
        return Err(bad("it has no host; write it as https://HOST:8006"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("it carries credentials; put them in PVE_API_TOKEN_ID/PVE_API_TOKEN_SECRET instead"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad("it has a query or fragment; give only https://HOST:PORT"));
    }
    let path = url.path().trim_end_matches('/');
    if !(path.is_empty() || path == "/api2/json") {
        return Err(bad("it has a path; give only https://HOST:PORT (a trailing /api2/json is fine)"));
    }
    // `Url` hides a port equal to the scheme's default (443), so look at
    // the text to tell "https://h:443" from "https://h".
    if url.port().is_none() && !has_explicit_port(&with_scheme) {
        url.set_port(Some(8006)).map_err(|()| bad("cannot set the default port 8006"))?;
    }
    url.set_path("");
    Ok(url)
}

impl PveClient {
    /// Builds a client; checks the URL and credentials without contacting
    /// the cluster.
    pub fn new(config: PveConfig) -> Result<Self, ConfigError> {
        let origin = normalize_base_url(&config.base_url, config.allow_insecure_http)?;
        let authorization = match &config.auth {
            Auth::ApiToken { id, secret } => {
                if !valid_token_id(id) {
                    return Err(ConfigError::BadTokenId(id.clone()));
                }
                Secret::new(format!("PVEAPIToken={id}={}", secret.expose()))
            }
            Auth::Password { .. } => return Err(ConfigError::PasswordLoginUnsupported),
        };
        install_crypto_provider();
        let mut builder = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10).min(config.timeout))
            .timeout(config.timeout)
            .pool_idle_timeout(Duration::from_secs(60))
            .user_agent(concat!("proxmcp/", env!("CARGO_PKG_VERSION")));
        if !config.verify_tls {
            tracing::warn!(
                "PVE_VERIFY_SSL=false: the Proxmox certificate is not checked, so anyone on the path can read the API token; prefer PVE_FINGERPRINT or PVE_CA_FILE"
            );
            builder = builder.tls_danger_accept_invalid_certs(true);
        }
        let http = builder.build().map_err(|e| ConfigError::Http(e.to_string()))?;
        let api_root = format!("{}api2/json", origin.as_str());
        Ok(Self {
            inner: Arc::new(Inner { http, api_root, authorization, timeout: config.timeout, guests: Mutex::new(None) }),
        })
    }

    /// The API root this client talks to (`https://host:port/api2/json`).
    pub fn api_root(&self) -> &str {
        &self.inner.api_root
    }

    /// Sends one request and returns the `data` member of the answer.
    pub async fn request<S: AsRef<str>>(
        &self,
        method: Method,
        segments: &[S],
        params: &Value,
    ) -> Result<Value, ApiError> {
        let path = encode_path(segments)?;
        let form = to_form(params)?;
        let url = format!("{}{path}", self.inner.api_root);
        let http_method = match method {
            Method::Get => reqwest::Method::GET,
            Method::Post => reqwest::Method::POST,
            Method::Put => reqwest::Method::PUT,
            Method::Delete => reqwest::Method::DELETE,
        };
        let mut req =
            self.inner.http.request(http_method, &url).header("Authorization", self.inner.authorization.expose());
        req = match method {
            Method::Get | Method::Delete => req.query(&form),
            Method::Post | Method::Put => req.form(&form),
        };
        let resp = req.send().await.map_err(|e| self.transport_error(method, &path, &e))?;
        let status = resp.status();
        let body = read_capped(resp).await.map_err(|e| self.transport_error(method, &path, &e))?;
        interpret(method, &path, status.as_u16(), status.canonical_reason().unwrap_or(""), &body)
    }

    /// Resolves guest `vmid` to its node and kind; refreshes the cache once
    /// on a miss so a just-created or migrated guest is found.
    pub async fn resolve_guest(&self, vmid: u32) -> Result<GuestInfo, ApiError> {
        let mut cache = self.inner.guests.lock().await;
        if let Some((at, guests)) = cache.as_ref()
            && at.elapsed() < GUEST_CACHE_TTL
            && let Some(g) = guests.iter().find(|g| g.vmid == vmid)
        {
            return Ok(g.clone());
        }
        let data = self.request(Method::Get, &["cluster", "resources"], &serde_json::json!({"type": "vm"})).await?;
        let guests = guests::parse_resources(&data);
        let found = guests.iter().find(|g| g.vmid == vmid).cloned();
        let err = found.is_none().then(|| guests::not_found(vmid, &guests));
        *cache = Some((Instant::now(), guests));
        match (found, err) {
            (Some(g), _) => Ok(g),
            (None, Some(e)) => Err(e),
            (None, None) => Err(ApiError::NotFound(format!("no guest with vmid {vmid}"))),
        }
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
            let hint = if detail.contains("certificate") || detail.contains("Certificate") {
                "the TLS certificate was not trusted; for a self-signed node set PVE_FINGERPRINT (the node's SHA-256 fingerprint) or PVE_CA_FILE, or PVE_VERIFY_SSL=false on a trusted network"
            } else {
                "check PVE_BASE_URL and that the node is up and reachable on port 8006"
            };
            return ApiError::Other(format!("cannot connect to Proxmox at {}: {detail}; {hint}", self.inner.api_root));
        }
        ApiError::Other(format!("request {method} {path} failed: {}", error_chain(e)))
    }
}

fn has_explicit_port(url: &str) -> bool {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = after_scheme.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    // Skip an IPv6 literal's colons.
    let tail = host_port.rsplit_once(']').map_or(host_port, |(_, t)| t);
    tail.contains(':')
}

fn valid_token_id(id: &str) -> bool {
    let Some((user_realm, name)) = id.split_once('!') else {
        return false;
    };
    let Some((user, realm)) = user_realm.rsplit_once('@') else {
        return false;
    };
    !user.is_empty() && !realm.is_empty() && !name.is_empty() && !name.contains(['!', '=', ' '])
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
fn interpret(method: Method, path: &str, status: u16, reason: &str, body: &[u8]) -> Result<Value, ApiError> {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    if (200..300).contains(&status) {
        if body.len() >= MAX_BODY_BYTES {
            return Err(ApiError::Other(format!(
                "the answer to {method} {path} is larger than {} MiB; narrow the request",
                MAX_BODY_BYTES >> 20
            )));
        }
        return match parsed {
            Some(Value::Object(mut obj)) => Ok(obj.remove("data").unwrap_or(Value::Null)),
            _ => Err(ApiError::Other(format!(
                "Proxmox answered {method} {path} with a body that is not PVE's JSON (is PVE_BASE_URL pointing at a Proxmox VE API?)"
            ))),
        };
    }
    let message = parsed
        .as_ref()
        .and_then(|v| v["message"].as_str())
        .map(|m| m.trim().to_string())
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| reason.to_string());
    let fields: Vec<FieldError> = parsed
        .as_ref()
        .and_then(|v| v["errors"].as_object())
        .map(|errs| {
            errs.iter()
                .map(|(k, v)| FieldError {
                    field: k.clone(),
                    message: v.as_str().map(|s| s.trim().to_string()).unwrap_or_else(|| v.to_string()),
                })
                .collect()
        })
        .unwrap_or_default();
    Err(match status {
        400 => ApiError::BadRequest {
            message: if message.is_empty() { "Parameter verification failed.".into() } else { message },
            fields,
        },
        401 => ApiError::Unauthorized(format!(
            "Proxmox refused the credentials for {method} {path} (HTTP 401); check PVE_API_TOKEN_ID and PVE_API_TOKEN_SECRET, and that the token is not expired"
        )),
        403 => ApiError::Forbidden(format!(
            "the Proxmox token may not {method} {path}: {message}; grant the token's user a role with the needed privilege on that path (Datacenter > Permissions), or uncheck 'Privilege Separation' on the token"
        )),
        404 => ApiError::NotFound(format!("{method} {path}: not found ({message})")),
        409 => {
            ApiError::Conflict(format!("{method} {path}: {message}; wait for the running task to finish, then retry"))
        }
        595 | 596 => ApiError::NodeUnreachable(format!(
            "{method} {path}: the node is unreachable ({message}); it may be offline, pick another node or wait for it"
        )),
        500 if message.contains("does not exist") => ApiError::NotFound(format!("{method} {path}: {message}")),
        500 if message.contains("locked") || message.contains("lock") => {
            ApiError::Conflict(format!("{method} {path}: {message}; wait for the lock to be released, then retry"))
        }
        _ => ApiError::Upstream { status, message },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn base_url_is_reduced_to_its_origin_with_default_port() {
        let u = normalize_base_url("https://pve.example.com/api2/json/", false).map(|u| u.to_string());
        assert_eq!(u.ok().as_deref(), Some("https://pve.example.com:8006/"));
        let u = normalize_base_url("pve1:443", false).map(|u| u.to_string());
        assert_eq!(u.ok().as_deref(), Some("https://pve1/"));
        let u = normalize_base_url("https://[::1]", false).map(|u| u.to_string());
        assert_eq!(u.ok().as_deref(), Some("https://[::1]:8006/"));
    }

    #[test]
    fn base_url_with_path_query_or_http_is_refused() {
        assert!(matches!(normalize_base_url("https://h/x", false), Err(ConfigError::BadBaseUrl { .. })));
        assert!(matches!(normalize_base_url("https://h/?a=1", false), Err(ConfigError::BadBaseUrl { .. })));
        assert!(matches!(normalize_base_url("https://h/#f", false), Err(ConfigError::BadBaseUrl { .. })));
        assert!(matches!(normalize_base_url("http://h", false), Err(ConfigError::InsecureHttp)));
        assert!(normalize_base_url("http://h", true).is_ok());
        assert!(matches!(normalize_base_url("", false), Err(ConfigError::MissingBaseUrl)));
    }

    #[test]
    fn token_ids_must_name_user_realm_and_token() {
        assert!(valid_token_id("root@pam!mcp"));
        assert!(valid_token_id("svc@pve!read-only"));
        assert!(!valid_token_id("root@pam"));
        assert!(!valid_token_id("root!mcp"));
        assert!(!valid_token_id("@pam!x"));
    }

    #[test]
    fn statuses_map_to_typed_errors() {
        let body = json!({"data": null, "errors": {"memory": "value must be at least 16"}}).to_string();
        match interpret(Method::Post, "/x", 400, "Bad Request", body.as_bytes()) {
            Err(ApiError::BadRequest { fields, .. }) => assert_eq!(fields[0].field, "memory"),
            other => panic!("unexpected {other:?}"),
        }
        assert!(matches!(interpret(Method::Get, "/x", 401, "", b""), Err(ApiError::Unauthorized(_))));
        assert!(matches!(interpret(Method::Get, "/x", 403, "", b""), Err(ApiError::Forbidden(_))));
        assert!(matches!(interpret(Method::Get, "/x", 595, "", b""), Err(ApiError::NodeUnreachable(_))));
        assert!(matches!(
            interpret(Method::Get, "/x", 502, "Bad Gateway", b"<html>"),
            Err(ApiError::Upstream { status: 502, .. })
        ));
        assert!(matches!(interpret(Method::Get, "/x", 200, "", b"<html>"), Err(ApiError::Other(_))));
        assert_eq!(interpret(Method::Get, "/x", 200, "", br#"{"data":[1]}"#).ok(), Some(json!([1])));
    }
}
