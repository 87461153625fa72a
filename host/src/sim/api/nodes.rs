//! A node's own endpoints: status, metrics, tasks and storage.

use serde_json::{Value, json};

use super::cluster::{storage_usage, volumes_on};
use super::*;
use crate::sim::params::{Params, Ty, VMID, first, opt, req, truthy};
use crate::sim::state::{Cluster, now};

pub(super) static ROUTES: &[Route] = &[
    ("GET", "/nodes/{node}/status", "A node's load, CPU, memory, root disk and versions.", status),
    ("GET", "/nodes/{node}/tasks", "One node's tasks, newest first.", tasks),
    ("GET", "/nodes/{node}/tasks/{upid}/status", "A task's state and exit status.", task_status),
    ("GET", "/nodes/{node}/tasks/{upid}/log", "A task's log lines.", log),
    ("DELETE", "/nodes/{node}/tasks/{upid}", "Stop a running task.", stop_task),
    ("GET", "/nodes/{node}/rrddata", "A node's usage over a timeframe.", rrddata),
    ("GET", "/nodes/{node}/storage", "The storages a node can use, with their usage.", storage),
    (
        "GET",
        "/nodes/{node}/storage/{storage}/content",
        "What a storage holds: disk images, ISOs, templates, backups.",
        content,
    ),
];

fn status(x: &mut Ctx<'_>) -> R {
    check(x.params, &[])?;
    Ok(node_status(x.c, x.var("node")).into())
}

fn tasks(x: &mut Ctx<'_>) -> R {
    node_tasks(x.c, x.var("node"), x.params)
}

fn stop_task(x: &mut Ctx<'_>) -> R {
    check(x.params, &[])?;
    let upid = find_task(x.c, x.var("node"), x.var("upid"))?.upid.clone();
    crate::sim::state::stop_task(x.c, &upid);
    Ok(Value::Null.into())
}

fn task_status(x: &mut Ctx<'_>) -> R {
    check(x.params, &[])?;
    let t = find_task(x.c, x.var("node"), x.var("upid"))?;
    let mut e = task_entry(t);
    e["status"] = json!(if t.endtime.is_some() { "stopped" } else { "running" });
    if let Some(s) = &t.exitstatus {
        e["exitstatus"] = json!(s);
    }
    if let Some(end) = t.endtime {
        e["endtime"] = json!(end);
    }
    Ok(e.into())
}

fn log(x: &mut Ctx<'_>) -> R {
    task_log(x.c, x.var("node"), x.var("upid"), x.params)
}

fn rrddata(x: &mut Ctx<'_>) -> R {
    check(
        x.params,
        &[
            req("timeframe", Ty::Enum(&["hour", "day", "week", "month", "year", "decade"])),
            opt("cf", Ty::Enum(&["AVERAGE", "MAX"])),
        ],
    )?;
    Ok(node_rrd(x.c, x.var("node"), x.params).into())
}

fn storage(x: &mut Ctx<'_>) -> R {
    node_storage(x.c, x.var("node"), x.params)
}

fn content(x: &mut Ctx<'_>) -> R {
    storage_content(x.c, x.var("node"), x.var("storage"), x.params)
}

pub(super) fn find_task<'a>(c: &'a Cluster, node: &str, upid: &str) -> Result<&'a crate::sim::state::Task, ApiErr> {
    c.tasks.iter().find(|t| t.upid == upid && t.node == node).ok_or_else(|| fail(500, "no such task"))
}

