//! The Proxmox API's own schema, as the cluster serves it (contract 0.1.2):
//! find endpoints by words, describe one, and check a request before it is
//! sent. The host fetches and caches the schema; these calls need no grant.

use serde_json::Value;

use crate::bindings::proxmcp::plugin::api_schema as raw;
use crate::{ApiError, Method};

pub use raw::Checked;

fn parsed(text: String) -> Result<Value, ApiError> {
    serde_json::from_str(&text).map_err(|e| ApiError::Other(format!("host returned data that is not JSON: {e}")))
}

/// Endpoints matching the words of `query`, best first: `{"version",
/// "matches", "endpoints": [{"method", "path", "description", "writes"}]}`.
pub fn search(query: &str, method: Option<Method>, limit: u32) -> Result<Value, ApiError> {
    parsed(raw::search(query, method, limit)?)
}

/// One path's endpoints, or with `method` one endpoint with a page of its
/// parameters; with `param`, that parameter in full. See the contract's
/// `api-schema.describe` for the shape.
pub fn describe(path: &str, method: Option<Method>, param: Option<&str>, page: u32) -> Result<Value, ApiError> {
    parsed(raw::describe(path, method, param, page)?)
}

/// Sends a request with the schema check as one of the host's gates (after
/// grant and protection, before confirmation): Proxmox's `data` and how the
/// check went. Fails as [`check`] and [`crate::pve::request`] do.
pub fn request(method: Method, path: &[&str], params: &Value) -> Result<(Value, Checked), ApiError> {
    let segments: Vec<String> = path.iter().map(|s| (*s).to_string()).collect();
    let params = if params.is_null() { String::new() } else { params.to_string() };
    let sent = raw::request(method, &segments, &params)?;
    Ok((parsed(sent.data)?, sent.checked))
}

/// Checks a request against the schema without sending it; `Err` names
/// each wrong parameter.
pub fn check(method: Method, path: &[&str], params: &Value) -> Result<Checked, ApiError> {
    let segments: Vec<String> = path.iter().map(|s| (*s).to_string()).collect();
    let params = if params.is_null() { String::new() } else { params.to_string() };
    raw::check(method, &segments, &params)
}
