//! `pve_list_appliance_templates`: Proxmox's catalogue of ready-made
//! container templates (`aplinfo`), searchable by section and name.

use proxmcp_sdk::value::{items, text};
use proxmcp_sdk::{Answer, Router, ToolError, pve};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The requests this file's tools send.
pub const GRANTS: &[&str] = &["GET /nodes", "GET /nodes/{node}/aplinfo"];

pub fn router() -> Router {
    Router::new().read(
        "pve_list_appliance_templates",
        "List appliance templates",
        "The appliance catalogue (aplinfo): container templates to download with pve_download_appliance_template.",
        list,
    )
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Args {
    /// Default: the first online node.
    node: Option<String>,
    /// e.g. system, turnkeylinux.
    section: Option<String>,
    /// Part of the template, package or headline, any case.
    name: Option<String>,
}

#[derive(Serialize, JsonSchema)]
struct Template {
    template: String,
    section: String,
    headline: Option<String>,
    os: Option<String>,
    version: Option<String>,
}

#[derive(Serialize, JsonSchema)]
struct Catalogue {
    node: String,
    templates: Vec<Template>,
    sections: Vec<String>,
}

/// The first online node, for reads any node can answer.
fn any_node() -> Result<String, ToolError> {
    let nodes = pve::get(&["nodes"], &Value::Null)?;
    items(&nodes)
        .iter()
        .filter(|n| n["status"] == "online")
        .find_map(|n| text(n, "node"))
        .ok_or_else(|| ToolError::Other("no node is online to read the catalogue from".into()))
}

fn list(a: Args) -> Result<Answer<Catalogue>, ToolError> {
    let node = match a.node {
        Some(n) => n,
        None => any_node()?,
    };
    let data = pve::get(&["nodes", &node, "aplinfo"], &Value::Null)?;
    let mut sections: Vec<String> = items(&data).iter().filter_map(|t| text(t, "section")).collect();
    sections.sort();
    sections.dedup();
    if let Some(s) = &a.section
        && !sections.contains(s)
    {
        return Err(ToolError::InvalidArguments(format!(
            "section {s:?} is not in the catalogue; use one of {}",
            sections.join(", ")
        )));
    }
    let needle = a.name.as_deref().map(str::to_lowercase);
    let templates: Vec<Template> = items(&data)
        .iter()
        .filter(|t| a.section.as_deref().is_none_or(|s| t["section"] == s))
        .filter(|t| {
            needle.as_deref().is_none_or(|n| {
                ["template", "package", "headline"]
                    .iter()
                    .any(|k| text(t, k).is_some_and(|v| v.to_lowercase().contains(n)))
            })
        })
        .map(|t| Template {
            template: text(t, "template").unwrap_or_default(),
            section: text(t, "section").unwrap_or_default(),
            headline: text(t, "headline"),
            os: text(t, "os"),
            version: text(t, "version"),
        })
        .collect();
    let summary = format!("{} appliance templates on {node}", templates.len());
    Ok(Answer::new(Catalogue { node, templates, sections }, summary))
}
