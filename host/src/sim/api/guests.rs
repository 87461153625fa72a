//! Guests: listing, reading, moving, resizing, cloning and destroying QEMU
//! VMs and LXC containers.

use serde_json::{Value, json};

use super::nodes::{rrd_times, wave};
use super::*;
use crate::sim::params::{P, Params, Ty, VMID, first, opt, req, truthy};
use crate::sim::seed::{GuestType, SimGuest};
use crate::sim::state::Cluster;

pub(super) static ROUTES: &[Route] = &[
    ("GET", "/nodes/{node}/{kind:qemu|lxc}", "The node's {kind}s.", list),
    ("GET", "/nodes/{node}/{kind:qemu|lxc}/{vmid}/status/current", "The {kind}'s current state and usage.", current),
    ("GET", "/nodes/{node}/{kind:qemu|lxc}/{vmid}/config", "The {kind}'s configuration.", config),
    (
        "GET",
        "/nodes/{node}/{kind:qemu|lxc}/{vmid}/pending",
        "The {kind}'s configuration, with changes that wait for a restart.",
        pending,
    ),
    ("GET", "/nodes/{node}/{kind:qemu|lxc}/{vmid}/rrddata", "The {kind}'s usage over a timeframe.", rrddata),
    ("DELETE", "/nodes/{node}/{kind:qemu|lxc}/{vmid}", "Destroy the {kind} and its disks.", delete),
    ("PUT", "/nodes/{node}/{kind:qemu|lxc}/{vmid}/resize", "Grow a disk of the {kind}.", resize_route),
    (
        "GET",
        "/nodes/{node}/{kind:qemu}/{vmid}/migrate",
        "Whether the {kind} can move now, and where to.",
        migrate_check,
    ),
    ("POST", "/nodes/{node}/{kind:qemu|lxc}/{vmid}/migrate", "Move the {kind} to another node.", migrate_route),
    ("POST", "/nodes/{node}/{kind:qemu|lxc}/{vmid}/clone", "Copy the {kind} (or template) to a new id.", clone_route),
];

fn list(x: &mut Ctx<'_>) -> R {
    let (kind, node) = (x.kind(), x.var("node"));
    let spec: &[P] = if kind == GuestType::Qemu { &[opt("full", Ty::Bool)] } else { &[] };
    check(x.params, spec)?;
    let c = &x.c;
    let list: Vec<Value> =
        c.guests.values().filter(|g| g.node == node && g.kind == kind).map(|g| guest_status(c, g, false)).collect();
    Ok(json!(list).into())
}

fn current(x: &mut Ctx<'_>) -> R {
    check(x.params, &[])?;
    let c = &x.c;
    Ok(c.guests.get(&x.vmid()).map(|g| guest_status(c, g, true)).unwrap_or_default().into())
}

fn config(x: &mut Ctx<'_>) -> R {
    check(x.params, &[opt("current", Ty::Bool), opt("snapshot", Ty::Str)])?;
    Ok(x.c.guests.get(&x.vmid()).map(guest_config).unwrap_or_default().into())
}

fn pending(x: &mut Ctx<'_>) -> R {
    check(x.params, &[])?;
    let g = &x.c.guests[&x.vmid()];
    let cfg = guest_config(g);
    let mut out: Vec<Value> = Vec::new();
    if let Value::Object(map) = &cfg {
        for (k, v) in map {
            if k == "digest" {
                continue;
            }
            let text = v.as_str().map_or_else(|| v.to_string(), str::to_string);
            let mut e = json!({"key": k, "value": text});
            if let Some(p) = g.pending.get(k) {
                e["pending"] = json!(p);
            }
            out.push(e);
        }
    }
    for (k, p) in &g.pending {
        if cfg.get(k).is_none() {
            out.push(json!({"key": k, "pending": p}));
        }
    }
    Ok(json!(out).into())
}

fn rrddata(x: &mut Ctx<'_>) -> R {
    check(
        x.params,
        &[
            req("timeframe", Ty::Enum(&["hour", "day", "week", "month", "year"])),
            opt("cf", Ty::Enum(&["AVERAGE", "MAX"])),
        ],
    )?;
    Ok(guest_rrd(&x.c.guests[&x.vmid()], x.params).into())
}

