//! What the `firewall-ha-read` and `firewall-ha` plugins share: the
//! firewall's scopes and rule shapes ([`firewall`]) and the PVE version;
//! PVE's loosely typed answers are read with the SDK's `value` helpers.

pub mod firewall;

pub use proxmcp_sdk::value::{flag, float, items, text, uint};
use proxmcp_sdk::{ToolError, pve};
use serde_json::Value;

/// The cluster's PVE major version, from `GET /version`.
pub fn pve_major() -> Result<u32, ToolError> {
    let v = pve::get(&["version"], &Value::Null)?;
    let version = text(&v, "version").unwrap_or_default();
    version
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .ok_or_else(|| ToolError::Other(format!("the cluster reported version {version:?}, which is not N.N.N")))
}

/// A tool error for a bad argument.
pub fn invalid(message: impl Into<String>) -> ToolError {
    ToolError::InvalidArguments(message.into())
}
