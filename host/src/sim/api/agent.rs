//! The QEMU guest agent: `exec` and `exec-status`.

use serde_json::json;

use super::*;
use crate::sim::params::{Params, Ty, first, opt, req};
use crate::sim::state::Cluster;

pub(super) static ROUTES: &[Route] = &[
    (
        "POST",
        "/nodes/{node}/{kind:qemu}/{vmid}/agent/exec",
        "Run a command inside the {kind} through its guest agent.",
        exec,
    ),
    (
        "GET",
        "/nodes/{node}/{kind:qemu}/{vmid}/agent/exec-status",
        "Output and exit code of a command run through the guest agent.",
        exec_status,
    ),
];

fn exec(x: &mut Ctx<'_>) -> R {
    check(x.params, &[req("command", Ty::Str), opt("input-data", Ty::Str)])?;
    agent_exec(x.c, x.vmid(), x.params)
}

fn exec_status(x: &mut Ctx<'_>) -> R {
    check(x.params, &[req("pid", Ty::Int(0, i64::MAX))])?;
    agent_exec_status(x.c, x.vmid(), x.params)
}

fn agent_exec(c: &mut Cluster, vmid: u32, params: &Params) -> R {
    let g = &c.guests[&vmid];
    if !g.agent || !guest_running(g) {
        return Err(fail(500, "QEMU guest agent is not running"));
    }
    let command: Vec<String> = params.get("command").cloned().unwrap_or_default();
    let pid = 1000 + c.tasks.len() as u64;
    let (out, code) = match command.first().map(String::as_str) {
        Some("hostname") => (format!("{}\n", g.name), 0),
        Some("echo") => (format!("{}\n", command[1..].join(" ")), 0),
        Some("uptime") => (" 10:00:00 up 10 days,  load average: 0.10, 0.12, 0.08\n".to_string(), 0),
        Some("yes") => ("y\n".repeat(200_000), 0),
        Some("false") => (String::new(), 1),
        Some(other) => (format!("sh: 1: {other}: not found\n"), 127),
        None => (String::new(), 0),
    };
    c.exec.insert(pid, (out, code));
    Ok(json!({"pid": pid}).into())
}

fn agent_exec_status(c: &mut Cluster, vmid: u32, params: &Params) -> R {
    let _ = vmid;
    let pid: u64 = first(params, "pid").and_then(|p| p.parse().ok()).unwrap_or_default();
    let Some((out, code)) = c.exec.get(&pid) else {
        return Err(fail(500, format!("Agent error: no such process ({pid})")));
    };
    let mut e = json!({"exited": 1, "exitcode": code});
    if code == &127 {
        e["err-data"] = json!(out);
    } else if !out.is_empty() {
        e["out-data"] = json!(out);
    }
    Ok(e.into())
}
