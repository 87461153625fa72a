//! The guest-exec plugin (opt-in): run a command in a QEMU VM through the
//! guest agent, wait for it, and return its exit code and capped output.
//! Never loaded in read-only mode; every run needs `confirm: true`.

use std::time::{Duration, Instant};

use proxmcp_sdk::guest::locate;
use proxmcp_sdk::write::Writes;
use proxmcp_sdk::{Hints, Method, Output, Plugin, ToolDef, ToolError, parse_write_args, pve};
use serde::Deserialize;
use serde_json::{Value, json};

/// Most output bytes returned per stream.
const OUTPUT_CAP: usize = 16 * 1024;
const DEFAULT_TIMEOUT_SECS: u64 = 30;
const MAX_TIMEOUT_SECS: u64 = 300;

struct GuestExec;

impl Plugin for GuestExec {
    fn tools() -> Vec<ToolDef> {
        vec![ToolDef::new(
            "pve_vm_exec",
            "Run a command in a QEMU VM through its guest agent and return exit code, stdout and stderr (each capped at 16 KiB).",
            json!({"type": "object", "properties": {
                "vmid": {"type": "integer", "minimum": 100}, "node": {"type": "string"},
                "command": {"type": "array", "items": {"type": "string"}, "minItems": 1, "description": "Program and arguments, e.g. [\"uptime\"]."},
                "input": {"type": "string", "description": "Data for the command's stdin."},
                "timeout_secs": {"type": "integer", "minimum": 1, "maximum": MAX_TIMEOUT_SECS},
                "dry_run": {"type": "boolean"}, "confirm": {"type": "boolean"}
            }, "required": ["vmid", "command"], "additionalProperties": false}),
        )
        .title("Run command in VM")
        .output_schema(json!({"type": "object", "properties": {
            "status": {"type": "string", "enum": ["exited", "running"]}, "pid": {"type": ["integer", "null"]},
            "exitcode": {"type": ["integer", "null"]}, "stdout": {"type": "string"}, "stderr": {"type": "string"},
            "stdout_truncated": {"type": "boolean"}, "stderr_truncated": {"type": "boolean"},
            "dry_run": {"type": "boolean"}, "requests": {"type": "array"}
        }}))
        .hints(Hints::DESTRUCTIVE)]
    }

    fn call(name: &str, args: Value) -> Result<Output, ToolError> {
        match name {
            "pve_vm_exec" => exec(args),
            other => Err(ToolError::UnknownTool(other.to_string())),
        }
    }
}

proxmcp_sdk::plugin! {
    plugin: GuestExec,
    name: "guest-exec",
    description: "Run commands in QEMU VMs through the guest agent (opt-in; needs confirm=true)",
    grants: ["POST /nodes/{node}/qemu/{vmid}/agent/exec", "GET /nodes/{node}/qemu/{vmid}/agent/exec-status"],
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    vmid: u32,
    node: Option<String>,
    command: Vec<String>,
    input: Option<String>,
    timeout_secs: Option<u64>,
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

fn exec(args: Value) -> Result<Output, ToolError> {
    let mut writes = Writes::from_args(&args);
    let a: Args = parse_write_args(args)?;
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
        return Ok(writes.dry_run_output(&what, json!({})));
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
            let out = json!({"status": "exited", "pid": pid, "exitcode": code, "stdout": stdout, "stderr": stderr,
                             "stdout_truncated": out_cut || s["out-truncated"] == json!(1),
                             "stderr_truncated": err_cut || s["err-truncated"] == json!(1)});
            // The command's output is guest-controlled: it stays in the data.
            return Ok(Output::new(
                out,
                format!("command exited with code {}", code.map_or("?".into(), |c| c.to_string())),
            ));
        }
        if Instant::now() >= deadline {
            return Ok(Output::new(
                json!({"status": "running", "pid": pid, "exitcode": null, "stdout": "", "stderr": "",
                       "stdout_truncated": false, "stderr_truncated": false}),
                format!("command still running after {timeout}s (pid {pid})"),
            ));
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_secs(1));
    }
}
