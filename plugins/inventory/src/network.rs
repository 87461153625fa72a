//! A guest's network as the guest sees it: QEMU through its guest agent,
//! containers through Proxmox; with a best guess at the address to reach.

use proxmcp_sdk::guest::OnGuest;
use proxmcp_sdk::network::{self, Interface};
use proxmcp_sdk::{Answer, NoArgs, Router, ToolError};
use schemars::JsonSchema;
use serde::Serialize;

use crate::common::*;

/// The requests this file's tools send.
pub const GRANTS: &[&str] =
    &["GET /nodes/{node}/qemu/{vmid}/agent/network-get-interfaces", "GET /nodes/{node}/lxc/{vmid}/interfaces"];

pub fn router() -> Router {
    Router::new().read(
        "pve_get_guest_network",
        "Get guest network",
        "A running guest's interfaces with MAC and IPv4/IPv6 addresses, and primary_ip (QEMU needs its guest agent).",
        network,
    )
}

#[derive(Serialize, JsonSchema)]
struct Network {
    interfaces: Vec<Interface>,
    /// The first global IPv4 (else IPv6) address outside loopback.
    primary_ip: Option<String>,
}

fn network(a: OnGuest<NoArgs>) -> Result<Answer<Network>, ToolError> {
    let g = a.locate()?;
    if g.kind == "qemu" {
        network::require_agent(&g).map_err(|e| match e {
            ToolError::Api(api) => on_node(&g.node)(api),
            other => other,
        })?;
    }
    let interfaces = network::interfaces(&g).map_err(|e| match g.kind {
        "qemu" => network::agent_error(&g, e, on_node(&g.node)),
        _ => on_node(&g.node)(e),
    })?;
    let primary_ip = network::primary_ip(&interfaces);
    let summary = match &primary_ip {
        Some(ip) => format!("{g}: {} interfaces, primary address {ip}", interfaces.len()),
        None => format!("{g}: {} interfaces, no global address yet", interfaces.len()),
    };
    Ok(Answer::new(Network { interfaces, primary_ip }, summary))
}
