//! The permissions doctor (contract 0.1.3): which of the deployment's tools
//! the Proxmox credentials in use can run, and the `pveum` commands that
//! grant what is missing. The host reads `GET /access/permissions` and
//! `GET /access/roles` for it, through the plugin's grant.

use serde_json::Value;

use crate::ApiError;
use crate::bindings::proxmcp::plugin::permissions as raw;

/// The report: `{"credentials", "works", "fails", "partly", "unknown",
/// "grant", "note"}`; see the contract's `permissions.check`.
pub fn check() -> Result<Value, ApiError> {
    let text = raw::check()?;
    serde_json::from_str(&text).map_err(|e| ApiError::Other(format!("host returned data that is not JSON: {e}")))
}
