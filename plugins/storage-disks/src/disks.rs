//! A guest's disks as a whole: `pve_convert_to_template` and
//! `pve_move_disk`.

use proxmcp_sdk::guest::OnGuest;
use proxmcp_sdk::value::text;
use proxmcp_sdk::write::{Nothing, Outcome, Writes};
use proxmcp_sdk::{Answer, Hints, Method, NoArgs, Router, ToolError, pve};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

/// The requests this file's tools send.
pub const GRANTS: &[&str] = &[
    "GET /nodes/{node}/qemu/{vmid}/config",
    "GET /nodes/{node}/lxc/{vmid}/config",
    "GET /nodes/{node}/qemu/{vmid}/status/current",
    "GET /nodes/{node}/lxc/{vmid}/status/current",
    "POST /nodes/{node}/qemu/{vmid}/template",
    "POST /nodes/{node}/lxc/{vmid}/template",
    "POST /nodes/{node}/qemu/{vmid}/move_disk",
    "POST /nodes/{node}/lxc/{vmid}/move_volume",
];

pub fn router() -> Router {
    Router::new()
        .write(
            "pve_convert_to_template",
            "Convert to template",
            "Turn a stopped guest into a template for cloning. Irreversible: a template cannot be started again.",
            Hints::DESTRUCTIVE,
            convert,
        )
        .write(
            "pve_move_disk",
            "Move disk",
            "Move a guest's disk (QEMU scsi0, virtio0, ...; LXC rootfs, mp0, ...) to another storage.",
            Hints::WRITE,
            move_disk,
        )
}

fn convert(a: OnGuest<NoArgs>, writes: &mut Writes) -> Result<Answer<Outcome>, ToolError> {
    let g = a.locate()?;
    let vmid = g.vmid.to_string();
    let status = pve::get(&["nodes", &g.node, g.kind, &vmid, "status", "current"], &Value::Null)?;
    if status["template"] == json!(1) || status["template"] == json!("1") {
        return Err(ToolError::InvalidArguments(format!("{g} is already a template")));
    }
    if status["status"] != "stopped" {
        let stop = "pve_shutdown_vm";
        return Err(ToolError::InvalidArguments(format!(
            "{g} is {}: a running guest cannot become a template; shut it down first ({stop}), then convert it",
            text(&status, "status").unwrap_or_else(|| "not stopped".into())
        )));
    }
    let sent = writes.send(Method::Post, &["nodes", &g.node, g.kind, &vmid, "template"], &Value::Null)?;
    writes.finish(&g.node, sent, &format!("turn {g} into a template"), Nothing {})
}

#[derive(Deserialize, JsonSchema, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum DiskFormat {
    Raw,
    Qcow2,
    Vmdk,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct MoveArgs {
    /// QEMU: scsi0, virtio0, sata0, ide0, efidisk0, tpmstate0; LXC: rootfs, mp0...
    disk: String,
    target_storage: String,
    /// Remove the source copy once the move succeeded (default false: it
    /// stays as an unused disk).
    delete_source: Option<bool>,
    /// QEMU only; default: the target storage's default.
    format: Option<DiskFormat>,
}

/// Whether `disk` names a disk slot of a guest of `kind`.
fn disk_slot(kind: &str, disk: &str) -> bool {
    let numbered = |prefix: &str| disk.strip_prefix(prefix).is_some_and(|n| !n.is_empty() && n.parse::<u8>().is_ok());
    if kind == "lxc" {
        disk == "rootfs" || numbered("mp")
    } else {
        ["scsi", "virtio", "sata", "ide", "efidisk", "tpmstate"].iter().any(|p| numbered(p))
    }
}

fn move_disk(a: OnGuest<MoveArgs>, writes: &mut Writes) -> Result<Answer<Outcome>, ToolError> {
    let g = a.locate()?;
    let args = &a.args;
    if !disk_slot(g.kind, &args.disk) {
        let hint =
            if g.kind == "lxc" { "rootfs or mp0, mp1, ..." } else { "scsi0, virtio0, sata0, ide0, efidisk0, ..." };
        return Err(ToolError::InvalidArguments(format!(
            "{:?} is not a disk of a {}; use {hint}",
            args.disk,
            g.label()
        )));
    }
    if g.kind == "lxc" && args.format.is_some() {
        return Err(ToolError::InvalidArguments(
            "format applies to VM disks only; a container's volume keeps the target storage's format".into(),
        ));
    }
    let vmid = g.vmid.to_string();
    let config = pve::get(&["nodes", &g.node, g.kind, &vmid, "config"], &Value::Null)?;
    let Some(current) = text(&config, &args.disk) else {
        let disks: Vec<&String> =
            config.as_object().map(|m| m.keys().filter(|k| disk_slot(g.kind, k)).collect()).unwrap_or_default();
        return Err(ToolError::InvalidArguments(format!(
            "{g} has no disk {}; its disks: {}",
            args.disk,
            disks.iter().map(|d| d.as_str()).collect::<Vec<_>>().join(", ")
        )));
    };
    if current.contains("media=cdrom") {
        return Err(ToolError::InvalidArguments(format!("{} of {g} is a CD-ROM drive, not a disk", args.disk)));
    }
    if current.split(':').next() == Some(args.target_storage.as_str()) {
        return Err(ToolError::InvalidArguments(format!(
            "{} of {g} is already on {}; pick another target_storage",
            args.disk, args.target_storage
        )));
    }
    let (endpoint, disk_key) = if g.kind == "qemu" { ("move_disk", "disk") } else { ("move_volume", "volume") };
    let mut params = json!({disk_key: args.disk, "storage": args.target_storage});
    if args.delete_source == Some(true) {
        params["delete"] = json!(true);
    }
    if let Some(f) = args.format {
        params["format"] = json!(match f {
            DiskFormat::Raw => "raw",
            DiskFormat::Qcow2 => "qcow2",
            DiskFormat::Vmdk => "vmdk",
        });
    }
    let sent = writes.send(Method::Post, &["nodes", &g.node, g.kind, &vmid, endpoint], &params)?;
    let what = format!("move {} of {g} to {}", args.disk, args.target_storage);
    writes.finish(&g.node, sent, &what, Nothing {})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disk_slots_follow_the_guest_kind() {
        assert!(disk_slot("qemu", "scsi0") && disk_slot("qemu", "virtio15") && disk_slot("qemu", "efidisk0"));
        assert!(!disk_slot("qemu", "rootfs") && !disk_slot("qemu", "scsi") && !disk_slot("qemu", "net0"));
        assert!(disk_slot("lxc", "rootfs") && disk_slot("lxc", "mp3") && !disk_slot("lxc", "scsi0"));
    }
}
