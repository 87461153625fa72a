//! Snapshots: list, create, delete, roll back.

use serde_json::{Value, json};

use super::*;
use crate::sim::params::{P, Ty, first, opt, req, truthy};
use crate::sim::seed::{GuestType, SimSnapshot};
use crate::sim::state::{Cluster, TaskSpec, now};

pub(super) static ROUTES: &[Route] = &[
    ("GET", "/nodes/{node}/{kind:qemu|lxc}/{vmid}/snapshot", "The {kind}'s snapshots.", list),
    ("POST", "/nodes/{node}/{kind:qemu|lxc}/{vmid}/snapshot", "Take a snapshot of the {kind}.", create),
    ("GET", "/nodes/{node}/{kind:qemu|lxc}/{vmid}/snapshot/{snapname}", "What one snapshot offers.", get),
    ("DELETE", "/nodes/{node}/{kind:qemu|lxc}/{vmid}/snapshot/{snapname}", "Delete a snapshot of the {kind}.", delete),
    (
        "POST",
        "/nodes/{node}/{kind:qemu|lxc}/{vmid}/snapshot/{snapname}/rollback",
        "Put the {kind} back to a snapshot.",
        rollback,
    ),
];

fn list(x: &mut Ctx<'_>) -> R {
    check(x.params, &[])?;
    let qemu = x.kind() == GuestType::Qemu;
    let g = &x.c.guests[&x.vmid()];
    let mut list: Vec<Value> = g
        .snapshots
        .iter()
        .map(|s| {
            let mut e = json!({"name": s.name, "description": s.description, "snaptime": s.snaptime});
            if let Some(p) = &s.parent {
                e["parent"] = json!(p);
            }
            if qemu {
                e["vmstate"] = json!(u8::from(s.vmstate));
            }
            e
        })
        .collect();
    let mut current = json!({"name": "current", "description": "You are here!", "running": u8::from(guest_running(g))});
    if let Some(p) = g.config.get("parent") {
        current["parent"] = json!(p);
    }
    list.push(current);
    Ok(json!(list).into())
}

fn create(x: &mut Ctx<'_>) -> R {
    let spec: &[P] = if x.kind() == GuestType::Qemu {
        &[req("snapname", Ty::Str), opt("description", Ty::Str), opt("vmstate", Ty::Bool)]
    } else {
        &[req("snapname", Ty::Str), opt("description", Ty::Str)]
    };
    check(x.params, spec)?;
    snapshot_create(x)
}

fn get(x: &mut Ctx<'_>) -> R {
    check(x.params, &[])?;
    let name = x.var("snapname");
    if x.c.guests[&x.vmid()].snapshots.iter().any(|s| s.name == name) {
        Ok(json!([{"subdir": "rollback"}, {"subdir": "config"}]).into())
    } else {
        Err(fail(500, format!("snapshot '{name}' does not exist")))
    }
}

fn delete(x: &mut Ctx<'_>) -> R {
    check(x.params, &[opt("force", Ty::Bool)])?;
    snapshot_delete(x)
}

fn rollback(x: &mut Ctx<'_>) -> R {
    check(x.params, &[opt("start", Ty::Bool)])?;
    snapshot_rollback(x)
}

fn valid_configid(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && name.len() <= 40
}

