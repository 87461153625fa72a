//! One typed configuration: TOML file < environment < command-line flags.
//!
//! Unknown keys in the file are errors (a typo must not silently leave a
//! default in place). Secrets are [`Secret`]s and never printed. The
//! environment names match the Proxmox MCP servers users come from.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::defaults;
use crate::runtime::Limits;
use crate::secret::Secret;

mod env;
mod targets;

pub use targets::TargetSettings;

/// Why the configuration is unusable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The config file is not valid TOML or has unknown keys.
    #[error("config file {path} is invalid: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message (names the key and line).
        message: String,
    },
    /// An environment variable has a value of the wrong kind.
    #[error("environment variable {name}={value:?} is invalid: {expected}")]
    Env {
        /// The variable.
        name: String,
        /// Its value (never a secret: secrets are not parsed).
        value: String,
        /// What is expected.
        expected: String,
    },
    /// A setting has a value outside what works.
    #[error("{0}")]
    Invalid(String),
}

/// `[proxmox]`: how to reach the cluster.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxmoxSection {
    /// `PVE_BASE_URL` / `PVE_HOST`: `https://HOST:8006`.
    pub base_url: Option<String>,
    /// `PVE_API_TOKEN_ID` / `PVE_TOKEN_ID`: `USER@REALM!NAME`.
    pub token_id: Option<String>,
    /// `PVE_API_TOKEN_SECRET` / `PVE_TOKEN_SECRET`.
    pub token_secret: Option<Secret>,
    /// `PVE_USERNAME`: `USER@REALM` for password login.
    pub username: Option<String>,
    /// `PVE_PASSWORD`.
    pub password: Option<Secret>,
    /// `PVE_VERIFY_SSL`: verify the TLS certificate (default true).
    pub verify_ssl: Option<bool>,
    /// `PVE_ALLOW_INSECURE_HTTP`: allow `http://` (default false).
    pub allow_insecure_http: Option<bool>,
    /// `PVE_TIMEOUT`: seconds per request (default 30).
    pub timeout_secs: Option<u64>,
    /// `PVE_FINGERPRINT`: pin the node certificate's SHA-256 (`AA:BB:…`).
    pub fingerprint: Option<String>,
    /// `PVE_CA_FILE`: trust only the certificates in this PEM bundle.
    pub ca_file: Option<PathBuf>,
    /// `PVE_MAX_CONCURRENCY`: requests in flight at once (default 8).
    pub max_concurrency: Option<usize>,
    /// `PVE_RETRIES`: extra attempts for a read after a reset or 502/503/504 (default 2).
    pub retries: Option<u32>,
    /// This target refuses every write (its reads stay available).
    pub read_only: Option<bool>,
    /// `"configured"` (default): the token or password above. `"caller"`:
    /// each HTTP request's `X-Proxmox-Token` header, so Proxmox's ACLs
    /// apply per person.
    pub credentials: Option<Credentials>,
    /// `[targets.NAME.protect]`: this target's protected guests (default:
    /// the top-level `[protect]`). In `[proxmox]`, use `[protect]`.
    pub protect: Option<ProtectSection>,
}

/// Whose Proxmox credentials a target's requests carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Credentials {
    /// The ones in the configuration.
    #[default]
    Configured,
    /// The caller's own API token (`X-Proxmox-Token`), per request.
    Caller,
}

