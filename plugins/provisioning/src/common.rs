//! What several provisioning tools share: the next free vmid, the options
//! every create request takes, and the answer that names a new guest.

use proxmcp_sdk::{ToolError, pve};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::{Value, json};

/// The requests this file's tools send.
pub const GRANTS: &[&str] = &["GET /cluster/nextid"];

/// The details of an answer about a new guest.
#[derive(Serialize, JsonSchema)]
pub struct NewGuest {
    pub vmid: u32,
}

/// Checks a guest name or hostname as PVE's `dns-name` format does
/// (labels of letters, digits and inner `-`, joined by dots), so a bad
/// name is refused here with what to change, not sent.
pub fn dns_name(what: &str, name: &str) -> Result<(), ToolError> {
    let label = |l: &str| {
        !l.is_empty()
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if name.split('.').all(label) {
        Ok(())
    } else {
        Err(ToolError::InvalidArguments(format!(
            "{what} {name:?} is not a valid DNS name: use letters, digits and '-' (not at either end), labels joined by dots"
        )))
    }
}

/// `given`, or the next free vmid from Proxmox.
pub fn next_vmid(given: Option<u32>) -> Result<u32, ToolError> {
    if let Some(v) = given {
        return Ok(v);
    }
    let v = pve::get(&["cluster", "nextid"], &Value::Null)?;
    v.as_u64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| ToolError::Other(format!("Proxmox answered /cluster/nextid with {v}, not a vmid")))
}

/// Adds the `start` and `pool` options every create request takes.
pub fn with_start_and_pool(p: &mut Value, start: Option<bool>, pool: Option<&str>) {
    if start == Some(true) {
        p["start"] = json!(true);
    }
    if let Some(pool) = pool {
        p["pool"] = json!(pool);
    }
}
