//! The lifecycle plugin: power, snapshots, migration and backups.
//!
//! Every tool takes a vmid (node and type are found by the host), writes
//! only with `confirm: true` (the host refuses otherwise and says what the
//! call would do), lists its exact requests with `dry_run: true`, and waits
//! for the Proxmox task through the host, which reports progress to the
//! client.

use proxmcp_sdk::guest::{Located, locate};
use proxmcp_sdk::write::{DEFAULT_WAIT_MS, Writes, task_output, task_output_schema};
use proxmcp_sdk::{Hints, Method, Output, Plugin, ToolDef, ToolError, parse_write_args, pve};
use serde::Deserialize;
use serde_json::{Map, Value, json};

struct Lifecycle;

/// Properties every lifecycle tool takes.
fn base_props() -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("vmid".into(), json!({"type": "integer", "minimum": 100}));
    m.insert("node".into(), json!({"type": "string", "description": "Optional; found from vmid."}));
    m.insert("type".into(), json!({"type": "string", "enum": ["qemu", "lxc"]}));
    m.insert("dry_run".into(), json!({"type": "boolean", "description": "List the requests without sending them."}));
    m.insert("confirm".into(), json!({"type": "boolean", "description": "Must be true to act; ask the user first."}));
    m
}

fn tool(name: &str, title: &str, description: &str, extra: Value, required: &[&str], hints: Hints) -> ToolDef {
    let mut props = base_props();
    if let Value::Object(more) = extra {
        props.extend(more);
    }
    let mut req = vec!["vmid"];
    req.extend_from_slice(required);
    ToolDef::new(
        name,
        description,
        json!({"type": "object", "properties": props, "required": req, "additionalProperties": false}),
    )
    .title(title)
    .output_schema(task_output_schema())
    .hints(hints)
}

const SNAPNAME: &str = "Snapshot name: a letter, then letters, digits, '-' or '_'.";

impl Plugin for Lifecycle {
    fn tools() -> Vec<ToolDef> {
        let destructive = Hints::DESTRUCTIVE;
        let write = Hints::WRITE;
        vec![
            tool("pve_start_vm", "Start VM", "Start a VM or container.", json!({}), &[], write),
            tool(
                "pve_shutdown_vm",
                "Shut down VM",
                "Shut a guest down cleanly (ACPI / init); force_stop stops it when the timeout passes.",
                json!({"timeout": {"type": "integer", "minimum": 0, "description": "Seconds to wait."}, "force_stop": {"type": "boolean"}}),
                &[],
                write,
            ),
            tool("pve_stop_vm", "Stop VM", "Stop a guest at once, like pulling the plug.", json!({}), &[], destructive),
            tool("pve_reboot_vm", "Reboot VM", "Reboot a guest cleanly.", json!({}), &[], write),
            tool(
                "pve_suspend_vm",
                "Suspend VM",
                "Pause a guest; QEMU VMs can suspend to disk (hibernate).",
                json!({"to_disk": {"type": "boolean", "description": "QEMU only: save RAM to storage and stop."}}),
                &[],
                write,
            ),
            tool("pve_resume_vm", "Resume VM", "Resume a paused guest.", json!({}), &[], write),
            tool(
                "pve_create_snapshot",
                "Create snapshot",
                "Take a snapshot of a guest.",
                json!({"snapname": {"type": "string", "description": SNAPNAME}, "description": {"type": "string"},
                       "vmstate": {"type": "boolean", "description": "QEMU only: include RAM."}}),
                &["snapname"],
                write,
            ),
            tool(
                "pve_delete_snapshot",
                "Delete snapshot",
                "Delete a snapshot of a guest.",
                json!({"snapname": {"type": "string"}}),
                &["snapname"],
                destructive,
            ),
            tool(
                "pve_rollback_snapshot",
                "Roll back to snapshot",
                "Roll a guest back to a snapshot, losing changes made since.",
                json!({"snapname": {"type": "string"}, "start": {"type": "boolean", "description": "Start the guest afterwards."}}),
                &["snapname"],
                destructive,
            ),
            tool(
                "pve_migrate_vm",
                "Migrate VM",
                "Move a guest to another node; running guests need online (QEMU) or are restarted (LXC). QEMU is checked first.",
                json!({"target": {"type": "string"}, "online": {"type": "boolean"}, "with_local_disks": {"type": "boolean"},
                       "target_storage": {"type": "string"}}),
                &["target"],
                write,
            ),
            tool(
                "pve_backup_vm",
                "Back up VM",
                "Back up a guest with vzdump.",
                json!({"storage": {"type": "string"}, "mode": {"type": "string", "enum": ["snapshot", "suspend", "stop"]},
                       "compress": {"type": "string", "enum": ["0", "gzip", "lzo", "zstd"]}, "notes": {"type": "string"}}),
                &[],
                write,
            ),
        ]
    }