/// `[mcp]`: how clients reach proxmcp.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct McpSection {
    /// `MCP_TRANSPORT`: `stdio` (default), `streamable-http` or `sse`.
    pub transport: Option<String>,
    /// `MCP_HOST`: address for HTTP transports (default 127.0.0.1).
    pub host: Option<String>,
    /// `MCP_PORT`: port for HTTP transports (default 8000; 0 picks a free one).
    pub port: Option<u16>,
    /// `MCP_PATH`: path of the streamable HTTP endpoint (default /mcp).
    pub path: Option<String>,
    /// `MCP_ALLOWED_HOSTS` (comma-separated): `Host` header values accepted
    /// besides localhost, 127.0.0.1 and ::1 (DNS-rebinding defence). An entry
    /// with a port matches only that port.
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
    /// `MCP_ALLOWED_ORIGINS` (comma-separated): browser origins accepted
    /// besides loopback ones, e.g. `https://app.example.com`.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// `MCP_ALLOW_UNAUTHENTICATED`: serve a non-loopback address without
    /// bearer tokens (logged loudly at every start; default false).
    pub allow_unauthenticated: Option<bool>,
    /// `MCP_SHUTDOWN_GRACE`: seconds in-flight calls get to finish after
    /// SIGTERM/SIGINT (default 10).
    pub shutdown_grace_secs: Option<f64>,
    /// `MCP_HEADER_TIMEOUT`: seconds a client gets to send a request's
    /// headers (default 10).
    pub header_timeout_secs: Option<f64>,
    /// `MCP_BODY_TIMEOUT`: seconds a client gets to send a request's body
    /// (default 30).
    pub body_timeout_secs: Option<f64>,
    /// `MCP_MAX_CONNECTIONS`: open connections at once (default 512).
    pub max_connections: Option<usize>,
    /// `MCP_MAX_SESSIONS`: streamable HTTP and SSE sessions at once
    /// (default 256).
    pub max_sessions: Option<usize>,
    /// `MCP_MAX_SESSIONS_PER_PRINCIPAL`: sessions one principal may hold
    /// (default 32).
    pub max_sessions_per_principal: Option<usize>,
    /// `MCP_SESSION_IDLE`: seconds an idle streamable HTTP session lives
    /// (default 300).
    pub session_idle_secs: Option<f64>,
}

/// `[plugins]`: which components load.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginsSection {
    /// Built-in plugins to load (default: inventory, lifecycle,
    /// provisioning; guest-exec, raw-api and the firewall-ha pair only
    /// when named).
    pub builtin: Option<Vec<String>>,
    /// `PVE_MCP_ENABLE_EXEC`: also load guest-exec with the default set.
    pub enable_exec: Option<bool>,
    /// Extra plugin files (`.wasm` components).
    #[serde(default)]
    pub files: Vec<PathBuf>,
    /// Directories whose `*.wasm` files are loaded.
    #[serde(default)]
    pub dirs: Vec<PathBuf>,
    /// `PROXMCP_READ_ONLY` / `PVE_MCP_READ_ONLY`: load only read-only
    /// plugins and refuse every write (default false).
    pub read_only: Option<bool>,
}

/// `[limits]`: per-call limits.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsSection {
    /// Deadline of one tool call in seconds (default 60).
    pub call_timeout_secs: Option<f64>,
    /// `PVE_MCP_TASK_WAIT`: how long a write waits for its Proxmox task,
    /// in seconds (default 30); longer tasks are reported as running.
    pub task_wait_secs: Option<f64>,
    /// Memory per call in MiB (default 64).
    pub memory_mib: Option<usize>,
    /// Largest result in KiB (default 1024).
    pub output_kib: Option<usize>,
}

/// `[cache]`: the compile cache.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheSection {
    /// Use the cache (default true). `PROXMCP_CACHE=false` turns it off.
    pub enabled: Option<bool>,
    /// `PROXMCP_CACHE_DIR`: where compiled plugins are kept
    /// (default `$XDG_CACHE_HOME/proxmcp` or `~/.cache/proxmcp`).
    pub dir: Option<PathBuf>,
}

/// A warning when the config file at `path` holds a secret (a token
/// secret or password) yet group or others may read it.
pub fn secret_file_warning(path: &Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
    if mode & 0o044 == 0 {
        return None;
    }
    let text = std::fs::read_to_string(path).ok()?;
    let value: toml::Value = toml::from_str(&text).ok()?;
    fn has_secret(v: &toml::Value) -> bool {
        match v {
            toml::Value::Table(t) => t.iter().any(|(k, v)| {
                (crate::pve::endpoints::is_secret_key(k) && v.as_str().is_some_and(|s| !s.is_empty())) || has_secret(v)
            }),
            toml::Value::Array(items) => items.iter().any(has_secret),
            _ => false,
        }
    }
    has_secret(&value).then(|| {
        format!(
            "the config file {} holds a secret but group or others may read it (mode {mode:o}); run `chmod 600 {}`",
            path.display(),
            path.display()
        )
    })
}

