//! The raw-API plugin (opt-in): one guarded escape hatch to any Proxmox
//! endpoint, and the cluster's own API schema to find and describe
//! endpoints and check each request before it is sent. The path is split
//! into segments here; the host refuses traversal, encoded characters and
//! anything outside the operator's grant, and sends no write without
//! `confirm: true`.

use proxmcp_sdk::api_schema::{self, Checked};
use proxmcp_sdk::write::{Plan, Writes, dry_run_text, redact};
use proxmcp_sdk::{Answer, Hints, Method, Router, ToolError};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

fn router() -> Router {
    Router::new()
        .read(
            "pve_api_search",
            "Search the Proxmox API",
            "Find Proxmox API endpoints by words (e.g. \"add firewall rule vm\"), from the cluster's own schema.",
            search,
        )
        .read(
            "pve_api_describe",
            "Describe a Proxmox API endpoint",
            "An endpoint's parameters, returns, privileges and how proxmcp treats it. Paged; param= shows one parameter in full.",
            describe,
        )
        .write(
            "pve_api_request",
            "Proxmox API request",
            "Call any Proxmox VE API endpoint (path as in the API viewer, e.g. /nodes/pve1/network); checked against the cluster's schema first. Prefer the specific tools.",
            Hints::DESTRUCTIVE,
            request,
        )
}

proxmcp_sdk::plugin! {
    router: router,
    name: "raw-api",
    description: "Guarded generic Proxmox API access with the cluster's own schema (opt-in; writes need confirm=true)",
    grants: ["* /**"],
}

#[derive(Deserialize, JsonSchema, Clone, Copy)]
#[serde(rename_all = "UPPERCASE")]
enum HttpMethod {
    #[serde(alias = "get")]
    Get,
    #[serde(alias = "post")]
    Post,
    #[serde(alias = "put")]
    Put,
    #[serde(alias = "delete")]
    Delete,
}

impl HttpMethod {
    fn wire(self) -> Method {
        match self {
            HttpMethod::Get => Method::Get,
            HttpMethod::Post => Method::Post,
            HttpMethod::Put => Method::Put,
            HttpMethod::Delete => Method::Delete,
        }
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct SearchArgs {
    /// Words, e.g. "list storage content".
    query: String,
    method: Option<HttpMethod>,
    /// 1-25, default 10.
    limit: Option<u32>,
}

/// Endpoints matching the words, best first.
#[derive(Serialize, Deserialize, JsonSchema)]
struct Found {
    /// PVE version of the schema.
    version: String,
    /// How many endpoints matched.
    matches: u32,
    endpoints: Vec<Hit>,
}

#[derive(Serialize, Deserialize, JsonSchema)]
struct Hit {
    method: String,
    path: String,
    description: String,
    writes: bool,
}

fn search(a: SearchArgs) -> Result<Answer<Found>, ToolError> {
    if a.query.trim().is_empty() {
        return Err(ToolError::InvalidArguments("query is empty; give words such as \"firewall rules vm\"".into()));
    }
    let limit = a.limit.unwrap_or(10);
    if !(1..=25).contains(&limit) {
        return Err(ToolError::InvalidArguments(format!("limit {limit} must be between 1 and 25")));
    }
    let found: Found = serde_json::from_value(api_schema::search(&a.query, a.method.map(HttpMethod::wire), limit)?)
        .map_err(|e| ToolError::Other(format!("unexpected search answer: {e}")))?;
    let text = match found.endpoints.first() {
        Some(best) => {
            format!("{} endpoints match (PVE {}); best: {} {}", found.matches, found.version, best.method, best.path)
        }
        None => format!("no endpoint matches {:?} (PVE {}); try other words", a.query, found.version),
    };
    Ok(Answer::new(found, text))
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct DescribeArgs {
    /// With {vars} or values, e.g. /nodes/{node}/qemu/{vmid}/config.
    path: String,
    method: Option<HttpMethod>,
    /// One parameter in full, e.g. net[n].
    param: Option<String>,
    /// Parameter page (from next_page).
    page: Option<u32>,
}

/// The path's endpoints, or one endpoint with a page of its parameters.
#[derive(Serialize, Deserialize, JsonSchema)]
struct Described {
    version: String,
    path: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    path_vars: Vec<String>,
    /// method, description, privileges, proxmcp (how it is treated), parameters, returns, next_page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    endpoint: Option<Map<String, Value>>,
    /// Each method in brief.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    endpoints: Option<Vec<Map<String, Value>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    next: Option<String>,
}

fn describe(a: DescribeArgs) -> Result<Answer<Described>, ToolError> {
    if a.param.is_some() && a.method.is_none() {
        return Err(ToolError::InvalidArguments("param needs method too (e.g. method=PUT)".into()));
    }
    let value = api_schema::describe(&a.path, a.method.map(HttpMethod::wire), a.param.as_deref(), a.page.unwrap_or(0))?;
    let d: Described =
        serde_json::from_value(value).map_err(|e| ToolError::Other(format!("unexpected description: {e}")))?;
    let text = match (&d.endpoint, &d.endpoints) {
        (Some(e), _) => {
            let count = e.get("parameters").and_then(Value::as_array).map_or(0, Vec::len);
            let more = if e.contains_key("next_page") { ", more on the next page" } else { "" };
            format!("{} {}: {} parameters shown{more}", e["method"].as_str().unwrap_or("?"), d.path, count)
        }
        (None, Some(list)) => {
            let methods: Vec<&str> = list.iter().filter_map(|e| e["method"].as_str()).collect();
            format!("{}: {}", d.path, methods.join(", "))
        }
        (None, None) => d.path.clone(),
    };
    Ok(Answer::new(d, text))
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Args {
    method: HttpMethod,
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
    /// Whether the request was checked against the cluster's API schema.
    checked: String,
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
    let method = a.method.wire();
    let name = method_name(method);
    let segs = segments(&a.path)?;
    let params = a.params.map_or(Value::Null, Value::Object);
    let shown = format!("/{}", segs.join("/"));
    // Nothing the schema refuses is sent, or planned: the host checks as
    // one of its gates, after grant and protection and before confirmation.
    let (data, checked) = if method != Method::Get && writes.dry_run() {
        let checked = api_schema::check(method, &segs, &params)?;
        (writes.send(method, &segs, &params)?, checked)
    } else {
        let (data, checked) = api_schema::request(method, &segs, &params)?;
        (Some(data), checked)
    };
    let checked = match checked {
        Checked::Valid(version) => format!("checked against the PVE {version} API schema"),
        Checked::Unchecked(why) => format!("not checked: {why}"),
    };
    match data {
        None => {
            let planned = Answered { method: None, path: None, data: None, checked, plan: writes.take_plan() };
            Ok(Answer::new(planned, dry_run_text(&format!("send {name} {shown}"))))
        }
        Some(data) => {
            let text = format!("{name} {shown}: answered");
            // Passwords and tokens in an answer are not shown to the model.
            let data = Some(redact(&data));
            Ok(Answer::new(
                Answered { method: Some(name.into()), path: Some(shown), data, checked, plan: Plan::default() },
                text,
            ))
        }
    }
}

fn method_name(method: Method) -> &'static str {
    match method {
        Method::Get => "GET",
        Method::Post => "POST",
        Method::Put => "PUT",
        Method::Delete => "DELETE",
    }
}