fn delete(x: &mut Ctx<'_>) -> R {
    let spec: &[P] = if x.kind() == GuestType::Qemu {
        &[opt("purge", Ty::Bool), opt("destroy-unreferenced-disks", Ty::Bool), opt("skiplock", Ty::Bool)]
    } else {
        &[opt("purge", Ty::Bool), opt("destroy-unreferenced-disks", Ty::Bool), opt("force", Ty::Bool)]
    };
    check(x.params, spec)?;
    destroy(x)
}

fn resize_route(x: &mut Ctx<'_>) -> R {
    check(x.params, &[req("disk", Ty::Str), req("size", Ty::Str), opt("digest", Ty::Str), opt("skiplock", Ty::Bool)])?;
    resize(x)
}

fn migrate_check(x: &mut Ctx<'_>) -> R {
    check(x.params, &[opt("target", Ty::Str)])?;
    let (node, vmid) = (x.var("node"), x.vmid());
    let c = &x.c;
    let g = &c.guests[&vmid];
    let allowed: Vec<&str> = c.nodes.iter().filter(|n| n.online && n.name != node).map(|n| n.name.as_str()).collect();
    Ok(json!({"running": u8::from(guest_running(g)), "has-dbus-vmstate": 0,
              "local_disks": [{"volid": format!("local-lvm:vm-{vmid}-disk-0"), "size": g.disk_gib * GIB,
                               "cdrom": 0, "is_unused": 0}],
              "local_resources": [], "mapped-resources": [], "mapped-resource-info": {},
              "allowed_nodes": allowed, "not_allowed_nodes": {}})
    .into())
}

fn migrate_route(x: &mut Ctx<'_>) -> R {
    let spec: &[P] = if x.kind() == GuestType::Qemu {
        &[
            req("target", Ty::Str),
            opt("online", Ty::Bool),
            opt("with-local-disks", Ty::Bool),
            opt("targetstorage", Ty::Str),
            opt("force", Ty::Bool),
            opt("bwlimit", Ty::Int(0, i64::MAX)),
        ]
    } else {
        &[
            req("target", Ty::Str),
            opt("online", Ty::Bool),
            opt("restart", Ty::Bool),
            opt("target-storage", Ty::Str),
            opt("timeout", Ty::Int(0, i64::MAX)),
            opt("bwlimit", Ty::Int(0, i64::MAX)),
        ]
    };
    check(x.params, spec)?;
    migrate(x)
}

fn clone_route(x: &mut Ctx<'_>) -> R {
    let name_key = if x.kind() == GuestType::Qemu { "name" } else { "hostname" };
    let spec = [
        req("newid", VMID),
        opt(name_key, Ty::Str),
        opt("description", Ty::Str),
        opt("full", Ty::Bool),
        opt("target", Ty::Str),
        opt("storage", Ty::Str),
        opt("pool", Ty::Str),
        opt("snapname", Ty::Str),
    ];
    check(x.params, &spec)?;
    clone(x)
}

pub(super) fn guest_status(c: &Cluster, g: &SimGuest, current: bool) -> Value {
    let running = guest_running(g);
    let mut e = json!({"vmid": g.vmid, "name": g.name, "status": if running { "running" } else { "stopped" },
                       "cpus": g.cores, "maxmem": g.memory_mib << 20, "mem": guest_mem(g),
                       "maxdisk": g.disk_gib * GIB, "cpu": if running { 0.021 } else { 0.0 },
                       "uptime": guest_uptime(c, g), "netin": 0, "netout": 0, "diskread": 0, "diskwrite": 0});
    if g.kind == GuestType::Qemu {
        if running {
            e["qmpstatus"] = json!(g.status);
            e["pid"] = json!(10_000 + g.vmid);
        }
        if current {
            e["agent"] = json!(u8::from(g.agent));
        }
    } else {
        e["type"] = json!("lxc");
        e["disk"] = json!(if running { g.disk_gib * GIB / 4 } else { 0 });
        e["maxswap"] = json!(512u64 << 20);
    }
    if current {
        e["ha"] = json!({"managed": 0});
    }
    if !g.tags.is_empty() {
        e["tags"] = json!(g.tags.join(";"));
    }
    if g.template {
        e["template"] = json!(1);
    }
    if let Some(lock) = &g.lock {
        e["lock"] = json!(lock);
    }
    e
}

