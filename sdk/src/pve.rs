//! Typed helpers over the host's `pve` import.
//!
//! Paths are given as segments (`&["nodes", node, "qemu"]`), never as one
//! string: the host validates and percent-encodes each, so a name that
//! contains `/` or `..` cannot change which endpoint is reached.

use serde_json::Value;

use crate::bindings::proxmcp::plugin::pve as raw;
use crate::{ApiError, GuestInfo, Method, TaskResult};

/// Sends one request and parses the `data` PVE returned.
pub fn request(method: Method, path: &[&str], params: &Value) -> Result<Value, ApiError> {
    let segments: Vec<String> = path.iter().map(|s| (*s).to_string()).collect();
    let params = if params.is_null() { String::new() } else { params.to_string() };
    let text = raw::request(method, &segments, &params)?;
    serde_json::from_str(&text).map_err(|e| ApiError::Other(format!("host returned data that is not JSON: {e}")))
}

/// `GET` a path with query parameters.
pub fn get(path: &[&str], params: &Value) -> Result<Value, ApiError> {
    request(Method::Get, path, params)
}

/// `POST` a path with a form body. Needs `confirm: true` on the tool call.
pub fn post(path: &[&str], params: &Value) -> Result<Value, ApiError> {
    request(Method::Post, path, params)
}

/// `PUT` a path with a form body. Needs `confirm: true` on the tool call.
pub fn put(path: &[&str], params: &Value) -> Result<Value, ApiError> {
    request(Method::Put, path, params)
}

/// `DELETE` a path. Needs `confirm: true` on the tool call.
pub fn delete(path: &[&str], params: &Value) -> Result<Value, ApiError> {
    request(Method::Delete, path, params)
}

/// Finds node and kind of guest `vmid` (host-cached).
pub fn resolve_guest(vmid: u32) -> Result<GuestInfo, ApiError> {
    raw::resolve_guest(vmid)
}

/// Waits up to `timeout_ms` for task `upid` on `node` to end; the host
/// caps the wait by the deployment's task wait and the call's deadline, and
/// reports progress to the client meanwhile. A task still going when the
/// wait ends comes back with status `running` (and its UPID to follow).
pub fn wait_task(node: &str, upid: &str, timeout_ms: u32) -> Result<TaskResult, ApiError> {
    raw::wait_task(node, upid, timeout_ms)
}
