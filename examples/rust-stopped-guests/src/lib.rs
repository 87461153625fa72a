//! stopped-guests: a proxmcp plugin in Rust. One read-only tool,
//! rust_stopped_guests: the stopped VMs and containers (templates left
//! out), optionally on one node. The tool is declared once, in `router()`;
//! its argument and output schemas are derived from the Rust types below.

use proxmcp_sdk::{Answer, Router, ToolError, pve};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

fn router() -> Router {
    Router::new().read(
        "rust_stopped_guests",
        "Stopped guests",
        "Stopped VMs and containers (templates left out), optionally on one node.",
        stopped,
    )
}

/// Arguments of rust_stopped_guests.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Args {
    /// Only guests on this node.
    node: Option<String>,
}

/// One stopped guest.
#[derive(Serialize, JsonSchema)]
struct Guest {
    vmid: u64,
    node: String,
    /// `qemu` or `lxc`.
    r#type: String,
    name: Option<String>,
}

/// The answer of rust_stopped_guests.
#[derive(Serialize, JsonSchema)]
struct Stopped {
    guests: Vec<Guest>,
}

fn stopped(args: Args) -> Result<Answer<Stopped>, ToolError> {
    let all = pve::get(&["cluster", "resources"], &json!({"type": "vm"}))?;
    let guests: Vec<Guest> = all
        .as_array()
        .into_iter()
        .flatten()
        .filter(|g| g["status"] == "stopped" && g["template"].as_u64() != Some(1))
        .filter(|g| args.node.as_deref().is_none_or(|n| g["node"] == n))
        .map(|g| Guest {
            vmid: g["vmid"].as_u64().unwrap_or_default(),
            node: g["node"].as_str().unwrap_or_default().to_string(),
            r#type: g["type"].as_str().unwrap_or_default().to_string(),
            name: g["name"].as_str().map(str::to_string),
        })
        .collect();
    let text = format!("{} stopped guest(s)", guests.len());
    Ok(Answer::new(Stopped { guests }, text))
}

proxmcp_sdk::plugin! {
    router: router,
    name: "stopped-guests",
    description: "Stopped guests (Rust example)",
    grants: ["GET /cluster/resources"],
}
