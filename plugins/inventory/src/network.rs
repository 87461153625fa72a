//! A guest's network as the guest sees it: QEMU through its guest agent,
//! containers through Proxmox; with a best guess at the address to reach.

use proxmcp_sdk::guest::OnGuest;
use proxmcp_sdk::{Answer, ApiError, NoArgs, Router, ToolError, pve};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;

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
struct Interface {
    name: String,
    mac: Option<String>,
    ipv4: Vec<String>,
    ipv6: Vec<String>,
}

#[derive(Serialize, JsonSchema)]
struct Network {
    interfaces: Vec<Interface>,
    /// The first global IPv4 (else IPv6) address outside loopback.
    primary_ip: Option<String>,
}

/// `10.0.0.5/24` without its prefix.
fn bare(cidr: &str) -> &str {
    cidr.split('/').next().unwrap_or(cidr)
}

fn qemu(node: &str, vmid: &str, label: &str) -> Result<Vec<Interface>, ToolError> {
    let path = ["nodes", node, "qemu", vmid, "agent", "network-get-interfaces"];
    let data = pve::get(&path, &Value::Null).map_err(|e| {
        let message = match &e {
            ApiError::Upstream(u) => u.message.clone(),
            ApiError::Other(m) => m.clone(),
            _ => String::new(),
        };
        if message.contains("agent") {
            ToolError::Other(format!(
                "the guest agent of {label} does not answer ({message}): install and start qemu-guest-agent in the guest, enable it with pve_set_vm_config set agent=1, and restart the VM"
            ))
        } else {
            on_node(node)(e)
        }
    })?;
    Ok(items(&data["result"])
        .iter()
        .map(|i| {
            let of = |kind: &str| -> Vec<String> {
                items(&i["ip-addresses"])
                    .iter()
                    .filter(|a| a["ip-address-type"] == kind)
                    .filter_map(|a| {
                        Some(format!("{}/{}", a["ip-address"].as_str()?, a["prefix"].as_u64().unwrap_or(0)))
                    })
                    .collect()
            };
            Interface {
                name: text(i, "name").unwrap_or_default(),
                mac: text(i, "hardware-address"),
                ipv4: of("ipv4"),
                ipv6: of("ipv6"),
            }
        })
        .collect())
}

fn lxc(node: &str, vmid: &str) -> Result<Vec<Interface>, ToolError> {
    let data = pve::get(&["nodes", node, "lxc", vmid, "interfaces"], &Value::Null).map_err(on_node(node))?;
    Ok(items(&data)
        .iter()
        .map(|i| Interface {
            name: text(i, "name").unwrap_or_default(),
            mac: text(i, "hwaddr"),
            ipv4: text(i, "inet").into_iter().collect(),
            ipv6: text(i, "inet6").into_iter().collect(),
        })
        .collect())
}

fn network(a: OnGuest<NoArgs>) -> Result<Answer<Network>, ToolError> {
    let g = a.locate()?;
    let vmid = g.vmid.to_string();
    if g.kind == "qemu" {
        let config = pve::get(&["nodes", &g.node, "qemu", &vmid, "config"], &Value::Null).map_err(on_node(&g.node))?;
        let agent =
            config["agent"].as_str().map(str::to_string).or_else(|| config["agent"].as_u64().map(|n| n.to_string()));
        if !agent.as_deref().is_some_and(|a| a.starts_with('1') || a.contains("enabled=1")) {
            return Err(ToolError::Other(format!(
                "the guest agent is not enabled for {g}: set agent=1 with pve_set_vm_config, install qemu-guest-agent in the guest, and restart it"
            )));
        }
    }
    let interfaces = if g.kind == "qemu" { qemu(&g.node, &vmid, &g.to_string())? } else { lxc(&g.node, &vmid)? };
    let global = |ip: &&String| {
        let b = bare(ip);
        !(b.starts_with("127.") || b == "::1" || b.starts_with("fe80:") || b.starts_with("169.254."))
    };
    let primary_ip = interfaces
        .iter()
        .filter(|i| i.name != "lo")
        .find_map(|i| i.ipv4.iter().find(global).or_else(|| i.ipv6.iter().find(global)))
        .map(|ip| bare(ip).to_string());
    let summary = match &primary_ip {
        Some(ip) => format!("{g}: {} interfaces, primary address {ip}", interfaces.len()),
        None => format!("{g}: {} interfaces, no global address yet", interfaces.len()),
    };
    Ok(Answer::new(Network { interfaces, primary_ip }, summary))
}
