//! Power tools: start, shut down, stop, reboot, suspend, resume.

use proxmcp_sdk::guest::{Located, OnGuest};
use proxmcp_sdk::write::{Nothing, Outcome, Writes};
use proxmcp_sdk::{Answer, Hints, Method, NoArgs, Router, ToolError};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value, json};

type Done = Result<Answer<Outcome>, ToolError>;

/// The requests this file's tools send.
pub const GRANTS: &[&str] = &["POST /nodes/{node}/qemu/{vmid}/status/*", "POST /nodes/{node}/lxc/{vmid}/status/*"];

pub fn router() -> Router {
    Router::new()
        .write("pve_start_vm", "Start VM", "Start a VM or container.", Hints::WRITE, simple("start"))
        .write(
            "pve_shutdown_vm",
            "Shut down VM",
            "Shut a guest down cleanly (ACPI / init); force_stop stops it when the timeout passes.",
            Hints::WRITE,
            shutdown,
        )
        .write(
            "pve_stop_vm",
            "Stop VM",
            "Stop a guest at once, like pulling the plug.",
            Hints::DESTRUCTIVE,
            simple("stop"),
        )
        .write("pve_reboot_vm", "Reboot VM", "Reboot a guest cleanly.", Hints::WRITE, simple("reboot"))
        .write(
            "pve_suspend_vm",
            "Suspend VM",
            "Pause a guest; QEMU VMs can suspend to disk (hibernate).",
            Hints::WRITE,
            suspend,
        )
        .write("pve_resume_vm", "Resume VM", "Resume a paused guest.", Hints::WRITE, simple("resume"))
}

/// Sends (or plans) `POST …/status/{action}` and waits for its task.
fn send(g: &Located, writes: &mut Writes, action: &str, params: Map<String, Value>) -> Done {
    let vmid = g.vmid.to_string();
    let path = ["nodes", g.node.as_str(), g.kind, vmid.as_str(), "status", action];
    let sent = writes.send(Method::Post, &path, &Value::Object(params))?;
    writes.finish(&g.node, sent, &format!("{action} {g}"), Nothing {})
}

/// A power action without options of its own.
fn simple(action: &'static str) -> impl Fn(OnGuest<NoArgs>, &mut Writes) -> Done {
    move |a, writes| send(&a.locate()?, writes, action, Map::new())
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ShutdownArgs {
    /// Seconds to wait.
    #[schemars(range(min = 0))]
    timeout: Option<u64>,
    force_stop: Option<bool>,
}

fn shutdown(a: OnGuest<ShutdownArgs>, writes: &mut Writes) -> Done {
    let g = a.locate()?;
    let mut params = Map::new();
    if let Some(t) = a.args.timeout {
        params.insert("timeout".into(), json!(t));
    }
    if let Some(f) = a.args.force_stop {
        params.insert("forceStop".into(), json!(f));
    }
    send(&g, writes, "shutdown", params)
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct SuspendArgs {
    /// QEMU only: save RAM to storage and stop.
    to_disk: Option<bool>,
}

fn suspend(a: OnGuest<SuspendArgs>, writes: &mut Writes) -> Done {
    let g = a.locate()?;
    let mut params = Map::new();
    if a.args.to_disk == Some(true) {
        if g.kind != "qemu" {
            return Err(ToolError::InvalidArguments("to_disk works for QEMU VMs only".into()));
        }
        params.insert("todisk".into(), json!(true));
    }
    send(&g, writes, "suspend", params)
}