pub(super) fn guest_config(g: &SimGuest) -> Value {
    let mut cfg = serde_json::Map::new();
    for (k, v) in &g.config {
        // Like PVE: the cloud-init password is never read back.
        let v = if k == "cipassword" { "**********" } else { v.as_str() };
        cfg.insert(k.clone(), json!(v));
    }
    cfg.insert("cores".into(), json!(g.cores));
    match g.kind {
        GuestType::Qemu => {
            cfg.insert("name".into(), json!(g.name));
            cfg.insert("memory".into(), json!(g.memory_mib.to_string()));
            cfg.insert("sockets".into(), json!(1));
            if g.agent {
                cfg.insert("agent".into(), json!("1"));
            }
        }
        GuestType::Lxc => {
            cfg.insert("memory".into(), json!(g.memory_mib));
            cfg.insert("swap".into(), json!(512));
            cfg.insert("arch".into(), json!("amd64"));
        }
    }
    if !g.tags.is_empty() {
        cfg.insert("tags".into(), json!(g.tags.join(";")));
    }
    if let Some(d) = &g.description {
        cfg.insert("description".into(), json!(d));
    }
    if g.template {
        cfg.insert("template".into(), json!(1));
    }
    if let Some(lock) = &g.lock {
        cfg.insert("lock".into(), json!(lock));
    }
    let text = serde_json::to_string(&cfg).unwrap_or_default();
    cfg.insert("digest".into(), json!(digest(&text)));
    Value::Object(cfg)
}

fn migrate(x: &mut Ctx<'_>) -> R {
    let (world, c, node, kind, vmid, params, caller) = x.parts();
    let target = first(params, "target").unwrap_or_default().to_string();
    let g = &c.guests[&vmid];
    locked(g)?;
    if target == node {
        return Err(fail(500, format!("target is local node '{node}'")));
    }
    match c.node(&target) {
        None => return Err(bad_param("target", format!("no such cluster node '{target}'"))),
        Some(n) if !n.online => return Err(fail(500, format!("target node '{target}' is not online"))),
        Some(_) => {}
    }
    let running = guest_running(g);
    let live = truthy(params, "online") || truthy(params, "restart");
    if running && !live {
        let hint = if kind == GuestType::Qemu { "--online" } else { "--restart" };
        return Err(fail(500, format!("{} {vmid} is running - use {hint} to migrate", kind.label())));
    }
    let disk = g.disk_gib;
    let mut steps = vec![(0.5, format!("starting migration of {} {vmid} to node '{target}'", kind.label()))];
    for pct in [25u64, 50, 75, 100] {
        steps.push((
            2.0,
            format!("migration status: active (transferred {} GiB of {disk} GiB, {pct}%)", disk * pct / 100),
        ));
    }
    steps.push((0.5, "migration finished successfully".into()));
    let target_node = target.clone();
    let effect: crate::sim::state::Effect = Box::new(move |c: &mut Cluster| {
        let g = c.guests.get_mut(&vmid).ok_or("guest vanished")?;
        g.node = target_node.clone();
        for s in &mut c.storages {
            for v in &mut s.volumes {
                if v.vmid == Some(vmid) && (v.content == "images" || v.content == "rootdir") {
                    v.node = Some(target_node.clone());
                }
            }
        }
        Ok(())
    });
    let kind_name = if kind == GuestType::Qemu { "qmigrate" } else { "vzmigrate" };
    guest_task(world, c, Job { node, kind: kind_name, vmid, caller, steps, lock: Some((vmid, "migrate")), effect })
}

