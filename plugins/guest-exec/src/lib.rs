//! The guest-exec plugin (opt-in): run a command in a QEMU VM through the
//! guest agent, wait for it, and return its exit code and capped output.
//! Never loaded in read-only mode; every run needs `confirm: true`.

use std::time::{Duration, Instant};

use proxmcp_sdk::guest::locate;
use proxmcp_sdk::write::{Plan, Writes, dry_run_text};
use proxmcp_sdk::{Answer, Hints, Method, Router, ToolError, pve};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// Most output bytes returned per stream.
const OUTPUT_CAP: usize = 16 * 1024;
const DEFAULT_TIMEOUT_SECS: u64 = 30;
const MAX_TIMEOUT_SECS: u64 = 300;

fn router() -> Router {
    Router::new().write(
        "pve_vm_exec",
        "Run command in VM",
        "Run a command in a QEMU VM through its guest agent and return exit code, stdout and stderr (each capped at 16 KiB).",
        Hints::DESTRUCTIVE,
        exec,
    )
}

proxmcp_sdk::plugin! {
    router: router,
    name: "guest-exec",
    description: "Run commands in QEMU VMs through the guest agent (opt-in; needs confirm=true)",
    grants: ["POST /nodes/{node}/qemu/{vmid}/agent/exec", "GET /nodes/{node}/qemu/{vmid}/agent/exec-status"],
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Args {
    #[schemars(range(min = 100))]
    vmid: u32,
    node: Option<String>,
    /// Program and arguments, e.g. ["uptime"].
    #[schemars(length(min = 1))]
    command: Vec<String>,
    /// Data for the command's stdin.
    input: Option<String>,
    #[schemars(range(min = 1, max = 300))]
    timeout_secs: Option<u64>,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
enum State {
    Exited,
    Running,
}

/// The command's end (or that it still runs), its output capped.
#[derive(Serialize, JsonSchema)]
struct Exec {
    status: State,
    pid: u64,
    exitcode: Option<i64>,
    stdout: String,
    stderr: String,
    stdout_truncated: bool,
    stderr_truncated: bool,
}

/// The run, or in a dry run the request that would start it.
#[derive(Serialize, JsonSchema)]
struct Ran {
    #[serde(flatten)]
    exec: Option<Exec>,
    #[serde(flatten)]
    plan: Plan,
}

fn cap(text: &str) -> (String, bool) {
    if text.len() <= OUTPUT_CAP {
        return (text.to_string(), false);
    }
    let mut end = OUTPUT_CAP;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    (text[..end].to_string(), true)
}

fn exec(a: Args, writes: &mut Writes) -> Result<Answer<Ran>, ToolError> {
    if a.command.is_empty() || a.command[0].is_empty() {
        return Err(ToolError::InvalidArguments("command needs at least the program name, e.g. [\"uptime\"]".into()));
    }
    let timeout = a.timeout_secs.unwrap_or(DEFAULT_TIMEOUT_SECS);
    if !(1..=MAX_TIMEOUT_SECS).contains(&timeout) {
        return Err(ToolError::InvalidArguments(format!("timeout_secs must be 1 to {MAX_TIMEOUT_SECS}")));
    }
    let g = locate(a.vmid, a.node.as_deref(), None)?;
    if g.kind != "qemu" {
        return Err(ToolError::InvalidArguments(format!(
            "guest {} is a container; pve_vm_exec works for QEMU VMs with the guest agent",
            a.vmid
        )));
    }
    let vmid = g.vmid.to_string();
    let mut params = json!({"command": a.command});
    if let Some(i) = &a.input {
        params["input-data"] = json!(i);
    }
    let what = format!("run {:?} in VM {} on {}", a.command.join(" "), g.vmid, g.node);
    let Some(started) = writes.send(Method::Post, &["nodes", &g.node, "qemu", &vmid, "agent", "exec"], &params)? else {
        return Ok(Answer::new(Ran { exec: None, plan: writes.take_plan() }, dry_run_text(&what)));
    };
    let pid = started["pid"]
        .as_u64()
        .ok_or_else(|| ToolError::Other(format!("the guest agent answered without a pid: {started}")))?;
    let deadline = Instant::now() + Duration::from_secs(timeout);
    let mut pause = Duration::from_millis(100);
    loop {
        let s = pve::get(&["nodes", &g.node, "qemu", &vmid, "agent", "exec-status"], &json!({"pid": pid}))?;
        let exited = s["exited"] == json!(1) || s["exited"] == json!(true);
        if exited {
            let (stdout, out_cut) = cap(s["out-data"].as_str().unwrap_or(""));
            let (stderr, err_cut) = cap(s["err-data"].as_str().unwrap_or(""));
            let code = s["exitcode"].as_i64();
            let exec = Exec {
                status: State::Exited,
                pid,
                exitcode: code,
                stdout,
                stderr,
                stdout_truncated: out_cut || s["out-truncated"] == json!(1),
                stderr_truncated: err_cut || s["err-truncated"] == json!(1),
            };
            // The command's output is guest-controlled: it stays in the data.
            let text = format!("command exited with code {}", code.map_or("?".into(), |c| c.to_string()));
            return Ok(Answer::new(Ran { exec: Some(exec), plan: Plan::default() }, text));
        }
        if Instant::now() >= deadline {
            let exec = Exec {
                status: State::Running,
                pid,
                exitcode: None,
                stdout: String::new(),
                stderr: String::new(),
                stdout_truncated: false,
                stderr_truncated: false,
            };
            let text = format!("command still running after {timeout}s (pid {pid})");
            return Ok(Answer::new(Ran { exec: Some(exec), plan: Plan::default() }, text));
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_secs(1));
    }
}