    fn call(name: &str, args: Value) -> Result<Output, ToolError> {
        let mut writes = Writes::from_args(&args);
        match name {
            "pve_start_vm" => power(args, &mut writes, "start"),
            "pve_shutdown_vm" => power(args, &mut writes, "shutdown"),
            "pve_stop_vm" => power(args, &mut writes, "stop"),
            "pve_reboot_vm" => power(args, &mut writes, "reboot"),
            "pve_suspend_vm" => power(args, &mut writes, "suspend"),
            "pve_resume_vm" => power(args, &mut writes, "resume"),
            "pve_create_snapshot" => create_snapshot(args, &mut writes),
            "pve_delete_snapshot" => delete_snapshot(args, &mut writes),
            "pve_rollback_snapshot" => rollback_snapshot(args, &mut writes),
            "pve_migrate_vm" => migrate(args, &mut writes),
            "pve_backup_vm" => backup(args, &mut writes),
            other => Err(ToolError::UnknownTool(other.to_string())),
        }
    }
}

proxmcp_sdk::plugin! {
    plugin: Lifecycle,
    name: "lifecycle",
    description: "Power, snapshots, migration and backups (writes need confirm=true)",
    grants: [
        "POST /nodes/{node}/qemu/{vmid}/status/*",
        "POST /nodes/{node}/lxc/{vmid}/status/*",
        "POST /nodes/{node}/qemu/{vmid}/snapshot",
        "POST /nodes/{node}/lxc/{vmid}/snapshot",
        "DELETE /nodes/{node}/qemu/{vmid}/snapshot/{snapname}",
        "DELETE /nodes/{node}/lxc/{vmid}/snapshot/{snapname}",
        "POST /nodes/{node}/qemu/{vmid}/snapshot/{snapname}/rollback",
        "POST /nodes/{node}/lxc/{vmid}/snapshot/{snapname}/rollback",
        "GET /nodes/{node}/qemu/{vmid}/migrate",
        "POST /nodes/{node}/qemu/{vmid}/migrate",
        "POST /nodes/{node}/lxc/{vmid}/migrate",
        "POST /nodes/{node}/vzdump",
    ],
}

/// The common arguments, read from any lifecycle tool's arguments.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    vmid: u32,
    node: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    // Tool-specific; each tool checks which apply to it.
    timeout: Option<u64>,
    force_stop: Option<bool>,
    to_disk: Option<bool>,
    snapname: Option<String>,
    description: Option<String>,
    vmstate: Option<bool>,
    start: Option<bool>,
    target: Option<String>,
    online: Option<bool>,
    with_local_disks: Option<bool>,
    target_storage: Option<String>,
    storage: Option<String>,
    mode: Option<String>,
    compress: Option<String>,
    notes: Option<String>,
}

impl Args {
    fn parse(args: Value) -> Result<(Args, Located), ToolError> {
        let a: Args = parse_write_args(args)?;
        let g = locate(a.vmid, a.node.as_deref(), a.kind.as_deref())?;
        Ok((a, g))
    }

    fn snapname(&self) -> Result<&str, ToolError> {
        self.snapname.as_deref().ok_or_else(|| ToolError::InvalidArguments("snapname is required".into()))
    }
}

fn who(g: &Located) -> String {
    format!("{} {} on {}", g.label(), g.vmid, g.node)
}

/// Sends (or plans) one write that returns a UPID, then waits for the task.
fn act(
    writes: &mut Writes,
    g: &Located,
    method: Method,
    path: &[&str],
    params: Value,
    what: String,
    extra: Value,
) -> Result<Output, ToolError> {
    match writes.send(method, path, &params)? {
        None => Ok(std::mem::take(writes).dry_run_output(&what, extra)),
        Some(upid) => {
            let upid =
                upid.as_str().ok_or_else(|| ToolError::Other(format!("Proxmox answered without a task id: {upid}")))?;
            task_output(&g.node, upid, &what, DEFAULT_WAIT_MS)
        }
    }
}

fn power(args: Value, writes: &mut Writes, action: &str) -> Result<Output, ToolError> {
    let (a, g) = Args::parse(args)?;
    let mut params = Map::new();
    match action {
        "shutdown" => {
            if let Some(t) = a.timeout {
                params.insert("timeout".into(), json!(t));
            }
            if let Some(f) = a.force_stop {
                params.insert("forceStop".into(), json!(f));
            }
        }
        "suspend" if a.to_disk == Some(true) => {
            if g.kind != "qemu" {
                return Err(ToolError::InvalidArguments("to_disk works for QEMU VMs only".into()));
            }
            params.insert("todisk".into(), json!(true));
        }
        _ => {}
    }
    let vmid = g.vmid.to_string();
    let path = ["nodes", g.node.as_str(), g.kind, vmid.as_str(), "status", action];
    act(writes, &g, Method::Post, &path, Value::Object(params), format!("{action} {}", who(&g)), json!({}))
}

