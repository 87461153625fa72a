//! The environment layer of the configuration: each variable (and its
//! aliases) over the file's value, with errors that name the variable.

use std::path::PathBuf;

use super::{Config, ConfigError};
use crate::secret::Secret;

impl Config {
    pub(super) fn apply_env(&mut self, env: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        let first =
            |names: &[&str]| names.iter().find_map(|n| env(n).filter(|v| !v.is_empty()).map(|v| ((*n).to_string(), v)));
        let p = &mut self.proxmox;
        if let Some((_, v)) = first(&["PVE_BASE_URL", "PVE_HOST"]) {
            p.base_url = Some(v);
        }
        if let Some((_, v)) = first(&["PVE_API_TOKEN_ID", "PVE_TOKEN_ID"]) {
            p.token_id = Some(v);
        }
        if let Some((_, v)) = first(&["PVE_API_TOKEN_SECRET", "PVE_TOKEN_SECRET"]) {
            p.token_secret = Some(Secret::new(v));
        }
        if let Some((_, v)) = first(&["PVE_USERNAME"]) {
            p.username = Some(v);
        }
        if let Some((_, v)) = first(&["PVE_PASSWORD"]) {
            p.password = Some(Secret::new(v));
        }
        if let Some((n, v)) = first(&["PVE_VERIFY_SSL"]) {
            p.verify_ssl = Some(parse_bool(&n, &v)?);
        }
        if let Some((n, v)) = first(&["PVE_ALLOW_INSECURE_HTTP"]) {
            p.allow_insecure_http = Some(parse_bool(&n, &v)?);
        }
        if let Some((n, v)) = first(&["PVE_TIMEOUT"]) {
            p.timeout_secs = Some(parse_num(&n, &v, "a whole number of seconds, e.g. 30")?);
        }
        if let Some((_, v)) = first(&["PVE_FINGERPRINT"]) {
            p.fingerprint = Some(v);
        }
        if let Some((_, v)) = first(&["PVE_CA_FILE"]) {
            p.ca_file = Some(PathBuf::from(v));
        }
        if let Some((n, v)) = first(&["PVE_MAX_CONCURRENCY"]) {
            p.max_concurrency = Some(parse_num(&n, &v, "a whole number from 1 to 256")?);
        }
        if let Some((n, v)) = first(&["PVE_RETRIES"]) {
            p.retries = Some(parse_num(&n, &v, "a whole number from 0 to 10")?);
        }
        let m = &mut self.mcp;
        if let Some((_, v)) = first(&["MCP_TRANSPORT"]) {
            m.transport = Some(v);
        }
        if let Some((_, v)) = first(&["MCP_HOST"]) {
            m.host = Some(v);
        }
        if let Some((n, v)) = first(&["MCP_PORT"]) {
            m.port = Some(parse_num(&n, &v, "a port number from 1 to 65535")?);
        }
        if let Some((_, v)) = first(&["MCP_PATH"]) {
            m.path = Some(v);
        }
        let list = |v: String| v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect();
        if let Some((_, v)) = first(&["MCP_ALLOWED_HOSTS"]) {
            m.allowed_hosts = list(v);
        }
        if let Some((_, v)) = first(&["MCP_ALLOWED_ORIGINS"]) {
            m.allowed_origins = list(v);
        }
        if let Some((n, v)) = first(&["MCP_ALLOW_UNAUTHENTICATED"]) {
            m.allow_unauthenticated = Some(parse_bool(&n, &v)?);
        }
        if let Some((n, v)) = first(&["MCP_SHUTDOWN_GRACE"]) {
            m.shutdown_grace_secs = Some(parse_num(&n, &v, "a number of seconds, e.g. 10")?);
        }
        if let Some((n, v)) = first(&["MCP_HEADER_TIMEOUT"]) {
            m.header_timeout_secs = Some(parse_num(&n, &v, "a number of seconds, e.g. 10")?);
        }
        if let Some((n, v)) = first(&["MCP_BODY_TIMEOUT"]) {
            m.body_timeout_secs = Some(parse_num(&n, &v, "a number of seconds, e.g. 30")?);
        }
        if let Some((n, v)) = first(&["MCP_MAX_CONNECTIONS"]) {
            m.max_connections = Some(parse_num(&n, &v, "a whole number, e.g. 512")?);
        }
        if let Some((n, v)) = first(&["MCP_MAX_SESSIONS"]) {
            m.max_sessions = Some(parse_num(&n, &v, "a whole number, e.g. 256")?);
        }
        if let Some((n, v)) = first(&["MCP_MAX_SESSIONS_PER_PRINCIPAL"]) {
            m.max_sessions_per_principal = Some(parse_num(&n, &v, "a whole number, e.g. 32")?);
        }
        if let Some((n, v)) = first(&["MCP_SESSION_IDLE"]) {
            m.session_idle_secs = Some(parse_num(&n, &v, "a number of seconds, e.g. 300")?);
        }
        if let Some((n, v)) = first(&["PROXMCP_READ_ONLY", "PVE_MCP_READ_ONLY"]) {
            self.plugins.read_only = Some(parse_bool(&n, &v)?);
        }
        if let Some((n, v)) = first(&["PVE_MCP_TASK_WAIT"]) {
            self.limits.task_wait_secs = Some(parse_num(&n, &v, "a number of seconds, e.g. 30")?);
        }
        if let Some((_, v)) = first(&["PROXMCP_AUDIT_LOG"]) {
            self.audit.file = Some(PathBuf::from(v));
        }
        if let Some((n, v)) = first(&["PVE_MCP_ENABLE_EXEC"]) {
            self.plugins.enable_exec = Some(parse_bool(&n, &v)?);
        }
        if let Some((_, v)) = first(&["PROXMCP_CACHE_DIR"]) {
            self.cache.dir = Some(PathBuf::from(v));
        }
        if let Some((n, v)) = first(&["PROXMCP_CACHE"]) {
            self.cache.enabled = Some(parse_bool(&n, &v)?);
        }
        Ok(())
    }
}

fn parse_bool(name: &str, value: &str) -> Result<bool, ConfigError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(ConfigError::Env { name: name.into(), value: value.into(), expected: "use true or false".into() }),
    }
}

fn parse_num<T: std::str::FromStr>(name: &str, value: &str, expected: &str) -> Result<T, ConfigError> {
    value.trim().parse().map_err(|_| ConfigError::Env {
        name: name.into(),
        value: value.into(),
        expected: expected.into(),
    })
}
