//! The provisioning plugin: clone, create, delete, resize, configure and
//! restore guests. Every write needs `confirm: true` (enforced by the host)
//! and `dry_run: true` lists the exact requests instead of sending them.

use proxmcp_sdk::guest::{Located, locate};
use proxmcp_sdk::write::{DEFAULT_WAIT_MS, Writes, task_output, task_output_schema};
use proxmcp_sdk::{Hints, Method, Output, Plugin, ToolDef, ToolError, parse_write_args, pve};
use serde::Deserialize;
use serde_json::{Map, Value, json};

struct Provisioning;

/// Config keys `pve_set_vm_config` may change: the everyday ones, checked
/// here so a typo is an error rather than a 400 from Proxmox.
const QEMU_KEYS: &[&str] = &[
    "name",
    "cores",
    "sockets",
    "memory",
    "balloon",
    "cpu",
    "description",
    "tags",
    "onboot",
    "agent",
    "ostype",
    "boot",
    "net0",
    "net1",
    "ide2",
    "ciuser",
    "cipassword",
];
const LXC_KEYS: &[&str] = &["hostname", "cores", "memory", "swap", "description", "tags", "onboot", "net0", "net1"];

fn schema(props: Value, required: &[&str]) -> Value {
    let mut p = props.as_object().cloned().unwrap_or_default();
    p.insert("dry_run".into(), json!({"type": "boolean", "description": "List the requests without sending them."}));
    p.insert("confirm".into(), json!({"type": "boolean", "description": "Must be true to act; ask the user first."}));
    json!({"type": "object", "properties": p, "required": required, "additionalProperties": false})
}

fn def(name: &str, title: &str, description: &str, props: Value, required: &[&str], hints: Hints) -> ToolDef {
    ToolDef::new(name, description, schema(props, required))
        .title(title)
        .output_schema(task_output_schema())
        .hints(hints)
}

impl Plugin for Provisioning {
    fn tools() -> Vec<ToolDef> {
        let guest = json!({"vmid": {"type": "integer", "minimum": 100}, "node": {"type": "string"}, "type": {"type": "string", "enum": ["qemu", "lxc"]}});
        let with = |extra: Value| {
            let mut g = guest.clone();
            if let (Some(g), Value::Object(e)) = (g.as_object_mut(), extra) {
                g.extend(e);
            }
            g
        };
        vec![
            def(
                "pve_clone_vm",
                "Clone VM",
                "Clone a VM or container (full, or linked from a template); the new vmid defaults to the next free one.",
                with(
                    json!({"newid": {"type": "integer", "minimum": 100}, "name": {"type": "string"}, "full": {"type": "boolean"},
                            "target_node": {"type": "string"}, "target_storage": {"type": "string"}, "pool": {"type": "string"},
                            "description": {"type": "string"}}),
                ),
                &["vmid"],
                Hints::WRITE,
            ),
            def(
                "pve_create_qemu_vm",
                "Create QEMU VM",
                "Create a QEMU VM with one disk and one NIC; the vmid defaults to the next free one.",
                json!({"node": {"type": "string"}, "vmid": {"type": "integer", "minimum": 100}, "name": {"type": "string"},
                       "cores": {"type": "integer", "minimum": 1}, "memory_mib": {"type": "integer", "minimum": 16},
                       "disk_gib": {"type": "integer", "minimum": 1}, "storage": {"type": "string"}, "iso": {"type": "string", "description": "Volume id of an ISO, e.g. local:iso/debian.iso."},
                       "ostype": {"type": "string"}, "bridge": {"type": "string"}, "start": {"type": "boolean"}, "pool": {"type": "string"}}),
                &["node", "name"],
                Hints::WRITE,
            ),
            def(
                "pve_create_lxc",
                "Create container",
                "Create an LXC container from a template; the vmid defaults to the next free one.",
                json!({"node": {"type": "string"}, "vmid": {"type": "integer", "minimum": 100}, "hostname": {"type": "string"},
                       "ostemplate": {"type": "string", "description": "e.g. local:vztmpl/debian-13-standard_13.1-1_amd64.tar.zst"},
                       "cores": {"type": "integer", "minimum": 1}, "memory_mib": {"type": "integer", "minimum": 16},
                       "disk_gib": {"type": "integer", "minimum": 1}, "storage": {"type": "string"}, "bridge": {"type": "string"},
                       "ssh_public_keys": {"type": "string"}, "unprivileged": {"type": "boolean"}, "start": {"type": "boolean"}, "pool": {"type": "string"}}),
                &["node", "hostname", "ostemplate"],
                Hints::WRITE,
            ),
            def(
                "pve_delete_vm",
                "Delete VM",
                "Delete a stopped VM or container and its disks.",
                with(
                    json!({"purge": {"type": "boolean", "description": "Also remove it from backup jobs, HA and replication."},
                            "destroy_unreferenced_disks": {"type": "boolean"}}),
                ),
                &["vmid"],
                Hints::DESTRUCTIVE,
            ),
            def(
                "pve_resize_disk",
                "Resize disk",
                "Grow a guest's disk, e.g. size \"+10G\". Shrinking is not possible.",
                with(
                    json!({"disk": {"type": "string", "description": "e.g. scsi0, virtio0, rootfs; default the boot disk."},
                            "size": {"type": "string", "pattern": "^\\+[0-9]+(\\.[0-9]+)?[KMGT]$"}}),
                ),
                &["vmid", "size"],
                Hints::WRITE,
            ),
            def(
                "pve_set_vm_config",
                "Set VM config",
                "Change configuration keys and delete others; the current digest is sent so a concurrent change is not overwritten. dry_run shows current and new values.",
                with(
                    json!({"set": {"type": "object", "additionalProperties": {"type": ["string", "integer", "boolean"]}},
                            "delete": {"type": "array", "items": {"type": "string"}}}),
                ),
                &["vmid"],
                Hints::WRITE,
            ),
            def(
                "pve_restore_backup",
                "Restore backup",
                "Restore a vzdump backup to a free vmid (default the next free one); overwriting an existing guest needs force=true.",
                json!({"archive": {"type": "string", "description": "Backup volume id (see pve_list_backups)."}, "vmid": {"type": "integer", "minimum": 100},
                       "node": {"type": "string"}, "storage": {"type": "string"}, "force": {"type": "boolean"}, "start": {"type": "boolean"}}),
                &["archive"],
                Hints::DESTRUCTIVE,
            ),
        ]
    }