/// `[audit]`: the audit log.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditSection {
    /// `PROXMCP_AUDIT_LOG`: append JSON lines here (default: stderr).
    pub file: Option<PathBuf>,
    /// Argument names to redact besides the secrets the endpoint model
    /// knows (password, secret, token, ticket, ...); default `["input"]`
    /// (what `pve_vm_exec` feeds a command). `[]` shows them.
    pub redact: Option<Vec<String>>,
    /// The chain key (hex); default: `FILE.key` beside the log, created
    /// 0600 on first use.
    pub key_file: Option<PathBuf>,
    /// Return results even when the audit line cannot be written
    /// (default false: fail closed).
    pub fail_open: Option<bool>,
}

/// `[tools]`: which tools this deployment offers at all.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolsSection {
    /// Tool name patterns (`*` matches any run of characters) to offer;
    /// empty offers every loaded tool.
    #[serde(default)]
    pub allow: Vec<String>,
    /// Tool name patterns never to offer; wins over `allow`.
    #[serde(default)]
    pub deny: Vec<String>,
    /// Leave out of `tools/list` the tools the Proxmox credentials cannot
    /// use at all (checked when the server starts, which is when the
    /// credentials are read). Default false.
    pub hide_unauthorized: Option<bool>,
}

/// `[protect]`: guests no write tool may touch.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProtectSection {
    /// Guests carrying this Proxmox tag are protected (default `protected`;
    /// an empty string turns tag protection off).
    pub tag: Option<String>,
    /// Guests protected by id.
    #[serde(default)]
    pub vmids: Vec<u32>,
    /// A write to an endpoint proxmcp does not know, or whose guests it
    /// cannot tell: `"refuse"` (default) or `"allow"`.
    #[serde(default)]
    pub unknown_writes: crate::gate::UnknownWrites,
}

/// `[rate_limit]`: a token bucket per principal.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSection {
    /// Sustained tool calls per minute per principal (unset: no limit).
    pub per_minute: Option<u32>,
    /// Calls a principal may make at once above the rate (default: a
    /// tenth of `per_minute`, at least 1).
    pub burst: Option<u32>,
}

/// One `[rbac.roles.NAME]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleSection {
    /// Tool name patterns the role may call (default: all).
    #[serde(default = "all_tools")]
    pub tools: Vec<String>,
    /// The role's calls may only read, whatever the tool.
    #[serde(default)]
    pub read_only: bool,
    /// Targets it may use (default: all).
    #[serde(default)]
    pub targets: Vec<String>,
    /// Its guests are in these pools.
    #[serde(default)]
    pub pools: Vec<String>,
    /// Its guests carry one of these tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Its guests run on these nodes.
    #[serde(default)]
    pub nodes: Vec<String>,
    /// Its guests' ids: `"105"` or `"100-199"`.
    #[serde(default)]
    pub vmids: Vec<String>,
}

fn all_tools() -> Vec<String> {
    vec!["*".to_string()]
}

/// One `[[rbac.tokens]]` entry: a bearer token, stored hashed.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenSection {
    /// Who the token belongs to (shown in the audit log).
    pub principal: String,
    /// The role it has.
    pub role: String,
    /// Hex SHA-256 of the token (`proxmcp token new` prints it).
    pub sha256: String,
}

/// `[rbac]`: who may call which tools.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RbacSection {
    /// Role of the local principal on stdio (default `admin`).
    pub stdio_role: Option<String>,
    /// Roles by name; `admin` (all tools) and `viewer` (read-only tools)
    /// exist unless redefined here.
    #[serde(default)]
    pub roles: std::collections::BTreeMap<String, RoleSection>,
    /// Bearer tokens for the HTTP transports.
    #[serde(default)]
    pub tokens: Vec<TokenSection>,
}

