//! The permissions doctor as a tool: which of the deployment's tools the
//! Proxmox credentials can run, and what to grant. The host judges; this
//! file words the answer.

use proxmcp_sdk::{Answer, NoArgs, Router, ToolError, permissions};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The requests this file's tools send (through the host's doctor).
pub const GRANTS: &[&str] = &["GET /access/permissions", "GET /access/roles"];

pub fn router() -> Router {
    Router::new().read(
        "pve_check_permissions",
        "Check permissions",
        "Which loaded tools the credentials can use, which get 403, and the pveum commands that grant what is missing.",
        check,
    )
}

/// The host's report as it gives it; entries stay as the host words them.
#[derive(Serialize, Deserialize, JsonSchema)]
struct Report {
    credentials: String,
    works: Vec<String>,
    /// `{tool, missing}`
    fails: Vec<Value>,
    /// `{tool, only}`
    partly: Vec<Value>,
    /// `{tool, why}`
    #[serde(default)]
    unknown: Vec<Value>,
    /// `{command, privileges, tools}`
    #[serde(default)]
    grant: Vec<Value>,
    note: Option<String>,
}

fn check(_: NoArgs) -> Result<Answer<Report>, ToolError> {
    let report: Report = serde_json::from_value(permissions::check()?)
        .map_err(|e| ToolError::Other(format!("the host's permissions report has another shape: {e}")))?;
    let mut summary = format!(
        "{}: {} tools work, {} will fail with 403, {} only on some objects",
        report.credentials,
        report.works.len(),
        report.fails.len(),
        report.partly.len(),
    );
    if let Some(cmd) = report.grant.first().and_then(|g| g["command"].as_str()) {
        summary.push_str(&format!("; grant with: {cmd}"));
        if report.grant.len() > 1 {
            summary.push_str(&format!(" (and {} more in grant)", report.grant.len() - 1));
        }
    }
    Ok(Answer::new(report, summary))
}