pub(super) fn node_status(c: &Cluster, node: &str) -> Value {
    let Some(n) = c.node(node) else { return Value::Null };
    json!({
        "cpu": n.cpu, "wait": 0.003, "idle": 0,
        "cpuinfo": {"cores": n.maxcpu / 2, "cpus": n.maxcpu, "model": "AMD EPYC 7313P 16-Core Processor",
                    "sockets": 1, "mhz": "3000.000", "hvm": "1", "flags": "fpu vme de pse", "user_hz": 100},
        "memory": {"total": n.maxmem, "used": n.mem, "free": n.maxmem - n.mem, "available": n.maxmem - n.mem},
        "swap": {"total": 8 * GIB, "used": 0, "free": 8 * GIB},
        "rootfs": {"total": n.maxdisk, "used": n.disk, "free": n.maxdisk - n.disk, "avail": n.maxdisk - n.disk},
        "loadavg": n.loadavg.iter().map(|l| format!("{l:.2}")).collect::<Vec<_>>(),
        "pveversion": format!("pve-manager/{}/8a4c1e2f", c.version),
        "kversion": format!("Linux {} #1 SMP PREEMPT_DYNAMIC PMX {} (2026-10-02T09:11Z)", n.kernel, n.kernel),
        "current-kernel": {"sysname": "Linux", "release": n.kernel, "machine": "x86_64",
                           "version": "#1 SMP PREEMPT_DYNAMIC PMX (2026-10-02T09:11Z)"},
        "boot-info": {"mode": "efi", "secureboot": 0},
        "uptime": n.uptime + c.elapsed(),
        "ksm": {"shared": 0},
    })
}

pub(super) fn node_tasks(c: &Cluster, node: &str, params: &Params) -> R {
    check(
        params,
        &[
            opt("errors", Ty::Bool),
            opt("limit", Ty::Int(0, i64::MAX)),
            opt("start", Ty::Int(0, i64::MAX)),
            opt("vmid", VMID),
            opt("source", Ty::Enum(&["archive", "active", "all"])),
            opt("typefilter", Ty::Str),
            opt("userfilter", Ty::Str),
            opt("statusfilter", Ty::Str),
            opt("since", Ty::Int(i64::MIN, i64::MAX)),
            opt("until", Ty::Int(i64::MIN, i64::MAX)),
        ],
    )?;
    let limit = first(params, "limit").and_then(|v| v.parse().ok()).unwrap_or(50usize);
    let start = first(params, "start").and_then(|v| v.parse().ok()).unwrap_or(0usize);
    let source = first(params, "source").unwrap_or("archive");
    let errors = truthy(params, "errors");
    let list: Vec<Value> = c
        .tasks
        .iter()
        .rev()
        .filter(|t| t.node == node)
        .filter(|t| match source {
            "active" => t.endtime.is_none(),
            "all" => true,
            _ => t.endtime.is_some(),
        })
        .filter(|t| !errors || t.exitstatus.as_deref().is_some_and(|s| s != "OK"))
        .filter(|t| first(params, "vmid").is_none_or(|v| t.id == v))
        .filter(|t| first(params, "typefilter").is_none_or(|v| t.kind == v))
        .filter(|t| first(params, "userfilter").is_none_or(|v| t.user.contains(v)))
        .skip(start)
        .take(limit)
        .map(task_entry)
        .collect();
    Ok(json!(list).into())
}

pub(super) fn task_log(c: &Cluster, node: &str, upid: &str, params: &Params) -> R {
    check(
        params,
        &[opt("start", Ty::Int(0, i64::MAX)), opt("limit", Ty::Int(0, i64::MAX)), opt("download", Ty::Bool)],
    )?;
    let t = find_task(c, node, upid)?;
    let start = first(params, "start").and_then(|v| v.parse().ok()).unwrap_or(0usize);
    let limit = first(params, "limit").and_then(|v| v.parse().ok()).unwrap_or(50usize);
    let lines: Vec<Value> =
        t.log.iter().enumerate().skip(start).take(limit).map(|(i, l)| json!({"n": i + 1, "t": l})).collect();
    Ok(Answer { data: json!(lines), extra: Some(("total", json!(t.log.len()))) })
}

pub(super) fn node_storage(c: &Cluster, node: &str, params: &Params) -> R {
    check(
        params,
        &[
            opt("content", Ty::Str),
            opt("enabled", Ty::Bool),
            opt("format", Ty::Bool),
            opt("storage", Ty::Str),
            opt("target", Ty::Str),
        ],
    )?;
    let list: Vec<Value> = c
        .storages
        .iter()
        .filter(|s| s.nodes.as_ref().is_none_or(|ns| ns.iter().any(|n| n == node)))
        .filter(|s| first(params, "storage").is_none_or(|id| id == s.storage))
        .filter(|s| first(params, "content").is_none_or(|ct| ct.split(',').any(|x| s.content.iter().any(|y| y == x))))
        .map(|s| {
            let (used, total) = storage_usage(s, node);
            json!({"storage": s.storage, "type": s.kind, "content": s.content.join(","), "active": 1,
                   "enabled": 1, "shared": u8::from(s.shared), "total": total, "used": used,
                   "avail": total - used, "used_fraction": used as f64 / total as f64})
        })
        .collect();
    Ok(json!(list).into())
}