/// The whole configuration.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `[proxmox]`.
    #[serde(default)]
    pub proxmox: ProxmoxSection,
    /// `[mcp]`.
    #[serde(default)]
    pub mcp: McpSection,
    /// `[plugins]`.
    #[serde(default)]
    pub plugins: PluginsSection,
    /// `[limits]`.
    #[serde(default)]
    pub limits: LimitsSection,
    /// `[cache]`.
    #[serde(default)]
    pub cache: CacheSection,
    /// `[audit]`.
    #[serde(default)]
    pub audit: AuditSection,
    /// `[grants]`: plugin name -> the grants the operator gives it. A
    /// built-in without an entry gets what its manifest asks for; any other
    /// plugin must be granted here to load.
    #[serde(default)]
    pub grants: std::collections::BTreeMap<String, Vec<String>>,
    /// `[tools]`.
    #[serde(default)]
    pub tools: ToolsSection,
    /// `[protect]`.
    #[serde(default)]
    pub protect: ProtectSection,
    /// `[rate_limit]`.
    #[serde(default)]
    pub rate_limit: RateLimitSection,
    /// `[rbac]`.
    #[serde(default)]
    pub rbac: RbacSection,
    /// `[targets.NAME]`: further Proxmox clusters, each with everything
    /// `[proxmox]` has. `[proxmox]` and `PVE_*` are the target `default`.
    #[serde(default)]
    pub targets: std::collections::BTreeMap<String, ProxmoxSection>,
    /// The target a call uses when it names none (default: `default`, or
    /// the only target).
    pub default_target: Option<String>,
}

/// Settings given as command-line flags; they win over file and environment.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--read-only`.
    pub read_only: bool,
    /// `--plugin FILE` (added to the configured files).
    pub plugin_files: Vec<PathBuf>,
    /// `--no-cache`.
    pub no_cache: bool,
    /// `--transport`.
    pub transport: Option<String>,
}

impl Config {
    /// Loads the file at `path` (if any), then applies the environment seen
    /// through `env`, then `overrides`.
    pub fn load(
        path: Option<&Path>,
        env: &dyn Fn(&str) -> Option<String>,
        overrides: &Overrides,
    ) -> Result<Config, ConfigError> {
        let mut config = match path {
            Some(path) => Self::from_file(path)?,
            None => Config::default(),
        };
        config.apply_env(env)?;
        config.apply_overrides(overrides);
        config.validate()?;
        Ok(config)
    }

