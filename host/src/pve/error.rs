//! Typed errors of the Proxmox client, each ending in a next step.

use serde::Serialize;

/// One parameter PVE refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// Parameter name.
    pub field: String,
    /// PVE's message for it.
    pub message: String,
}

/// Why a Proxmox request produced no data. Mirrors the contract's
/// `api-error`, so it crosses into plugins unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// HTTP 400: PVE refused parameters.
    #[error("Proxmox refused the request: {message}{}", fields_suffix(.fields))]
    BadRequest {
        /// PVE's overall message.
        message: String,
        /// Per-parameter messages.
        fields: Vec<FieldError>,
    },
    /// HTTP 401: credentials refused.
    #[error("{0}")]
    Unauthorized(String),
    /// HTTP 403: a privilege is missing.
    #[error("{0}")]
    Forbidden(String),
    /// HTTP 404 or "does not exist".
    #[error("{0}")]
    NotFound(String),
    /// Locked, busy or conflicting state.
    #[error("{0}")]
    Conflict(String),
    /// No answer in time.
    #[error("{0}")]
    Timeout(String),
    /// HTTP 595/596: the owning node is offline.
    #[error("{0}")]
    NodeUnreachable(String),
    /// Refused by the host's policy before sending.
    #[error("{0}")]
    DeniedByPolicy(String),
    /// A write without `confirm: true`; nothing was sent.
    #[error("{0}")]
    ConfirmationRequired(String),
    /// Malformed path segment or parameters; nothing was sent.
    #[error("{0}")]
    InvalidRequest(String),
    /// Any other error status.
    #[error("Proxmox answered HTTP {status}: {message}")]
    Upstream {
        /// HTTP status.
        status: u16,
        /// PVE's message or the reason phrase.
        message: String,
    },
    /// Transport failure, unreadable answer, anything else.
    #[error("{0}")]
    Other(String),
}

fn fields_suffix(fields: &[FieldError]) -> String {
    fields.iter().map(|f| format!("; {}: {}", f.field, f.message)).collect()
}

/// Why the client could not be built from its configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// No base URL configured.
    #[error(
        "no Proxmox URL configured; set PVE_BASE_URL (e.g. https://pve.example.com:8006) or [proxmox] base_url in the config file"
    )]
    MissingBaseUrl,
    /// The base URL does not parse or carries more than an origin.
    #[error("PVE_BASE_URL {url:?} is not usable: {reason}")]
    BadBaseUrl {
        /// The URL as given (credentials never appear in URLs we accept).
        url: String,
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// `http://` without the explicit opt-in.
    #[error(
        "PVE_BASE_URL uses plain http://, which sends the API token unencrypted; use https:// (with PVE_FINGERPRINT or PVE_CA_FILE for a self-signed node), or set PVE_ALLOW_INSECURE_HTTP=true for a trusted lab network"
    )]
    InsecureHttp,
    /// Neither an API token nor username/password.
    #[error(
        "no Proxmox credentials configured; set PVE_API_TOKEN_ID (USER@REALM!NAME) and PVE_API_TOKEN_SECRET, or PVE_USERNAME and PVE_PASSWORD"
    )]
    MissingCredentials,
    /// The token id is not `USER@REALM!NAME`.
    #[error("PVE_API_TOKEN_ID {0:?} is not of the form USER@REALM!NAME (for example root@pam!mcp)")]
    BadTokenId(String),
    /// The pinned fingerprint does not parse.
    #[error("PVE_FINGERPRINT {0}")]
    BadFingerprint(String),
    /// The CA bundle cannot be used.
    #[error("PVE_CA_FILE: {0}")]
    CaFile(String),
    /// TLS settings contradict each other.
    #[error("{0}")]
    TlsConflict(String),
    /// The HTTP client could not be built.
    #[error("could not set up the HTTPS client: {0}")]
    Http(String),
}