pub(super) fn storage_content(c: &Cluster, node: &str, storage: &str, params: &Params) -> R {
    check(params, &[opt("content", Ty::Str), opt("vmid", VMID)])?;
    let s = c
        .storages
        .iter()
        .find(|s| s.storage == storage)
        .ok_or_else(|| fail(500, format!("storage '{storage}' does not exist")))?;
    let list: Vec<Value> = volumes_on(s, node)
        .filter(|v| first(params, "content").is_none_or(|ct| ct == v.content))
        .filter(|v| first(params, "vmid").is_none_or(|id| v.vmid.map(|x| x.to_string()).as_deref() == Some(id)))
        .map(|v| {
            let mut e = json!({"volid": v.volid, "content": v.content, "format": v.format, "size": v.size,
                               "ctime": v.ctime});
            if let Some(id) = v.vmid {
                e["vmid"] = json!(id);
            }
            if let Some(n) = &v.notes {
                e["notes"] = json!(n);
            }
            if v.content == "backup" {
                e["subtype"] = json!(if v.volid.contains("-lxc-") { "lxc" } else { "qemu" });
            }
            if let Some(state) = &v.verification {
                e["verification"] = json!({"state": state, "upid": format!("UPID:pbs:0000A1B2:00C3D4E5:{:08X}:verificationjob:backup\\x2dpbs:root@pam:", v.ctime)});
            }
            if v.protected {
                e["protected"] = json!(1);
            }
            e
        })
        .collect();
    Ok(json!(list).into())
}

/// RRD points: 70 samples ending now, spaced as PVE spaces them.
pub(super) fn rrd_times(params: &Params) -> Vec<u64> {
    let step = match first(params, "timeframe") {
        Some("day") => 1800,
        Some("week") => 10_800,
        Some("month") => 43_200,
        Some("year") => 604_800,
        Some("decade") => 6_048_000,
        _ => 60,
    };
    let end = now() / step * step;
    (0..70u64).map(|i| end - (69 - i) * step).collect()
}

/// A smooth, repeatable wave between `lo` and `hi` (fractions of 1).
pub(super) fn wave(seed: u64, i: u64, lo: f64, hi: f64) -> f64 {
    let phase = (seed % 17) as f64 + i as f64 / 7.0;
    lo + (hi - lo) * (0.5 + 0.5 * phase.sin())
}

pub(super) fn node_rrd(c: &Cluster, node: &str, params: &Params) -> Value {
    let Some(n) = c.node(node) else { return json!([]) };
    let seed = node.bytes().map(u64::from).sum::<u64>();
    let max = first(params, "cf") == Some("MAX");
    let bump = if max { 1.3 } else { 1.0 };
    let points: Vec<Value> = rrd_times(params)
        .into_iter()
        .enumerate()
        .map(|(i, t)| {
            let i = i as u64;
            let mem = (n.maxmem as f64 * wave(seed, i, 0.5, 0.65)) as u64;
            json!({"time": t, "cpu": (wave(seed, i, 0.03, 0.15) * bump).min(1.0), "maxcpu": n.maxcpu,
                   "memused": mem, "memtotal": n.maxmem, "loadavg": wave(seed, i, 0.2, 1.4) * bump,
                   "iowait": wave(seed + 3, i, 0.0, 0.02), "netin": wave(seed, i, 2e5, 9e5) * bump,
                   "netout": wave(seed + 5, i, 1e5, 6e5) * bump, "rootused": n.disk, "roottotal": n.maxdisk,
                   "swapused": 0, "swaptotal": 8 * GIB})
        })
        .collect();
    json!(points)
}
