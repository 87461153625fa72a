//! `POST /nodes/{node}/vzdump`: backups as tasks that can fail for want
//! of space; and which guests no enabled backup job covers.

use serde_json::json;

use super::*;
use crate::sim::params::{Ty, first, opt};
use crate::sim::seed::{GuestType, SimVolume};
use crate::sim::state::{Cluster, TaskSpec, now};

pub(super) static ROUTES: &[Route] = &[
    ("POST", "/nodes/{node}/vzdump", "Back up guests now (vzdump) to a storage.", vzdump),
    ("GET", "/cluster/backup-info/not-backed-up", "Guests no enabled backup job covers.", not_backed_up),
];

/// Whether an enabled job selects the guest: its `vmid` list, `all` but
/// its `exclude`, or its `pool`; a job with `node` only that node's guests.
fn covered(c: &Cluster, g: &crate::sim::seed::SimGuest) -> bool {
    let ids = |v: Option<&String>| -> Vec<u32> {
        v.map(|s| s.split([',', ' ', ';']).filter_map(|i| i.trim().parse().ok()).collect()).unwrap_or_default()
    };
    c.collections.get("backup").into_iter().flatten().any(|(_, job)| {
        let on = job.get("enabled").is_none_or(|e| e != "0");
        let node_ok = job.get("node").is_none_or(|n| *n == g.node);
        let selected = ids(job.get("vmid")).contains(&g.vmid)
            || (job.get("all").is_some_and(|a| a == "1") && !ids(job.get("exclude")).contains(&g.vmid))
            || job.get("pool").is_some_and(|p| g.pool.as_deref() == Some(p.as_str()));
        on && node_ok && selected
    })
}

fn not_backed_up(x: &mut Ctx<'_>) -> R {
    check(x.params, &[])?;
    let list: Vec<serde_json::Value> =
        x.c.guests
            .values()
            .filter(|g| !g.template && !covered(x.c, g))
            .map(|g| {
                let kind = if g.kind == GuestType::Lxc { "lxc" } else { "qemu" };
                json!({"vmid": g.vmid, "type": kind, "name": g.name})
            })
            .collect();
    Ok(json!(list).into())
}

fn vzdump(x: &mut Ctx<'_>) -> R {
    let (world, c, node, _, _, params, caller) = x.parts();
    check(
        params,
        &[
            opt("vmid", Ty::Str),
            opt("all", Ty::Bool),
            opt("storage", Ty::Str),
            opt("mode", Ty::Enum(&["snapshot", "suspend", "stop"])),
            opt("compress", Ty::Enum(&["0", "1", "gzip", "lzo", "zstd"])),
            opt("notes-template", Ty::Str),
            opt("remove", Ty::Bool),
            opt("protected", Ty::Bool),
        ],
    )?;
    let storage_id = first(params, "storage").unwrap_or("local").to_string();
    let storage = c
        .storages
        .iter()
        .find(|s| s.storage == storage_id)
        .ok_or_else(|| bad_param("storage", format!("storage '{storage_id}' does not exist")))?;
    if !storage.content.iter().any(|ct| ct == "backup") {
        return Err(fail(500, format!("can't use storage '{storage_id}' for backups - wrong content type")));
    }
    let vmid_text =
        first(params, "vmid").ok_or_else(|| bad_param("vmid", "property is missing and it is not optional"))?;
    let mut vmids = Vec::new();
    for part in vmid_text.split([',', ' ', ';']).filter(|p| !p.is_empty()) {
        let id = parse_vmid(part)?;
        match c.guests.get(&id) {
            Some(g) if g.node == node => {
                locked(g)?;
                vmids.push((id, g.kind, g.disk_gib));
            }
            _ => return Err(fail(500, format!("guest {id} is not on node '{node}' or does not exist"))),
        }
    }
    let mode = first(params, "mode").unwrap_or("snapshot").to_string();
    let compress = first(params, "compress").unwrap_or("zstd").to_string();
    let ext = match compress.as_str() {
        "0" => "",
        "gzip" => ".gz",
        "lzo" => ".lzo",
        _ => ".zst",
    };
    let notes = first(params, "notes-template").map(str::to_string);
    let mut steps = vec![(
        0.5,
        format!(
            "INFO: starting new backup job: vzdump {vmid_text} --storage {storage_id} --mode {mode} --compress {compress}"
        ),
    )];
    for (id, kind, disk) in &vmids {
        steps.push((0.5, format!("INFO: Starting Backup of VM {id} ({})", kind.as_str())));
        for pct in [10u64, 25, 50, 75, 100] {
            let done = *disk as f64 * pct as f64 / 100.0;
            steps.push((
                4.0,
                format!(
                    "INFO: {pct:>3}% ({done:.1} GiB of {disk}.0 GiB) in {}s, read: 120 MiB/s, write: 95 MiB/s",
                    pct / 5
                ),
            ));
        }
        steps.push((0.5, format!("INFO: Finished Backup of VM {id} (00:00:20)")));
    }
    steps.push((0.2, "INFO: Backup job finished successfully".into()));
    let lock = if vmids.len() == 1 { Some((vmids[0].0, "backup")) } else { None };
    let node_name = node.to_string();
    let shared = storage.shared;
    let upid = world.start_task(
        c,
        TaskSpec {
            node: node.into(),
            kind: "vzdump",
            id: if vmids.len() == 1 { vmids[0].0.to_string() } else { String::new() },
            user: caller.user.clone(),
            steps,
            lock,
            effect: Box::new(move |c: &mut Cluster| {
                let stamp = timestamp(now());
                let s = c.storages.iter_mut().find(|s| s.storage == storage_id).ok_or("storage vanished")?;
                let used: u64 = s.base_used + s.volumes.iter().map(|v| v.size).sum::<u64>();
                let needed: u64 = vmids.iter().map(|(_, _, disk)| disk * GIB / 10).sum();
                if used + needed > s.total {
                    return Err(format!("job errors: backup to '{storage_id}' failed - no space left on device"));
                }
                for (id, kind, disk) in vmids {
                    let archive = if kind == GuestType::Qemu { "vma" } else { "tar" };
                    s.volumes.push(SimVolume {
                        volid: format!("{storage_id}:backup/vzdump-{}-{id}-{stamp}.{archive}{ext}", kind.as_str()),
                        node: if shared { None } else { Some(node_name.clone()) },
                        content: "backup".into(),
                        format: format!("{archive}{ext}").trim_start_matches('.').to_string(),
                        size: disk * GIB / 10,
                        vmid: Some(id),
                        ctime: now(),
                        notes: notes.clone(),
                        verification: None,
                        protected: false,
                    });
                }
                Ok(())
            }),
        },
    );
    Ok(json!(upid).into())
}
