//! What the `firewall-ha-read` and `firewall-ha` plugins share: the
//! firewall's scopes and rule shapes ([`firewall`]), and reading PVE's
//! loosely typed answers and version.

pub mod firewall;

use proxmcp_sdk::{ToolError, pve};
use serde_json::Value;

/// An unsigned integer PVE may send as a number or a numeric string.
pub fn uint(v: &Value, key: &str) -> Option<u64> {
    match &v[key] {
        Value::Number(n) => n.as_u64().or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64)),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// A number PVE may send as a number or a numeric string.
pub fn float(v: &Value, key: &str) -> Option<f64> {
    match &v[key] {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// A PVE boolean (0/1, true/false), or `None` when absent.
pub fn flag(v: &Value, key: &str) -> Option<bool> {
    match &v[key] {
        Value::Bool(b) => Some(*b),
        Value::Null => None,
        _ => uint(v, key).map(|n| n != 0),
    }
}

/// A non-empty string field.
pub fn text(v: &Value, key: &str) -> Option<String> {
    v[key].as_str().filter(|s| !s.is_empty()).map(str::to_string)
}

/// The items of an array answer.
pub fn items(v: &Value) -> &[Value] {
    v.as_array().map(Vec::as_slice).unwrap_or_default()
}

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
