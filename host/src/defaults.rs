//! Every default setting in one place: the config, the components that
//! fall back to them, and the README's configuration table all use these
//! constants, and a test fails when the README says otherwise.

use std::time::Duration;

/// `proxmox.timeout_secs` / `PVE_TIMEOUT`.
pub const PVE_TIMEOUT: Duration = Duration::from_secs(30);
/// `proxmox.max_concurrency` / `PVE_MAX_CONCURRENCY`.
pub const PVE_MAX_CONCURRENCY: usize = 8;
/// `proxmox.retries` / `PVE_RETRIES`.
pub const PVE_RETRIES: u32 = 2;
/// `mcp.host` / `MCP_HOST`.
pub const MCP_HOST: &str = "127.0.0.1";
/// `mcp.port` / `MCP_PORT`.
pub const MCP_PORT: u16 = 8000;
/// `mcp.path` / `MCP_PATH`.
pub const MCP_PATH: &str = "/mcp";
/// `mcp.shutdown_grace_secs` / `MCP_SHUTDOWN_GRACE`.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// `mcp.header_timeout_secs` / `MCP_HEADER_TIMEOUT`.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// `mcp.body_timeout_secs` / `MCP_BODY_TIMEOUT`.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(30);
/// `mcp.max_connections` / `MCP_MAX_CONNECTIONS`.
pub const MAX_CONNECTIONS: usize = 512;
/// `mcp.max_sessions` / `MCP_MAX_SESSIONS`.
pub const MAX_SESSIONS: usize = 256;
/// `mcp.max_sessions_per_principal` / `MCP_MAX_SESSIONS_PER_PRINCIPAL`.
pub const MAX_SESSIONS_PER_PRINCIPAL: usize = 32;
/// `mcp.session_idle_secs` / `MCP_SESSION_IDLE`.
pub const SESSION_IDLE: Duration = Duration::from_secs(300);
/// `limits.call_timeout_secs`.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(60);
/// `limits.task_wait_secs` / `PVE_MCP_TASK_WAIT`.
pub const TASK_WAIT: Duration = Duration::from_secs(30);
/// `limits.memory_mib`.
pub const MEMORY_MIB: usize = 64;
/// `limits.output_kib`.
pub const OUTPUT_KIB: usize = 1024;
/// `protect.tag`.
pub const PROTECT_TAG: &str = "protected";
/// `audit.redact`.
pub const AUDIT_REDACT: &[&str] = &["input"];

/// Each file key with its default as the README's configuration table
/// shows it.
pub fn table() -> Vec<(&'static str, String)> {
    let secs = |d: Duration| d.as_secs().to_string();
    vec![
        ("proxmox.timeout_secs", secs(PVE_TIMEOUT)),
        ("proxmox.max_concurrency", PVE_MAX_CONCURRENCY.to_string()),
        ("proxmox.retries", PVE_RETRIES.to_string()),
        ("mcp.host", MCP_HOST.to_string()),
        ("mcp.port", MCP_PORT.to_string()),
        ("mcp.path", MCP_PATH.to_string()),
        ("mcp.shutdown_grace_secs", secs(SHUTDOWN_GRACE)),
        ("mcp.header_timeout_secs", secs(HEADER_TIMEOUT)),
        ("mcp.body_timeout_secs", secs(BODY_TIMEOUT)),
        ("mcp.max_connections", MAX_CONNECTIONS.to_string()),
        ("mcp.max_sessions", MAX_SESSIONS.to_string()),
        ("mcp.max_sessions_per_principal", MAX_SESSIONS_PER_PRINCIPAL.to_string()),
        ("mcp.session_idle_secs", secs(SESSION_IDLE)),
        ("limits.call_timeout_secs", secs(CALL_TIMEOUT)),
        ("limits.task_wait_secs", secs(TASK_WAIT)),
        ("limits.memory_mib", MEMORY_MIB.to_string()),
        ("limits.output_kib", OUTPUT_KIB.to_string()),
        ("audit.redact", format!("{AUDIT_REDACT:?}")),
    ]
}

#[cfg(test)]
mod tests {
    /// The README's configuration table: file key -> default cell, where a
    /// row naming `a / b` keys has `x / y` defaults.
    fn readme_defaults() -> std::collections::BTreeMap<String, String> {
        let readme = include_str!("../../README.md");
        let mut out = std::collections::BTreeMap::new();
        for line in readme.lines().filter(|l| l.starts_with("| `")) {
            let cells: Vec<&str> = line.split(" | ").collect();
            if cells.len() < 4 {
                continue;
            }
            let keys: Vec<&str> = cells[0].trim_start_matches("| ").split(" / ").collect();
            let defaults: Vec<&str> = cells[2].split(" / ").collect();
            for (i, key) in keys.iter().enumerate() {
                let default = if defaults.len() == keys.len() { defaults[i] } else { cells[2] };
                out.insert(key.trim_matches('`').to_string(), default.trim().to_string());
            }
        }
        out
    }

    #[test]
    fn the_readme_configuration_table_shows_the_real_defaults() {
        let readme = readme_defaults();
        for (key, default) in super::table() {
            let shown = readme.get(key).unwrap_or_else(|| panic!("the README's configuration table lacks `{key}`"));
            assert_eq!(shown, &format!("`{default}`"), "README default of `{key}`");
        }
    }
}