/// Parses `+10G`, `+512M`, `20G` into bytes; `grow` says whether it was relative.
fn parse_size(text: &str) -> Option<(u64, bool)> {
    let (grow, rest) = match text.strip_prefix('+') {
        Some(r) => (true, r),
        None => (false, text),
    };
    let (num, unit) = rest.split_at(rest.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(rest.len()));
    let n: f64 = num.parse().ok()?;
    let mult = match unit {
        "" | "B" => 1.0,
        "K" => 1024.0,
        "M" => 1024.0 * 1024.0,
        "G" => GIB as f64,
        "T" => GIB as f64 * 1024.0,
        _ => return None,
    };
    Some(((n * mult) as u64, grow))
}

fn resize(x: &mut Ctx<'_>) -> R {
    let (world, c, node, kind, vmid, params, caller) = x.parts();
    let g = &c.guests[&vmid];
    locked(g)?;
    let disk = first(params, "disk").unwrap_or_default().to_string();
    let root = if kind == GuestType::Qemu { "scsi0" } else { "rootfs" };
    if disk != root && !g.config.contains_key(&disk) {
        return Err(fail(500, format!("disk '{disk}' does not exist")));
    }
    let size_text = first(params, "size").unwrap_or_default();
    let Some((bytes, grow)) = parse_size(size_text) else {
        return Err(bad_param("size", format!("value '{size_text}' does not match the regex pattern")));
    };
    let current = g.disk_gib * GIB;
    let new = if grow { current + bytes } else { bytes };
    if new < current {
        return Err(fail(500, format!("unable to shrink disk size from {current} to {new}")));
    }
    let new_gib = new.div_ceil(GIB);
    let effect: crate::sim::state::Effect = Box::new(move |c: &mut Cluster| {
        let g = c.guests.get_mut(&vmid).ok_or("guest vanished")?;
        g.disk_gib = new_gib;
        let key = if g.kind == GuestType::Qemu { "scsi0" } else { "rootfs" };
        g.config.insert(key.into(), format!("local-lvm:vm-{vmid}-disk-0,size={new_gib}G"));
        Ok(())
    });
    let steps = vec![(1.0, format!("  Size of logical volume pve/vm-{vmid}-disk-0 changed to {new_gib}.00 GiB."))];
    let task = if kind == GuestType::Qemu { "resize" } else { "vzresize" };
    guest_task(world, c, Job { node, kind: task, vmid, caller, steps, lock: Some((vmid, "resize")), effect })
}

fn destroy(x: &mut Ctx<'_>) -> R {
    let (world, c, node, kind, vmid, _, caller) = x.parts();
    let g = &c.guests[&vmid];
    locked(g)?;
    if guest_running(g) {
        return Err(fail(500, format!("{} {vmid} is running - destroy failed", kind.label())));
    }
    guest_task(
        world,
        c,
        Job {
            node,
            kind: task_kind(kind, "destroy"),
            vmid,
            caller,
            steps: vec![(3.0, format!("  Logical volume \"vm-{vmid}-disk-0\" successfully removed."))],
            lock: Some((vmid, "destroyed")),
            effect: Box::new(move |c: &mut Cluster| {
                c.guests.remove(&vmid);
                for s in &mut c.storages {
                    s.volumes.retain(|v| !(v.vmid == Some(vmid) && (v.content == "images" || v.content == "rootdir")));
                }
                Ok(())
            }),
        },
    )
}