fn create_snapshot(args: Value, writes: &mut Writes) -> Result<Output, ToolError> {
    let (a, g) = Args::parse(args)?;
    let snapname = a.snapname()?;
    let mut params = json!({"snapname": snapname});
    if let Some(d) = &a.description {
        params["description"] = json!(d);
    }
    if a.vmstate == Some(true) {
        if g.kind != "qemu" {
            return Err(ToolError::InvalidArguments("vmstate works for QEMU VMs only".into()));
        }
        params["vmstate"] = json!(true);
    }
    let vmid = g.vmid.to_string();
    let path = ["nodes", g.node.as_str(), g.kind, vmid.as_str(), "snapshot"];
    act(writes, &g, Method::Post, &path, params, format!("snapshot {} as {snapname:?}", who(&g)), json!({}))
}

fn delete_snapshot(args: Value, writes: &mut Writes) -> Result<Output, ToolError> {
    let (a, g) = Args::parse(args)?;
    let snapname = a.snapname()?;
    let vmid = g.vmid.to_string();
    let path = ["nodes", g.node.as_str(), g.kind, vmid.as_str(), "snapshot", snapname];
    act(writes, &g, Method::Delete, &path, json!({}), format!("delete snapshot {snapname:?} of {}", who(&g)), json!({}))
}

fn rollback_snapshot(args: Value, writes: &mut Writes) -> Result<Output, ToolError> {
    let (a, g) = Args::parse(args)?;
    let snapname = a.snapname()?;
    let params = if a.start == Some(true) { json!({"start": true}) } else { json!({}) };
    let vmid = g.vmid.to_string();
    let path = ["nodes", g.node.as_str(), g.kind, vmid.as_str(), "snapshot", snapname, "rollback"];
    act(writes, &g, Method::Post, &path, params, format!("roll {} back to {snapname:?}", who(&g)), json!({}))
}

fn migrate(args: Value, writes: &mut Writes) -> Result<Output, ToolError> {
    let (a, g) = Args::parse(args)?;
    let target =
        a.target.clone().ok_or_else(|| ToolError::InvalidArguments("target (a node name) is required".into()))?;
    let vmid = g.vmid.to_string();
    let mut extra = json!({});
    let mut params = json!({"target": target});
    if g.kind == "qemu" {
        // Preflight: PVE says which nodes can take the VM and what holds it.
        let check = pve::get(&["nodes", &g.node, "qemu", &vmid, "migrate"], &json!({"target": target}))?;
        let allowed: Vec<&str> =
            check["allowed_nodes"].as_array().map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
        if check.get("allowed_nodes").is_some() && !allowed.contains(&target.as_str()) {
            return Err(ToolError::InvalidArguments(format!(
                "Proxmox will not migrate {} to {target:?}; allowed targets: {}",
                who(&g),
                if allowed.is_empty() { "none".to_string() } else { allowed.join(", ") }
            )));
        }
        let local: Vec<&str> = check["local_resources"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if !local.is_empty() {
            return Err(ToolError::InvalidArguments(format!(
                "{} uses local resources ({}) that prevent migration",
                who(&g),
                local.join(", ")
            )));
        }
        extra = json!({"preflight": {"running": check["running"] == json!(1) || check["running"] == json!(true),
                                     "local_disks": check["local_disks"].as_array().map_or(0, Vec::len)}});
        if a.online == Some(true) {
            params["online"] = json!(true);
        }
        if a.with_local_disks == Some(true) {
            params["with-local-disks"] = json!(true);
        }
        if let Some(s) = &a.target_storage {
            params["targetstorage"] = json!(s);
        }
    } else {
        if a.online == Some(true) {
            params["restart"] = json!(true);
        }
        if let Some(s) = &a.target_storage {
            params["target-storage"] = json!(s);
        }
    }
    let path = ["nodes", g.node.as_str(), g.kind, vmid.as_str(), "migrate"];
    act(writes, &g, Method::Post, &path, params, format!("migrate {} to {target}", who(&g)), extra)
}

fn backup(args: Value, writes: &mut Writes) -> Result<Output, ToolError> {
    let (a, g) = Args::parse(args)?;
    let mut params = json!({"vmid": g.vmid.to_string()});
    params["storage"] = json!(a.storage.clone().unwrap_or_else(|| "local".into()));
    if let Some(m) = &a.mode {
        params["mode"] = json!(m);
    }
    if let Some(c) = &a.compress {
        params["compress"] = json!(c);
    }
    if let Some(n) = &a.notes {
        params["notes-template"] = json!(n);
    }
    let path = ["nodes", g.node.as_str(), "vzdump"];
    act(writes, &g, Method::Post, &path, params, format!("back up {}", who(&g)), json!({}))
}
