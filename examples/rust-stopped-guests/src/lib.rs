//! stopped-guests: a proxmcp plugin in Rust. One read-only tool,
//! rust_stopped_guests: the stopped VMs and containers (templates left
//! out), optionally on one node. Its argument and output schemas are
//! derived from the Rust types below.

use proxmcp_sdk::{Hints, Output, Plugin, ToolDef, ToolError, parse_args, pve};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

struct Tools;

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

impl Plugin for Tools {
    fn tools() -> Vec<ToolDef> {
        vec![
            ToolDef::typed::<Args>(
                "rust_stopped_guests",
                "Stopped VMs and containers (templates left out), optionally on one node.",
            )
            .typed_output::<Stopped>()
            .hints(Hints::READ_ONLY),
        ]
    }

    fn call(name: &str, args: Value) -> Result<Output, ToolError> {
        match name {
            "rust_stopped_guests" => stopped(parse_args(args)?),
            other => Err(ToolError::UnknownTool(other.to_string())),
        }
    }
}

fn stopped(args: Args) -> Result<Output, ToolError> {
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
    let answer = serde_json::to_value(Stopped { guests }).map_err(|e| ToolError::Other(e.to_string()))?;
    Ok(Output::new(answer, text))
}

proxmcp_sdk::plugin! {
    plugin: Tools,
    name: "stopped-guests",
    description: "Stopped guests (Rust example)",
    grants: ["GET /cluster/resources"],
}
