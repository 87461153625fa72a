//! `POST .../status/{action}`: start, stop, shutdown, reboot, reset,
//! suspend and resume as tasks; a (re)start applies pending changes.

use super::config::memory_mib;
use super::*;
use crate::sim::params::{P, Ty, opt, truthy};
use crate::sim::seed::GuestType;
use crate::sim::state::Cluster;

pub(super) static ROUTES: &[Route] = &[(
    "POST",
    "/nodes/{node}/{kind:qemu|lxc}/{vmid}/status/{action:start|stop|shutdown|reboot|reset|suspend|resume}",
    "{action} the {kind} (a task).",
    status,
)];

fn status(x: &mut Ctx<'_>) -> R {
    let qemu = x.kind() == GuestType::Qemu;
    let spec: &[P] = match (x.var("action"), qemu) {
        ("start", true) => &[opt("skiplock", Ty::Bool), opt("timeout", Ty::Int(0, i64::MAX))],
        ("start", false) => &[opt("debug", Ty::Bool), opt("skiplock", Ty::Bool)],
        ("stop", _) => &[
            opt("skiplock", Ty::Bool),
            opt("timeout", Ty::Int(0, i64::MAX)),
            opt("keepActive", Ty::Bool),
            opt("overrule-shutdown", Ty::Bool),
        ],
        ("shutdown", _) => &[
            opt("forceStop", Ty::Bool),
            opt("timeout", Ty::Int(0, i64::MAX)),
            opt("keepActive", Ty::Bool),
            opt("skiplock", Ty::Bool),
        ],
        ("reboot", _) => &[opt("timeout", Ty::Int(0, i64::MAX))],
        ("reset", true) => &[opt("skiplock", Ty::Bool)],
        ("suspend", true) => &[opt("todisk", Ty::Bool), opt("skiplock", Ty::Bool), opt("statestorage", Ty::Str)],
        ("suspend", false) | ("resume", false) => &[],
        ("resume", true) => &[opt("skiplock", Ty::Bool), opt("nocheck", Ty::Bool)],
        _ => return Err(x.not_implemented()),
    };
    check(x.params, spec)?;
    power(x)
}

/// A (re)start: as in PVE, pending changes take effect when the guest
/// starts again.
fn start_applying_pending(vmid: u32) -> crate::sim::state::Effect {
    Box::new(move |c: &mut Cluster| {
        let g = c.guests.get_mut(&vmid).ok_or("guest vanished")?;
        let pending = std::mem::take(&mut g.pending);
        for (key, value) in pending {
            match key.as_str() {
                "cores" => g.cores = value.parse().map_err(|_| "bad pending cores")?,
                "memory" => g.memory_mib = memory_mib(&value).map_err(|_| "bad pending memory")?,
                _ => {
                    g.config.insert(key, value);
                }
            }
        }
        g.status = "running".into();
        Ok(())
    })
}

fn power(x: &mut Ctx<'_>) -> R {
    let action = x.var("action");
    let (world, c, node, kind, vmid, params, caller) = x.parts();
    let g = &c.guests[&vmid];
    let label = kind.label();
    if !truthy(params, "skiplock") {
        locked(g)?;
    }
    if g.template && action == "start" {
        return Err(fail(500, "you can't start a vm if it's a template"));
    }
    let running = guest_running(g);
    let (target, secs): (&'static str, f64) = match action {
        "start" if running => return Err(fail(500, format!("{label} {vmid} already running"))),
        "start" => ("running", 2.0),
        "stop" | "shutdown" | "reboot" | "reset" | "suspend" if !running => {
            return Err(fail(500, format!("{label} {vmid} not running")));
        }
        "stop" => ("stopped", 1.0),
        "shutdown" => ("stopped", 4.0),
        "reboot" | "reset" => ("running", 5.0),
        "suspend" if truthy(params, "todisk") => ("stopped", 6.0),
        "suspend" => ("paused", 1.0),
        "resume" if g.status != "paused" => {
            return Err(fail(500, format!("{label} {vmid} not paused")));
        }
        "resume" => ("running", 1.0),
        _ => return Err(fail(501, format!("Method 'POST status/{action}' not implemented"))),
    };
    let mut steps = vec![(secs, format!("{action} {label} {vmid}"))];
    if action == "suspend" && truthy(params, "todisk") {
        steps.insert(0, (secs / 2.0, "saving VM state and RAM to storage 'local-lvm'".into()));
    }
    let effect = match action {
        "start" | "reboot" | "reset" => start_applying_pending(vmid),
        _ => set_status(vmid, target),
    };
    guest_task(world, c, Job { node, kind: task_kind(kind, action), vmid, caller, steps, lock: None, effect })
}
