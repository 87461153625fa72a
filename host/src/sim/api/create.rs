//! `POST /nodes/{node}/qemu|lxc`: creating guests, or restoring them from
//! a backup (over an existing one with `force`).

use super::config::{apply_config, config_spec};
use super::*;
use crate::sim::params::{Ty, VMID, first, opt, req, truthy};
use crate::sim::seed::GuestType;
use crate::sim::state::Cluster;

pub(super) static ROUTES: &[Route] =
    &[("POST", "/nodes/{node}/{kind:qemu|lxc}", "Create a {kind}, or restore one from a backup.", create)];

/// `POST /nodes/{node}/qemu|lxc`: create, or restore from a backup.
fn create(x: &mut Ctx<'_>) -> R {
    let (world, c, node, kind, _, params, caller) = x.parts();
    let mut spec = config_spec(kind);
    spec.extend([
        req("vmid", VMID),
        opt("pool", Ty::Str),
        opt("start", Ty::Bool),
        opt("storage", Ty::Str),
        opt("force", Ty::Bool),
        opt("unique", Ty::Bool),
    ]);
    match kind {
        GuestType::Qemu => spec.extend([opt("archive", Ty::Str), opt("scsi0", Ty::Str), opt("scsihw", Ty::Str)]),
        GuestType::Lxc => spec.extend([
            req("ostemplate", Ty::Str),
            opt("restore", Ty::Bool),
            opt("rootfs", Ty::Str),
            opt("password", Ty::Str),
            opt("ssh-public-keys", Ty::Str),
            opt("unprivileged", Ty::Bool),
        ]),
    }
    check(params, &spec)?;
    let vmid: u32 = first(params, "vmid").and_then(|v| v.parse().ok()).unwrap_or_default();
    let archive = match kind {
        GuestType::Qemu => first(params, "archive"),
        GuestType::Lxc if truthy(params, "restore") => first(params, "ostemplate"),
        GuestType::Lxc => None,
    }
    .map(str::to_string);
    let force = truthy(params, "force");
    if let Some(existing) = c.guests.get(&vmid) {
        if archive.is_none() || !force {
            return Err(fail(
                500,
                format!(
                    "unable to create {} {vmid} - {} {vmid} already exists on node '{}'",
                    kind.label(),
                    existing.kind.label(),
                    existing.node
                ),
            ));
        }
        if existing.node != node || existing.kind != kind {
            return Err(fail(
                500,
                format!(
                    "unable to restore {} {vmid} - it exists on node '{}' as another type",
                    kind.label(),
                    existing.node
                ),
            ));
        }
        locked(existing)?;
        if guest_running(existing) {
            return Err(fail(500, format!("unable to restore {} {vmid} - it is running", kind.label())));
        }
    }
    let (source, disk_gib) = match &archive {
        Some(volid) => {
            let vol = c
                .storages
                .iter()
                .flat_map(|s| s.volumes.iter())
                .find(|v| &v.volid == volid && v.content == "backup")
                .ok_or_else(|| {
                    fail(500, format!("unable to parse volume ID '{volid}' or the backup does not exist"))
                })?;
            let src = vol.vmid.and_then(|id| c.guests.get(&id)).cloned();
            (src, (vol.size * 10).div_ceil(GIB).max(1))
        }
        None => {
            let key = if kind == GuestType::Qemu { "scsi0" } else { "rootfs" };
            let size = first(params, key)
                .and_then(|v| v.split(',').next())
                .and_then(|v| v.rsplit(':').next())
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(8);
            (None, size)
        }
    };
    let mut g = source.unwrap_or_else(|| {
        let mut g = crate::sim::seed::guest(vmid, kind, node, "", "stopped");
        (g.cores, g.memory_mib) = (1, 512);
        g
    });
    g.vmid = vmid;
    g.node = node.into();
    g.status = "stopped".into();
    g.snapshots.clear();
    g.disk_gib = disk_gib;
    g.lock = Some("create".into());
    if g.name.is_empty() {
        g.name = format!("{}{vmid}", if kind == GuestType::Qemu { "VM" } else { "CT" });
    }
    let mut params = params.clone();
    for k in [
        "vmid",
        "pool",
        "start",
        "storage",
        "force",
        "unique",
        "archive",
        "ostemplate",
        "restore",
        "password",
        "ssh-public-keys",
        "unprivileged",
        "scsi0",
        "rootfs",
    ] {
        params.remove(k);
    }
    apply_config(&mut g, &params)?;
    if let Some(p) = first(&params, "pool") {
        g.pool = Some(p.to_string());
    }
    let root = if kind == GuestType::Qemu { "scsi0" } else { "rootfs" };
    g.config.insert(root.into(), format!("local-lvm:vm-{vmid}-disk-0,size={disk_gib}G"));
    c.guests.insert(vmid, g);
    let start = truthy(&params, "start");
    let content = if kind == GuestType::Qemu { "images" } else { "rootdir" };
    let node_name = node.to_string();
    let effect: crate::sim::state::Effect = Box::new(move |c: &mut Cluster| {
        if let Some(s) = c.storages.iter_mut().find(|s| s.storage == "local-lvm") {
            s.volumes.retain(|v| !(v.vmid == Some(vmid) && v.content == content));
            s.volumes.push(disk_volume(vmid, node_name, content, disk_gib));
        }
        if start && let Some(g) = c.guests.get_mut(&vmid) {
            g.status = "running".into();
        }
        Ok(())
    });
    let (task, steps) = match (&archive, kind) {
        (Some(a), GuestType::Qemu) => (
            "qmrestore",
            vec![(1.0, format!("restore vma archive: {a}")), (4.0, "progress 100% (read 100%)".to_string())],
        ),
        (Some(a), GuestType::Lxc) => (
            "vzrestore",
            vec![(1.0, format!("restoring '{a}' now..")), (4.0, "extracting archive finished".to_string())],
        ),
        (None, GuestType::Qemu) => ("qmcreate", vec![(1.0, format!("  Logical volume \"vm-{vmid}-disk-0\" created."))]),
        (None, GuestType::Lxc) => {
            ("vzcreate", vec![(2.0, "extracting archive".to_string()), (1.0, "Creating SSH host keys".to_string())])
        }
    };
    guest_task(world, c, Job { node, kind: task, vmid, caller, steps, lock: Some((vmid, "create")), effect })
}
