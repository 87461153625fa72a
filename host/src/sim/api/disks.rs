//! A guest's disks as a whole: turning a guest into a template, and moving
//! a disk (QEMU) or volume (LXC) to another storage.

use super::*;
use crate::sim::params::{Ty, first, opt, req, truthy};
use crate::sim::seed::{GuestType, SimVolume};
use crate::sim::state::Cluster;

pub(super) static ROUTES: &[Route] = &[
    ("POST", "/nodes/{node}/{kind:qemu|lxc}/{vmid}/template", "Turn the {kind} into a template.", template),
    ("POST", "/nodes/{node}/{kind:qemu}/{vmid}/move_disk", "Move a disk of the {kind} to another storage.", move_disk),
    (
        "POST",
        "/nodes/{node}/{kind:lxc}/{vmid}/move_volume",
        "Move a volume of the {kind} to another storage.",
        move_disk,
    ),
];

fn template(x: &mut Ctx<'_>) -> R {
    let spec: &[crate::sim::params::P] = if x.kind() == GuestType::Qemu { &[opt("disk", Ty::Str)] } else { &[] };
    check(x.params, spec)?;
    let (world, c, node, kind, vmid, _, caller) = x.parts();
    let g = &c.guests[&vmid];
    locked(g)?;
    if g.template {
        return Err(fail(500, "you can't convert a template to a template"));
    }
    if guest_running(g) {
        return Err(fail(500, format!("you can't convert a {} to template if it is running", kind.label())));
    }
    let effect: crate::sim::state::Effect = Box::new(move |c: &mut Cluster| {
        c.guests.get_mut(&vmid).ok_or("guest vanished")?.template = true;
        Ok(())
    });
    let steps =
        vec![(1.0, format!("  Renamed \"vm-{vmid}-disk-0\" to \"base-{vmid}-disk-0\" in volume group \"pve\""))];
    if kind == GuestType::Lxc {
        // PVE converts a container at once and answers nothing.
        effect(c).map_err(|e| fail(500, e))?;
        return Ok(serde_json::Value::Null.into());
    }
    guest_task(world, c, Job { node, kind: "qmtemplate", vmid, caller, steps, lock: Some((vmid, "create")), effect })
}

fn move_disk(x: &mut Ctx<'_>) -> R {
    let (disk_key, target_key) =
        if x.kind() == GuestType::Qemu { ("disk", "target-disk") } else { ("volume", "target-volume") };
    check(
        x.params,
        &[
            req(disk_key, Ty::Str),
            opt("storage", Ty::Str),
            opt("delete", Ty::Bool),
            opt("format", Ty::Enum(&["raw", "qcow2", "vmdk"])),
            opt("digest", Ty::Str),
            opt("bwlimit", Ty::Num),
            opt("target-vmid", Ty::Int(100, 999_999_999)),
            opt(target_key, Ty::Str),
            opt("target-digest", Ty::Str),
        ],
    )?;
    let (world, c, node, kind, vmid, params, caller) = x.parts();
    let disk = first(params, disk_key).unwrap_or_default().to_string();
    let Some(storage) = first(params, "storage").map(str::to_string) else {
        return Err(bad_param("storage", "either 'storage' or 'target-vmid' must be set"));
    };
    let g = &c.guests[&vmid];
    locked(g)?;
    let Some(current) = g.config.get(&disk).cloned() else {
        return Err(fail(500, format!("disk '{disk}' does not exist")));
    };
    if kind == GuestType::Lxc && guest_running(g) {
        return Err(fail(500, "cannot move volumes of a running container"));
    }
    let content = if kind == GuestType::Qemu { "images" } else { "rootdir" };
    let s = super::storage::storage_for(c, node, &storage, content)?;
    let old_volid = current.split(',').next().unwrap_or_default().to_string();
    if old_volid.split(':').next() == Some(storage.as_str()) {
        return Err(fail(500, format!("you can't move to the same storage with same format ({disk})")));
    }
    let size = current.split(',').find_map(|p| p.strip_prefix("size=")).unwrap_or("8G").to_string();
    let shared = s.shared;
    let delete = truthy(params, "delete");
    let format = first(params, "format").unwrap_or("raw").to_string();
    let new_volid = format!("{storage}:vm-{vmid}-disk-{}", g.config.len());
    let target_node = node.to_string();
    let steps = vec![
        (0.5, format!("create full clone of drive {disk} ({old_volid})")),
        (2.0, "transferred 4.0 GiB of 32.0 GiB (12.50%)".to_string()),
        (2.0, "transferred 32.0 GiB of 32.0 GiB (100.00%)".to_string()),
    ];
    let effect: crate::sim::state::Effect = Box::new(move |c: &mut Cluster| {
        let g = c.guests.get_mut(&vmid).ok_or("guest vanished")?;
        g.config.insert(disk.clone(), format!("{new_volid},size={size}"));
        if !delete {
            let free = (0..).find(|i| !g.config.contains_key(&format!("unused{i}"))).unwrap_or(0);
            g.config.insert(format!("unused{free}"), old_volid.clone());
        }
        let old = c.storages.iter().flat_map(|s| &s.volumes).find(|v| v.volid == old_volid).cloned();
        if delete {
            for s in &mut c.storages {
                s.volumes.retain(|v| v.volid != old_volid);
            }
        }
        let target = c.storages.iter_mut().find(|s| s.storage == storage).ok_or("storage vanished")?;
        target.volumes.push(SimVolume {
            volid: new_volid,
            node: if shared { None } else { Some(target_node) },
            content: content.into(),
            format,
            size: old.map_or(8 * GIB, |v| v.size),
            vmid: Some(vmid),
            ctime: crate::sim::state::now(),
            notes: None,
            verification: None,
            protected: false,
        });
        Ok(())
    });
    let task = if kind == GuestType::Qemu { "qmmove" } else { "move_volume" };
    guest_task(world, c, Job { node, kind: task, vmid, caller, steps, lock: Some((vmid, "disk")), effect })
}
