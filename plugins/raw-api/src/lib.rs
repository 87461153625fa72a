//! The raw-API plugin (opt-in): one guarded escape hatch to any Proxmox
//! endpoint. The path is split into segments here; the host refuses
//! traversal, encoded characters and anything outside the operator's grant,
//! and sends no write without `confirm: true`.

use proxmcp_sdk::write::{Plan, Writes, dry_run_text, redact};
use proxmcp_sdk::{Answer, Hints, Method, Router, ToolError};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

fn router() -> Router {
    Router::new().write(
        "pve_api_request",
        "Proxmox API request",
        "Call any Proxmox VE API endpoint (path as in the API viewer, e.g. /nodes/pve1/network). Prefer the specific tools.",
        Hints::DESTRUCTIVE,
        request,
    )
}

proxmcp_sdk::plugin! {
    router: router,
    name: "raw-api",
    description: "Guarded generic Proxmox API access (opt-in; writes need confirm=true)",
    grants: ["* /**"],
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Args {
    #[schemars(extend("enum" = ["GET", "POST", "PUT", "DELETE"]))]
    method: String,
    /// Starts with /; no query string: put parameters in params.
    path: String,
    params: Option<Map<String, Value>>,
}

/// Proxmox's answer (secrets redacted), or in a dry run the request.
#[derive(Serialize, JsonSchema)]
struct Answered {
    #[serde(skip_serializing_if = "Option::is_none")]
    method: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<Value>,
    #[serde(flatten)]
    plan: Plan,
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

fn request(a: Args, writes: &mut Writes) -> Result<Answer<Answered>, ToolError> {
    let name = a.method.to_ascii_uppercase();
    let method = match name.as_str() {
        "GET" => Method::Get,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "DELETE" => Method::Delete,
        other => return Err(ToolError::InvalidArguments(format!("method {other:?} must be GET, POST, PUT or DELETE"))),
    };
    let segs = segments(&a.path)?;
    let params = a.params.map_or(Value::Null, Value::Object);
    let shown = format!("/{}", segs.join("/"));
    let data = if method == Method::Get {
        Some(proxmcp_sdk::pve::request(method, &segs, &params)?)
    } else {
        writes.send(method, &segs, &params)?
    };
    match data {
        None => {
            let planned = Answered { method: None, path: None, data: None, plan: writes.take_plan() };
            Ok(Answer::new(planned, dry_run_text(&format!("send {name} {shown}"))))
        }
        Some(data) => {
            let text = format!("{name} {shown}: answered");
            // Passwords and tokens in an answer are not shown to the model.
            let data = Some(redact(&data));
            Ok(Answer::new(Answered { method: Some(name), path: Some(shown), data, plan: Plan::default() }, text))
        }
    }
}