/// A `netN` value with a new random MAC in PVE's `BC:24:11` range.
fn fresh_mac(net: &str) -> String {
    let mut bytes = [0u8; 3];
    let _ = getrandom::fill(&mut bytes);
    let mac = format!("BC:24:11:{:02X}:{:02X}:{:02X}", bytes[0], bytes[1], bytes[2]);
    net.split(',')
        .map(|part| match part.split_once('=') {
            // `virtio=MAC` on QEMU, `hwaddr=MAC` on LXC.
            Some((key, old)) if old.len() == 17 && old.matches(':').count() == 5 => format!("{key}={mac}"),
            _ => part.to_string(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn clone(x: &mut Ctx<'_>) -> R {
    let (world, c, node, kind, vmid, params, caller) = x.parts();
    let newid: u32 = first(params, "newid").and_then(|v| v.parse().ok()).unwrap_or_default();
    if c.guests.contains_key(&newid) {
        return Err(fail(500, format!("unable to create {} {newid}: config file already exists", kind.label())));
    }
    let target = first(params, "target").unwrap_or(node).to_string();
    match c.node(&target) {
        None => return Err(bad_param("target", format!("no such cluster node '{target}'"))),
        Some(n) if !n.online => return Err(fail(500, format!("target node '{target}' is not online"))),
        Some(_) => {}
    }
    let src = c.guests[&vmid].clone();
    let full = first(params, "full").map_or(!src.template, |v| v == "1" || v == "true");
    if !full && !src.template {
        return Err(fail(500, "Linked clone feature is not supported for running or non-template guests; use full=1"));
    }
    if target != node && !full {
        return Err(bad_param("target", "Linked clones are only possible on the same node"));
    }
    let name_key = if kind == GuestType::Qemu { "name" } else { "hostname" };
    let mut copy = src.clone();
    copy.vmid = newid;
    copy.node = target.clone();
    copy.name = first(params, name_key).map_or_else(|| format!("Copy-of-{}", src.name), str::to_string);
    copy.status = "stopped".into();
    copy.template = false;
    copy.snapshots.clear();
    copy.uptime = 0;
    copy.pending.clear();
    copy.lock = Some("clone".into());
    // A clone gets its own MAC addresses, as PVE gives it.
    for value in copy.config.iter_mut().filter(|(k, _)| k.starts_with("net")).map(|(_, v)| v) {
        *value = fresh_mac(value);
    }
    copy.config.remove("parent");
    if let Some(d) = first(params, "description") {
        copy.description = Some(d.to_string());
    }
    if let Some(p) = first(params, "pool") {
        copy.pool = Some(p.to_string());
    }
    let disk = src.disk_gib;
    c.guests.insert(newid, copy);
    let mut steps = vec![(
        0.5,
        format!("create {} clone of drive scsi0 (local-lvm:vm-{vmid}-disk-0)", if full { "full" } else { "linked" }),
    )];
    if full {
        for pct in [25u64, 50, 75, 100] {
            let done = disk * pct / 100;
            steps.push((2.0, format!("transferred {done}.0 GiB of {disk}.0 GiB ({pct}.00%)")));
        }
    }
    let content = if kind == GuestType::Qemu { "images" } else { "rootdir" };
    guest_task(
        world,
        c,
        Job {
            node,
            kind: task_kind(kind, "clone"),
            vmid,
            caller,
            steps,
            lock: Some((newid, "clone")),
            effect: Box::new(move |c: &mut Cluster| {
                if let Some(s) = c.storages.iter_mut().find(|s| s.storage == "local-lvm") {
                    s.volumes.push(disk_volume(newid, target, content, disk));
                }
                Ok(())
            }),
        },
    )
}

fn guest_rrd(g: &SimGuest, params: &Params) -> Value {
    let running = guest_running(g);
    let max = first(params, "cf") == Some("MAX");
    let bump = if max { 1.3 } else { 1.0 };
    let maxmem = g.memory_mib << 20;
    let points: Vec<Value> = rrd_times(params)
        .into_iter()
        .enumerate()
        .map(|(i, t)| {
            let i = i as u64;
            let on = if running { 1.0 } else { 0.0 };
            json!({"time": t, "cpu": (wave(u64::from(g.vmid), i, 0.01, 0.4) * bump * on).min(1.0),
                   "maxcpu": g.cores, "mem": (maxmem as f64 * wave(u64::from(g.vmid), i, 0.3, 0.7) * on) as u64,
                   "maxmem": maxmem, "disk": 0, "maxdisk": g.disk_gib * GIB,
                   "netin": wave(u64::from(g.vmid), i, 1e3, 5e5) * bump * on,
                   "netout": wave(u64::from(g.vmid) + 1, i, 1e3, 3e5) * bump * on,
                   "diskread": wave(u64::from(g.vmid) + 2, i, 0.0, 2e6) * on,
                   "diskwrite": wave(u64::from(g.vmid) + 3, i, 0.0, 1e6) * on})
        })
        .collect();
    json!(points)
}