fn snapshot_create(x: &mut Ctx<'_>) -> R {
    let (world, c, node, kind, vmid, params, caller) = x.parts();
    let name = first(params, "snapname").unwrap_or_default().to_string();
    if !valid_configid(&name) {
        return Err(bad_param("snapname", format!("invalid format - invalid configuration ID '{name}'")));
    }
    let g = &c.guests[&vmid];
    locked(g)?;
    if name == "current" || name == "vzdump" {
        return Err(fail(500, format!("snapshot name '{name}' is reserved")));
    }
    if g.snapshots.iter().any(|s| s.name == name) {
        return Err(fail(500, format!("snapshot name '{name}' already used")));
    }
    let description = first(params, "description").unwrap_or_default().to_string();
    let vmstate = kind == GuestType::Qemu && truthy(params, "vmstate") && guest_running(g);
    let snap_name = name.clone();
    let upid = world.start_task(
        c,
        TaskSpec {
            node: node.into(),
            kind: task_kind(kind, "snapshot"),
            id: vmid.to_string(),
            user: caller.user.clone(),
            steps: vec![
                (1.0, format!("snapshotting 'drive-scsi0' (local-lvm:vm-{vmid}-disk-0)")),
                (2.0, format!("  Logical volume \"snap_vm-{vmid}-disk-0_{name}\" created.")),
            ],
            lock: Some((vmid, "snapshot")),
            effect: Box::new(move |c: &mut Cluster| {
                let g = c.guests.get_mut(&vmid).ok_or("guest vanished")?;
                let parent = g.config.get("parent").cloned();
                g.snapshots.push(SimSnapshot {
                    name: snap_name.clone(),
                    description,
                    snaptime: now(),
                    vmstate,
                    parent,
                });
                g.config.insert("parent".into(), snap_name);
                Ok(())
            }),
        },
    );
    Ok(json!(upid).into())
}

fn snapshot_delete(x: &mut Ctx<'_>) -> R {
    let name = x.var("snapname");
    let (world, c, node, kind, vmid, _, caller) = x.parts();
    let g = &c.guests[&vmid];
    locked(g)?;
    if !g.snapshots.iter().any(|s| s.name == name) {
        return Err(fail(500, format!("snapshot '{name}' does not exist")));
    }
    let name = name.to_string();
    guest_task(
        world,
        c,
        Job {
            node,
            kind: task_kind(kind, "delsnapshot"),
            vmid,
            caller,
            steps: vec![(2.0, format!("  Logical volume \"snap_vm-{vmid}-disk-0_{name}\" successfully removed."))],
            lock: Some((vmid, "snapshot-delete")),
            effect: Box::new(move |c: &mut Cluster| {
                let g = c.guests.get_mut(&vmid).ok_or("guest vanished")?;
                let pos = g.snapshots.iter().position(|s| s.name == name).ok_or("snapshot vanished")?;
                let removed = g.snapshots.remove(pos);
                for s in &mut g.snapshots {
                    if s.parent.as_deref() == Some(name.as_str()) {
                        s.parent = removed.parent.clone();
                    }
                }
                if g.config.get("parent") == Some(&name) {
                    match removed.parent {
                        Some(p) => g.config.insert("parent".into(), p),
                        None => g.config.remove("parent"),
                    };
                }
                Ok(())
            }),
        },
    )
}

fn snapshot_rollback(x: &mut Ctx<'_>) -> R {
    let name = x.var("snapname");
    let (world, c, node, kind, vmid, params, caller) = x.parts();
    let g = &c.guests[&vmid];
    locked(g)?;
    let Some(snap) = g.snapshots.iter().find(|s| s.name == name) else {
        return Err(fail(500, format!("snapshot '{name}' does not exist")));
    };
    let running_after = snap.vmstate || truthy(params, "start");
    let name = name.to_string();
    guest_task(
        world,
        c,
        Job {
            node,
            kind: task_kind(kind, "rollback"),
            vmid,
            caller,
            steps: vec![(4.0, format!("  Logical volume \"vm-{vmid}-disk-0\" successfully rolled back to '{name}'."))],
            lock: Some((vmid, "rollback")),
            effect: Box::new(move |c: &mut Cluster| {
                let g = c.guests.get_mut(&vmid).ok_or("guest vanished")?;
                g.config.insert("parent".into(), name);
                g.status = if running_after { "running".into() } else { "stopped".into() };
                Ok(())
            }),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::valid_configid;

    #[test]
    fn configids_follow_pve_rules() {
        assert!(valid_configid("pre-upgrade_2"));
        assert!(!valid_configid("2fast"));
        assert!(!valid_configid("a b"));
        assert!(!valid_configid(""));
    }
}
