//! A guest's network as the guest itself sees it: QEMU through its guest
//! agent (`network-get-interfaces`), containers through Proxmox
//! (`/interfaces`), with a best guess at the address to reach it on.
//!
//! Grants needed: `GET /nodes/{node}/qemu/{vmid}/config`,
//! `GET /nodes/{node}/qemu/{vmid}/agent/network-get-interfaces` and
//! `GET /nodes/{node}/lxc/{vmid}/interfaces`.

use serde::Serialize;
use serde_json::Value;

use crate::guest::Located;
use crate::value::{items, text};
use crate::{ApiError, ToolError, pve};

/// One network interface of a guest.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Interface {
    /// `eth0`, `ens18`, `lo`.
    pub name: String,
    /// Hardware address.
    pub mac: Option<String>,
    /// IPv4 addresses with prefix (`10.0.0.5/24`).
    pub ipv4: Vec<String>,
    /// IPv6 addresses with prefix.
    pub ipv6: Vec<String>,
}

/// Whether a QEMU config (`GET .../config`) enables the guest agent
/// (`agent: 1` or `agent: enabled=1,...`).
pub fn agent_enabled(config: &Value) -> bool {
    let agent = text(config, "agent").or_else(|| config["agent"].as_u64().map(|n| n.to_string()));
    agent.as_deref().is_some_and(|a| a.starts_with('1') || a.contains("enabled=1"))
}

/// What to do when a guest agent is off or silent, for error messages.
pub const AGENT_HINT: &str =
    "install and start qemu-guest-agent in the guest, enable it with pve_set_vm_config set agent=1, and restart the VM";

/// Proxmox's message when `e` says the guest agent is not running (or not
/// configured); `None` when the node or the request failed otherwise.
pub fn agent_silence(e: &ApiError) -> Option<&str> {
    let message = match e {
        ApiError::Upstream(u) => u.message.as_str(),
        ApiError::Other(m) => m.as_str(),
        _ => return None,
    };
    message.contains("agent").then_some(message)
}

/// The error for a call to `g`'s guest agent: what to do when the agent is
/// silent, else `other(e)` (how the caller reports any other failure).
pub fn agent_error(g: &Located, e: ApiError, other: impl FnOnce(ApiError) -> ToolError) -> ToolError {
    match agent_silence(&e) {
        Some(why) => ToolError::Other(format!("the guest agent of {g} does not answer ({why}): {AGENT_HINT}")),
        None => other(e),
    }
}

/// Reads `GET .../config` of a QEMU guest and fails, saying what to do,
/// when its agent is not enabled.
pub fn require_agent(g: &Located) -> Result<(), ToolError> {
    let vmid = g.vmid.to_string();
    let config = pve::get(&["nodes", &g.node, "qemu", &vmid, "config"], &Value::Null)?;
    if agent_enabled(&config) {
        Ok(())
    } else {
        Err(ToolError::Other(format!(
            "the guest agent is not enabled for {g}: set agent=1 with pve_set_vm_config, install qemu-guest-agent in the guest, and restart it"
        )))
    }
}

/// The guest's interfaces: QEMU through its agent (which must be enabled
/// and running), containers through Proxmox (which must be running).
pub fn interfaces(g: &Located) -> Result<Vec<Interface>, ApiError> {
    let vmid = g.vmid.to_string();
    if g.kind == "qemu" {
        let data = pve::get(&["nodes", &g.node, "qemu", &vmid, "agent", "network-get-interfaces"], &Value::Null)?;
        return Ok(items(&data["result"])
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
            .collect());
    }
    let data = pve::get(&["nodes", &g.node, "lxc", &vmid, "interfaces"], &Value::Null)?;
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

/// `10.0.0.5/24` without its prefix.
pub fn bare(cidr: &str) -> &str {
    cidr.split('/').next().unwrap_or(cidr)
}

/// The first global IPv4 (else IPv6) address outside loopback and
/// link-local, without prefix: the best guess at where to reach the guest.
pub fn primary_ip(interfaces: &[Interface]) -> Option<String> {
    let global = |ip: &&String| {
        let b = bare(ip);
        !(b.starts_with("127.") || b == "::1" || b.starts_with("fe80:") || b.starts_with("169.254."))
    };
    interfaces
        .iter()
        .filter(|i| i.name != "lo")
        .find_map(|i| i.ipv4.iter().find(global).or_else(|| i.ipv6.iter().find(global)))
        .map(|ip| bare(ip).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn iface(name: &str, v4: &[&str], v6: &[&str]) -> Interface {
        Interface {
            name: name.into(),
            mac: None,
            ipv4: v4.iter().map(|s| s.to_string()).collect(),
            ipv6: v6.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn the_primary_address_skips_loopback_and_link_local() {
        let list = [
            iface("lo", &["127.0.0.1/8"], &["::1/128"]),
            iface("eth0", &["169.254.1.1/16"], &["fe80::1/64", "2001:db8::5/64"]),
            iface("eth1", &["10.0.0.5/24"], &[]),
        ];
        assert_eq!(primary_ip(&list).as_deref(), Some("2001:db8::5"));
        assert_eq!(primary_ip(&list[..1]), None);
    }

    #[test]
    fn agent_settings_in_both_spellings_count_as_enabled() {
        assert!(agent_enabled(&json!({"agent": "1"})));
        assert!(agent_enabled(&json!({"agent": "enabled=1,fstrim_cloned_disks=1"})));
        assert!(agent_enabled(&json!({"agent": 1})));
        assert!(!agent_enabled(&json!({"agent": "0"})));
        assert!(!agent_enabled(&json!({})));
    }
}