    /// Parses a TOML file.
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
        toml::from_str(&text).map_err(|e| ConfigError::Parse { path: path.to_path_buf(), message: e.to_string() })
    }

    fn apply_overrides(&mut self, o: &Overrides) {
        if o.read_only {
            self.plugins.read_only = Some(true);
        }
        self.plugins.files.extend(o.plugin_files.iter().cloned());
        if o.no_cache {
            self.cache.enabled = Some(false);
        }
        if let Some(t) = &o.transport {
            self.mcp.transport = Some(t.clone());
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let transport = self.transport();
        if !["stdio", "streamable-http", "sse"].contains(&transport) {
            return Err(ConfigError::Invalid(format!(
                "MCP_TRANSPORT={transport:?} is unknown; use stdio, streamable-http or sse"
            )));
        }
        if let Some(path) = &self.mcp.path
            && (!path.starts_with('/') || path.len() < 2 || path.contains(['?', '#', ' ']))
        {
            return Err(ConfigError::Invalid(format!(
                "MCP_PATH={path:?} must be a path such as /mcp (starting with /, no query)"
            )));
        }
        if matches!(self.mcp.path.as_deref(), Some("/sse" | "/messages" | "/healthz" | "/readyz")) {
            return Err(ConfigError::Invalid(
                "MCP_PATH may not be /sse, /messages, /healthz or /readyz: those paths are taken".into(),
            ));
        }
        self.listen_addr()?;
        if let Some(g) = self.mcp.shutdown_grace_secs
            && !(0.0..=600.0).contains(&g)
        {
            return Err(ConfigError::Invalid(format!("MCP_SHUTDOWN_GRACE={g} is out of range; use 0 to 600 seconds")));
        }
        if let Some(t) = self.limits.call_timeout_secs
            && !(t > 0.0 && t <= 3600.0)
        {
            return Err(ConfigError::Invalid(format!(
                "[limits] call_timeout_secs = {t} is out of range; use a value above 0 and at most 3600"
            )));
        }
        if let Some(t) = self.limits.task_wait_secs
            && !(0.0..=3600.0).contains(&t)
        {
            return Err(ConfigError::Invalid(format!(
                "task wait {t} s (PVE_MCP_TASK_WAIT or [limits] task_wait_secs) is out of range; use 0 to 3600"
            )));
        }
        if let Some(m) = self.limits.memory_mib
            && !(1..=4096).contains(&m)
        {
            return Err(ConfigError::Invalid(format!("[limits] memory_mib = {m} is out of range; use 1 to 4096")));
        }
        if let Some(o) = self.limits.output_kib
            && !(1..=65_536).contains(&o)
        {
            return Err(ConfigError::Invalid(format!("[limits] output_kib = {o} is out of range; use 1 to 65536")));
        }
        self.proxmox.check_client_limits(|key| match key {
            "max_concurrency" => "PVE_MAX_CONCURRENCY".into(),
            "retries" => "PVE_RETRIES".into(),
            _ => "PVE_TIMEOUT".into(),
        })?;
        self.validate_targets()
    }

    /// The MCP transport (`stdio` by default).
    pub fn transport(&self) -> &str {
        self.mcp.transport.as_deref().unwrap_or("stdio")
    }

    /// The address HTTP transports listen on (`MCP_HOST`:`MCP_PORT`).
    pub fn listen_addr(&self) -> Result<std::net::SocketAddr, ConfigError> {
        let host = self.mcp.host.as_deref().unwrap_or(defaults::MCP_HOST);
        let host = if host == "localhost" { "127.0.0.1" } else { host };
        let ip: std::net::IpAddr = host.trim_matches(['[', ']']).parse().map_err(|_| {
            ConfigError::Invalid(format!(
                "MCP_HOST={host:?} is not an IP address; use 127.0.0.1 (default), ::1, or 0.0.0.0 to listen on every interface"
            ))
        })?;
        Ok(std::net::SocketAddr::new(ip, self.mcp.port.unwrap_or(defaults::MCP_PORT)))
    }

    /// The streamable HTTP endpoint's path (default `/mcp`).
    pub fn mcp_path(&self) -> &str {
        self.mcp.path.as_deref().unwrap_or(defaults::MCP_PATH)
    }

    /// Whether read-only mode is on.
    pub fn read_only(&self) -> bool {
        self.plugins.read_only.unwrap_or(false)
    }

    /// The per-call limits.
    pub fn limits(&self) -> Limits {
        let mut limits = Limits::default();
        if let Some(t) = self.limits.call_timeout_secs {
            limits.call_timeout = Duration::from_secs_f64(t);
        }
        if let Some(m) = self.limits.memory_mib {
            limits.memory_bytes = m << 20;
        }
        if let Some(o) = self.limits.output_kib {
            limits.output_bytes = o << 10;
        }
        limits
    }

    /// How long writes wait for their Proxmox task (default 30 s).
    pub fn task_wait(&self) -> Duration {
        self.limits.task_wait_secs.map_or(defaults::TASK_WAIT, Duration::from_secs_f64)
    }

    /// The compile cache directory, or `None` when the cache is off.
    pub fn cache_dir(&self, env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
        if self.cache.enabled == Some(false) {
            return None;
        }
        if let Some(dir) = &self.cache.dir {
            return Some(dir.clone());
        }
        if let Some(xdg) = env("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
            return Some(PathBuf::from(xdg).join("proxmcp"));
        }
        env("HOME").filter(|v| !v.is_empty()).map(|h| PathBuf::from(h).join(".cache").join("proxmcp"))
    }
}

#[cfg(test)]
mod tests;