    fn call(name: &str, args: Value) -> Result<Output, ToolError> {
        let mut writes = Writes::from_args(&args);
        match name {
            "pve_clone_vm" => clone(args, &mut writes),
            "pve_create_qemu_vm" => create_qemu(args, &mut writes),
            "pve_create_lxc" => create_lxc(args, &mut writes),
            "pve_delete_vm" => delete(args, &mut writes),
            "pve_resize_disk" => resize(args, &mut writes),
            "pve_set_vm_config" => set_config(args, &mut writes),
            "pve_restore_backup" => restore(args, &mut writes),
            other => Err(ToolError::UnknownTool(other.to_string())),
        }
    }
}

proxmcp_sdk::plugin! {
    plugin: Provisioning,
    name: "provisioning",
    description: "Clone, create, delete, resize, configure and restore guests (writes need confirm=true)",
    grants: [
        "GET /cluster/nextid",
        "GET /cluster/resources",
        "GET /nodes/{node}/qemu/{vmid}/config",
        "GET /nodes/{node}/lxc/{vmid}/config",
        "POST /nodes/{node}/qemu",
        "POST /nodes/{node}/lxc",
        "POST /nodes/{node}/qemu/{vmid}/clone",
        "POST /nodes/{node}/lxc/{vmid}/clone",
        "DELETE /nodes/{node}/qemu/{vmid}",
        "DELETE /nodes/{node}/lxc/{vmid}",
        "PUT /nodes/{node}/qemu/{vmid}/resize",
        "PUT /nodes/{node}/lxc/{vmid}/resize",
        "PUT /nodes/{node}/qemu/{vmid}/config",
        "PUT /nodes/{node}/lxc/{vmid}/config",
    ],
}

/// Answers a write: in a dry run the planned requests, else the task's end
/// (or, for a synchronous answer, `done`).
fn finish(writes: &mut Writes, node: &str, sent: Option<Value>, what: &str, extra: Value) -> Result<Output, ToolError> {
    match sent {
        None => Ok(std::mem::take(writes).dry_run_output(what, extra)),
        Some(Value::String(upid)) if upid.starts_with("UPID:") => task_output(node, &upid, what, DEFAULT_WAIT_MS),
        Some(_) => {
            let mut out = if extra.is_object() { extra } else { json!({}) };
            out["status"] = json!("ok");
            out["node"] = json!(node);
            Ok(Output::new(out, format!("{what}: done")))
        }
    }
}

