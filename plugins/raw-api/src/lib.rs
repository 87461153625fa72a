//! The raw-API plugin (opt-in): one guarded escape hatch to any Proxmox
//! endpoint. The path is split into segments here; the host refuses
//! traversal, encoded characters and anything outside the operator's grant,
//! and sends no write without `confirm: true`.

use proxmcp_sdk::write::Writes;
use proxmcp_sdk::{Hints, Method, Output, Plugin, ToolDef, ToolError, parse_write_args};
use serde::Deserialize;
use serde_json::{Value, json};

struct RawApi;

impl Plugin for RawApi {
    fn tools() -> Vec<ToolDef> {
        vec![ToolDef::new(
            "pve_api_request",
            "Call any Proxmox VE API endpoint (path as in the API viewer, e.g. /nodes/pve1/network). Prefer the specific tools.",
            json!({"type": "object", "properties": {
                "method": {"type": "string", "enum": ["GET", "POST", "PUT", "DELETE"]},
                "path": {"type": "string", "description": "Starts with /; no query string: put parameters in params."},
                "params": {"type": "object"},
                "dry_run": {"type": "boolean"}, "confirm": {"type": "boolean"}
            }, "required": ["method", "path"], "additionalProperties": false}),
        )
        .title("Proxmox API request")
        .output_schema(json!({"type": "object", "properties": {
            "method": {"type": "string"}, "path": {"type": "string"}, "data": {},
            "dry_run": {"type": "boolean"}, "requests": {"type": "array"}
        }}))
        .hints(Hints::DESTRUCTIVE)]
    }

    fn call(name: &str, args: Value) -> Result<Output, ToolError> {
        match name {
            "pve_api_request" => request(args),
            other => Err(ToolError::UnknownTool(other.to_string())),
        }
    }
}

proxmcp_sdk::plugin! {
    plugin: RawApi,
    name: "raw-api",
    description: "Guarded generic Proxmox API access (opt-in; writes need confirm=true)",
    grants: ["* /**"],
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    method: String,
    path: String,
    params: Option<Value>,
}

/// Splits an API path into segments, refusing what is not a plain path.
fn segments(path: &str) -> Result<Vec<&str>, ToolError> {
    let bad = |why: &str| ToolError::InvalidArguments(format!("path {path:?} {why}"));
    if path.contains("://") {
        return Err(bad("is a full URL; give only the API path, e.g. /nodes/pve1/status"));
    }
    if path.contains('?') || path.contains('#') {
        return Err(bad("has a query or fragment; put parameters in params instead"));
    }
    let rest = path.strip_prefix('/').ok_or_else(|| bad("must start with /"))?;
    let rest = rest.strip_prefix("api2/json/").unwrap_or(rest);
    if rest.is_empty() {
        return Err(bad("names no endpoint"));
    }
    // Validation of each segment (traversal, encoding, control characters)
    // is the host's, which refuses them for every plugin.
    Ok(rest.trim_end_matches('/').split('/').collect())
}

fn request(args: Value) -> Result<Output, ToolError> {
    let mut writes = Writes::from_args(&args);
    let a: Args = parse_write_args(args)?;
    let method = match a.method.to_ascii_uppercase().as_str() {
        "GET" => Method::Get,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "DELETE" => Method::Delete,
        other => return Err(ToolError::InvalidArguments(format!("method {other:?} must be GET, POST, PUT or DELETE"))),
    };
    let segs = segments(&a.path)?;
    let params = a.params.unwrap_or(Value::Null);
    if !(params.is_null() || params.is_object()) {
        return Err(ToolError::InvalidArguments("params must be an object of parameter names to values".into()));
    }
    let shown = format!("/{}", segs.join("/"));
    let data = if method == Method::Get {
        Some(proxmcp_sdk::pve::request(method, &segs, &params)?)
    } else {
        writes.send(method, &segs, &params)?
    };
    match data {
        None => Ok(writes.dry_run_output(&format!("send {} {shown}", a.method.to_ascii_uppercase()), json!({}))),
        Some(data) => Ok(Output::new(
            // Passwords and tokens in an answer are not shown to the model.
            json!({"method": a.method.to_ascii_uppercase(), "path": shown, "data": proxmcp_sdk::write::redact(&data)}),
            format!("{} {shown}: answered", a.method.to_ascii_uppercase()),
        )),
    }
}
