//! `pve_wait_for_guest`: waits, with MCP progress, until a guest's agent
//! answers or it has an address, so a provisioning flow can go on to use
//! it without polling by hand.

use std::time::Instant;

use proxmcp_sdk::guest::{Located, OnGuest};
use proxmcp_sdk::network::{self, AGENT_HINT};
use proxmcp_sdk::{Answer, Router, ToolError, progress, pve};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The requests this file's tools send.
pub const GRANTS: &[&str] = &[
    "GET /nodes/{node}/qemu/{vmid}/config",
    "GET /nodes/{node}/qemu/{vmid}/agent/info",
    "GET /nodes/{node}/qemu/{vmid}/agent/network-get-interfaces",
    "GET /nodes/{node}/lxc/{vmid}/interfaces",
];

/// Pause between checks.
const POLL_MS: u32 = 2_000;

pub fn router() -> Router {
    Router::new().read(
        "pve_wait_for_guest",
        "Wait for guest",
        "Wait with progress until a guest's agent answers (until=agent) or it has an address (until=ip).",
        wait,
    )
}

#[derive(Deserialize, JsonSchema, Clone, Copy, PartialEq)]
#[serde(rename_all = "lowercase")]
enum Until {
    /// QEMU: the guest agent answers; LXC: the container runs.
    Agent,
    /// A global IPv4 or IPv6 address appears.
    Ip,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Args {
    until: Until,
    /// Seconds to wait at most (default 120, at most 1800; the call's own
    /// deadline may end it sooner).
    #[schemars(range(min = 1, max = 1800))]
    timeout_s: Option<u32>,
}

#[derive(Serialize, JsonSchema)]
struct Waited {
    ready: bool,
    waited_s: u64,
    primary_ip: Option<String>,
    /// What the last check saw, when not ready.
    #[serde(skip_serializing_if = "Option::is_none")]
    last_seen: Option<String>,
}

/// One check: `Ok(Some(ip or ""))` when ready, `Ok(None)` with what was
/// seen in `seen`, `Err` when waiting cannot help.
fn check(g: &Located, until: Until, seen: &mut String) -> Result<Option<Option<String>>, ToolError> {
    let vmid = g.vmid.to_string();
    if g.kind == "qemu" && until == Until::Agent {
        return match pve::get(&["nodes", &g.node, "qemu", &vmid, "agent", "info"], &Value::Null) {
            Ok(_) => Ok(Some(None)),
            Err(e) => match network::agent_silence(&e) {
                Some(why) => {
                    *seen = format!("the agent does not answer yet ({why})");
                    Ok(None)
                }
                None => Err(e.into()),
            },
        };
    }
    match network::interfaces(g) {
        Ok(list) => match network::primary_ip(&list) {
            Some(ip) => Ok(Some(Some(ip))),
            None if until == Until::Agent => Ok(Some(None)),
            None => {
                *seen = "no global address yet".into();
                Ok(None)
            }
        },
        Err(e) => {
            let why = e.to_string();
            // A guest that is not running (yet), or an agent still starting.
            if network::agent_silence(&e).is_some() || why.contains("not running") {
                *seen = format!("not reachable yet ({why})");
                Ok(None)
            } else {
                Err(e.into())
            }
        }
    }
}

fn wait(a: OnGuest<Args>) -> Result<Answer<Waited>, ToolError> {
    let timeout = u64::from(a.args.timeout_s.unwrap_or(120));
    if !(1..=1800).contains(&timeout) {
        return Err(ToolError::InvalidArguments(format!(
            "timeout_s {timeout} is out of range: wait between 1 and 1800 seconds, and call again to wait longer"
        )));
    }
    let until = a.args.until;
    let g = a.locate()?;
    if g.kind == "qemu" {
        // Waiting cannot make a disabled agent answer.
        network::require_agent(&g)?;
    }
    let what = match until {
        Until::Agent if g.kind == "qemu" => "its guest agent to answer",
        Until::Agent => "it to run",
        Until::Ip => "an address",
    };
    let started = Instant::now();
    let mut seen = String::new();
    loop {
        let waited = started.elapsed().as_secs();
        if let Some(ip) = check(&g, until, &mut seen)? {
            let summary = match &ip {
                Some(ip) => format!("{g} is ready after {waited}s, address {ip}"),
                None => format!("{g} is ready after {waited}s"),
            };
            return Ok(Answer::new(Waited { ready: true, waited_s: waited, primary_ip: ip, last_seen: None }, summary));
        }
        let u32_of = |n: u64| u32::try_from(n).unwrap_or(u32::MAX);
        progress::report(u32_of(waited), u32_of(timeout), &format!("waiting for {what} of {g}: {seen}"));
        let left_ms = (timeout * 1000).saturating_sub(started.elapsed().as_millis() as u64);
        if left_ms == 0 || !progress::pause(POLL_MS.min(u32_of(left_ms))) {
            let waited = started.elapsed().as_secs();
            let hint =
                if g.kind == "qemu" && until == Until::Agent { format!("; {AGENT_HINT}") } else { String::new() };
            let summary =
                format!("{g} is not ready after {waited}s: {seen}; start it if it is stopped, or wait longer{hint}");
            return Ok(Answer::new(
                Waited { ready: false, waited_s: waited, primary_ip: None, last_seen: Some(seen) },
                summary,
            ));
        }
    }
}