fn next_vmid(given: Option<u32>) -> Result<u32, ToolError> {
    if let Some(v) = given {
        return Ok(v);
    }
    let v = pve::get(&["cluster", "nextid"], &Value::Null)?;
    v.as_u64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| ToolError::Other(format!("Proxmox answered /cluster/nextid with {v}, not a vmid")))
}

/// Adds the `start` and `pool` options every create request takes.
fn with_start_and_pool(p: &mut Value, start: Option<bool>, pool: Option<&str>) {
    if start == Some(true) {
        p["start"] = json!(true);
    }
    if let Some(pool) = pool {
        p["pool"] = json!(pool);
    }
}

fn who(g: &Located) -> String {
    format!("{} {} on {}", g.label(), g.vmid, g.node)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CloneArgs {
    vmid: u32,
    node: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    newid: Option<u32>,
    name: Option<String>,
    full: Option<bool>,
    target_node: Option<String>,
    target_storage: Option<String>,
    pool: Option<String>,
    description: Option<String>,
}

fn clone(args: Value, writes: &mut Writes) -> Result<Output, ToolError> {
    let a: CloneArgs = parse_write_args(args)?;
    let g = locate(a.vmid, a.node.as_deref(), a.kind.as_deref())?;
    let newid = next_vmid(a.newid)?;
    let mut p = json!({"newid": newid});
    if let Some(n) = &a.name {
        p[if g.kind == "qemu" { "name" } else { "hostname" }] = json!(n);
    }
    if let Some(f) = a.full {
        p["full"] = json!(f);
    }
    if let Some(t) = &a.target_node {
        p["target"] = json!(t);
    }
    if let Some(s) = &a.target_storage {
        p["storage"] = json!(s);
    }
    if let Some(pool) = &a.pool {
        p["pool"] = json!(pool);
    }
    if let Some(d) = &a.description {
        p["description"] = json!(d);
    }
    let vmid = g.vmid.to_string();
    let sent = writes.send(Method::Post, &["nodes", &g.node, g.kind, &vmid, "clone"], &p)?;
    finish(writes, &g.node, sent, &format!("clone {} to {newid}", who(&g)), json!({"newid": newid}))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateQemuArgs {
    node: String,
    vmid: Option<u32>,
    name: String,
    cores: Option<u32>,
    memory_mib: Option<u64>,
    disk_gib: Option<u64>,
    storage: Option<String>,
    iso: Option<String>,
    ostype: Option<String>,
    bridge: Option<String>,
    start: Option<bool>,
    pool: Option<String>,
}

fn create_qemu(args: Value, writes: &mut Writes) -> Result<Output, ToolError> {
    let a: CreateQemuArgs = parse_write_args(args)?;
    let vmid = next_vmid(a.vmid)?;
    let storage = a.storage.clone().unwrap_or_else(|| "local-lvm".into());
    let mut p = json!({
        "vmid": vmid, "name": a.name, "cores": a.cores.unwrap_or(2), "memory": a.memory_mib.unwrap_or(2048).to_string(),
        "scsihw": "virtio-scsi-single", "scsi0": format!("{storage}:{}", a.disk_gib.unwrap_or(32)),
        "net0": format!("virtio,bridge={}", a.bridge.clone().unwrap_or_else(|| "vmbr0".into())),
        "ostype": a.ostype.clone().unwrap_or_else(|| "l26".into()), "boot": "order=scsi0",
    });
    if let Some(iso) = &a.iso {
        p["ide2"] = json!(format!("{iso},media=cdrom"));
        p["boot"] = json!("order=scsi0;ide2");
    }
    with_start_and_pool(&mut p, a.start, a.pool.as_deref());
    let sent = writes.send(Method::Post, &["nodes", &a.node, "qemu"], &p)?;
    finish(writes, &a.node, sent, &format!("create VM {vmid} on {}", a.node), json!({"vmid": vmid}))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateLxcArgs {
    node: String,
    vmid: Option<u32>,
    hostname: String,
    ostemplate: String,
    cores: Option<u32>,
    memory_mib: Option<u64>,
    disk_gib: Option<u64>,
    storage: Option<String>,
    bridge: Option<String>,
    ssh_public_keys: Option<String>,
    unprivileged: Option<bool>,
    start: Option<bool>,
    pool: Option<String>,
}

fn create_lxc(args: Value, writes: &mut Writes) -> Result<Output, ToolError> {
    let a: CreateLxcArgs = parse_write_args(args)?;
    let vmid = next_vmid(a.vmid)?;
    let storage = a.storage.clone().unwrap_or_else(|| "local-lvm".into());
    let mut p = json!({
        "vmid": vmid, "hostname": a.hostname, "ostemplate": a.ostemplate, "cores": a.cores.unwrap_or(1),
        "memory": a.memory_mib.unwrap_or(512), "rootfs": format!("{storage}:{}", a.disk_gib.unwrap_or(8)),
        "net0": format!("name=eth0,bridge={},ip=dhcp", a.bridge.clone().unwrap_or_else(|| "vmbr0".into())),
        "unprivileged": a.unprivileged.unwrap_or(true),
    });
    if let Some(k) = &a.ssh_public_keys {
        p["ssh-public-keys"] = json!(k);
    }
    with_start_and_pool(&mut p, a.start, a.pool.as_deref());
    let sent = writes.send(Method::Post, &["nodes", &a.node, "lxc"], &p)?;
    finish(writes, &a.node, sent, &format!("create CT {vmid} on {}", a.node), json!({"vmid": vmid}))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeleteArgs {
    vmid: u32,
    node: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    purge: Option<bool>,
    destroy_unreferenced_disks: Option<bool>,
}

fn delete(args: Value, writes: &mut Writes) -> Result<Output, ToolError> {
    let a: DeleteArgs = parse_write_args(args)?;
    let g = locate(a.vmid, a.node.as_deref(), a.kind.as_deref())?;
    let mut p = json!({});
    if a.purge == Some(true) {
        p["purge"] = json!(true);
    }
    if a.destroy_unreferenced_disks == Some(true) {
        p["destroy-unreferenced-disks"] = json!(true);
    }
    let vmid = g.vmid.to_string();
    let sent = writes.send(Method::Delete, &["nodes", &g.node, g.kind, &vmid], &p)?;
    finish(writes, &g.node, sent, &format!("delete {}", who(&g)), json!({}))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResizeArgs {
    vmid: u32,
    node: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    disk: Option<String>,
    size: String,
}

/// Only `+N[KMGT]`: growing is the only safe resize.
fn valid_growth(size: &str) -> bool {
    let Some(rest) = size.strip_prefix('+') else { return false };
    let Some(unit) = rest.chars().last() else { return false };
    let number = &rest[..rest.len() - 1];
    "KMGT".contains(unit) && !number.is_empty() && number.parse::<f64>().is_ok_and(|n| n > 0.0)
}

fn resize(args: Value, writes: &mut Writes) -> Result<Output, ToolError> {
    let a: ResizeArgs = parse_write_args(args)?;
    if !valid_growth(&a.size) {
        return Err(ToolError::InvalidArguments(format!(
            "size {:?} must grow the disk, written as +10G (a plus sign, a number, and K, M, G or T); disks cannot shrink",
            a.size
        )));
    }
    let g = locate(a.vmid, a.node.as_deref(), a.kind.as_deref())?;
    let disk = a.disk.clone().unwrap_or_else(|| if g.kind == "qemu" { "scsi0".into() } else { "rootfs".into() });
    let vmid = g.vmid.to_string();
    let sent = writes.send(
        Method::Put,
        &["nodes", &g.node, g.kind, &vmid, "resize"],
        &json!({"disk": disk, "size": a.size}),
    )?;
    finish(writes, &g.node, sent, &format!("grow {disk} of {} by {}", who(&g), &a.size[1..]), json!({}))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigArgs {
    vmid: u32,
    node: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    set: Map<String, Value>,
    #[serde(default)]
    delete: Vec<String>,
}

fn set_config(args: Value, writes: &mut Writes) -> Result<Output, ToolError> {
    let a: ConfigArgs = parse_write_args(args)?;
    if a.set.is_empty() && a.delete.is_empty() {
        return Err(ToolError::InvalidArguments("nothing to change: pass set and/or delete".into()));
    }
    let g = locate(a.vmid, a.node.as_deref(), a.kind.as_deref())?;
    let allowed = if g.kind == "qemu" { QEMU_KEYS } else { LXC_KEYS };
    for key in a.set.keys().chain(a.delete.iter()) {
        if !allowed.contains(&key.as_str()) {
            return Err(ToolError::InvalidArguments(format!(
                "key {key:?} cannot be changed with this tool for a {} guest; allowed: {}",
                g.kind,
                allowed.join(", ")
            )));
        }
    }
    if let Some(k) = a.set.keys().find(|k| a.delete.contains(k)) {
        return Err(ToolError::InvalidArguments(format!("key {k:?} is both set and deleted; choose one")));
    }
    let vmid = g.vmid.to_string();
    let current = pve::get(&["nodes", &g.node, g.kind, &vmid, "config"], &Value::Null)?;
    let mut params = Map::new();
    let mut changes = Vec::new();
    for (k, v) in &a.set {
        let value = match v {
            Value::String(s) => json!(s),
            Value::Bool(b) => json!(b),
            Value::Number(n) => json!(n),
            other => {
                return Err(ToolError::InvalidArguments(format!(
                    "value of {k:?} must be a string, number or boolean, not {other}"
                )));
            }
        };
        let (was, now) = if proxmcp_sdk::write::is_secret_key(k) {
            (current.get(k).map(|_| json!("[redacted]")), json!("[redacted]"))
        } else {
            (current.get(k).cloned(), value.clone())
        };
        changes.push(json!({"key": k, "current": was, "new": now}));
        params.insert(k.clone(), value);
    }
    for k in &a.delete {
        let was = if proxmcp_sdk::write::is_secret_key(k) {
            current.get(k).map(|_| json!("[redacted]"))
        } else {
            current.get(k).cloned()
        };
        changes.push(json!({"key": k, "current": was, "new": null}));
    }
    if !a.delete.is_empty() {
        params.insert("delete".into(), json!(a.delete.join(",")));
    }
    if let Some(d) = current["digest"].as_str() {
        params.insert("digest".into(), json!(d));
    }
    let sent = writes.send(Method::Put, &["nodes", &g.node, g.kind, &vmid, "config"], &Value::Object(params))?;
    finish(writes, &g.node, sent, &format!("change {} keys of {}", changes.len(), who(&g)), json!({"changes": changes}))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RestoreArgs {
    archive: String,
    vmid: Option<u32>,
    node: Option<String>,
    storage: Option<String>,
    force: Option<bool>,
    start: Option<bool>,
}

fn restore(args: Value, writes: &mut Writes) -> Result<Output, ToolError> {
    let a: RestoreArgs = parse_write_args(args)?;
    let kind = if a.archive.contains("vzdump-lxc-") {
        "lxc"
    } else if a.archive.contains("vzdump-qemu-") {
        "qemu"
    } else {
        return Err(ToolError::InvalidArguments(format!(
            "{:?} is not a vzdump backup volume id (…vzdump-qemu-… or …vzdump-lxc-…); find one with pve_list_backups",
            a.archive
        )));
    };
    let vmid = next_vmid(a.vmid)?;
    let existing = pve::resolve_guest(vmid).ok();
    if let Some(e) = &existing
        && a.force != Some(true)
    {
        return Err(ToolError::InvalidArguments(format!(
            "guest {vmid} exists on {}; restoring over it destroys its disks. Pass force=true (with confirm=true) to overwrite, or omit vmid to restore to a free one",
            e.node
        )));
    }
    let node = match (&a.node, &existing) {
        (Some(n), _) => n.clone(),
        (None, Some(e)) => e.node.clone(),
        (None, None) => {
            let nodes = pve::get(&["cluster", "resources"], &json!({"type": "node"}))?;
            nodes
                .as_array()
                .and_then(|list| list.iter().find(|n| n["status"] == "online"))
                .and_then(|n| n["node"].as_str())
                .map(str::to_string)
                .ok_or_else(|| ToolError::Other("no online node to restore to; pass node".into()))?
        }
    };
    let mut p = if kind == "qemu" {
        json!({"vmid": vmid, "archive": a.archive})
    } else {
        json!({"vmid": vmid, "ostemplate": a.archive, "restore": true})
    };
    if let Some(s) = &a.storage {
        p["storage"] = json!(s);
    }
    if a.force == Some(true) && existing.is_some() {
        p["force"] = json!(true);
    }
    if a.start == Some(true) {
        p["start"] = json!(true);
    }
    let what = if existing.is_some() {
        format!("restore {} over existing guest {vmid} on {node}", a.archive)
    } else {
        format!("restore {} to new guest {vmid} on {node}", a.archive)
    };
    let sent = writes.send(Method::Post, &["nodes", &node, kind], &p)?;
    finish(writes, &node, sent, &what, json!({"vmid": vmid, "overwrites": existing.is_some()}))
}
