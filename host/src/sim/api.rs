//! The simulated API: routes, parameter checks and handlers. Answers
//! follow the shapes of the official schema and PVE's own error messages.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::params::{P, Params, Ty, VMID, first, opt, req, truthy, verify};
use super::seed::{GuestType, SimGuest, SimSnapshot, SimVolume};
use super::state::{Cluster, TaskSpec, World, now};

const GIB: u64 = 1 << 30;

/// An error answer.
#[derive(Debug)]
pub struct ApiErr {
    /// HTTP status.
    pub status: u16,
    /// PVE's message.
    pub message: String,
    /// Per-field errors (400 only).
    pub errors: BTreeMap<String, String>,
}

fn fail(status: u16, message: impl Into<String>) -> ApiErr {
    ApiErr { status, message: message.into(), errors: BTreeMap::new() }
}

fn bad_param(field: &str, message: impl Into<String>) -> ApiErr {
    let mut errors = BTreeMap::new();
    errors.insert(field.to_string(), message.into());
    ApiErr { status: 400, message: "Parameter verification failed.".into(), errors }
}

fn check(params: &Params, spec: &[P]) -> Result<(), ApiErr> {
    verify(params, spec).map_err(|errors| ApiErr {
        status: 400,
        message: "Parameter verification failed.".into(),
        errors,
    })
}

/// A successful answer: `data`, plus extra top-level members (task logs
/// carry `total`).
pub struct Answer {
    /// The `data` member.
    pub data: Value,
    /// Other top-level members.
    pub extra: Option<(&'static str, Value)>,
}

impl From<Value> for Answer {
    fn from(data: Value) -> Self {
        Answer { data, extra: None }
    }
}

type R = Result<Answer, ApiErr>;

/// Who is calling.
pub struct Caller {
    /// `USER@REALM` (of the token's user for tokens).
    pub user: String,
    /// Whether the caller holds write privileges.
    pub can_write: bool,
}

/// Handles one request. `segs` are the decoded segments after `/api2/json`.
pub fn handle(world: &Arc<World>, method: &str, segs: &[&str], params: &Params, caller: &Caller) -> R {
    let not_implemented = || fail(501, format!("Method '{method} /{}' not implemented", segs.join("/")));
    if method != "GET" && !caller.can_write {
        return Err(fail(403, format!("Permission check failed ({}, {})", acl_path(segs), privilege(segs))));
    }
    let mut c = world.lock();
    match (method, segs) {
        ("GET", ["version"]) => {
            check(params, &[])?;
            Ok(json!({"version": c.version, "release": release(&c.version), "repoid": "8a4c1e2f", "console": "html5"})
                .into())
        }
        ("GET", ["cluster", "status"]) => {
            check(params, &[])?;
            Ok(cluster_status(&c).into())
        }
        ("GET", ["cluster", "resources"]) => {
            check(params, &[opt("type", Ty::Enum(&["vm", "storage", "node", "sdn"]))])?;
            Ok(resources(&c, first(params, "type")).into())
        }
        ("GET", ["cluster", "nextid"]) => {
            check(params, &[opt("vmid", VMID)])?;
            nextid(&c, first(params, "vmid"))
        }
        ("GET", ["cluster", "tasks"]) => {
            check(params, &[])?;
            let tasks: Vec<Value> = c.tasks.iter().rev().take(50).map(task_entry).collect();
            Ok(json!(tasks).into())
        }
        ("GET", ["nodes"]) => {
            check(params, &[])?;
            Ok(json!(c.nodes.iter().map(|n| node_entry(&c, n)).collect::<Vec<_>>()).into())
        }
        ("GET", ["pools"]) => {
            check(params, &[opt("poolid", Ty::Str), opt("type", Ty::Enum(&["qemu", "lxc", "storage"]))])?;
            Ok(pools(&c, first(params, "poolid")).into())
        }
        ("GET", ["storage"]) => {
            check(params, &[opt("type", Ty::Str)])?;
            let list: Vec<Value> = c
                .storages
                .iter()
                .filter(|s| first(params, "type").is_none_or(|t| t == s.kind))
                .map(|s| {
                    json!({"storage": s.storage, "type": s.kind, "content": s.content.join(","),
                           "shared": u8::from(s.shared), "digest": digest(&s.storage)})
                })
                .collect();
            Ok(json!(list).into())
        }
        (_, ["nodes", node, rest @ ..]) => {
            let node = node.to_string();
            match c.node(&node) {
                None => {
                    return Err(fail(
                        500,
                        format!(
                            "hostname lookup '{node}' failed - failed to get address info for: {node}: Name or service not known"
                        ),
                    ));
                }
                Some(n) if !n.online => return Err(fail(595, "No route to host")),
                Some(_) => {}
            }
            node_routes(world, &mut c, method, &node, rest, params, caller).ok_or_else(not_implemented)?
        }
        _ => Err(not_implemented()),
    }
}

fn release(version: &str) -> String {
    version.rsplit_once('.').map_or(version, |(r, _)| r).to_string()
}

fn digest(text: &str) -> String {
    hex::encode(&Sha256::digest(text.as_bytes())[..20])
}

fn acl_path(segs: &[&str]) -> String {
    match segs {
        ["nodes", _, "qemu" | "lxc", vmid, ..] => format!("/vms/{vmid}"),
        ["nodes", _, "storage", storage, ..] => format!("/storage/{storage}"),
        ["nodes", node, ..] => format!("/nodes/{node}"),
        _ => "/".into(),
    }
}

fn privilege(segs: &[&str]) -> &'static str {
    match segs {
        ["nodes", _, "qemu" | "lxc", _, "status", ..] => "VM.PowerMgmt",
        ["nodes", _, "qemu" | "lxc", _, "snapshot", ..] => "VM.Snapshot",
        ["nodes", _, "qemu" | "lxc", _, "clone"] => "VM.Clone",
        ["nodes", _, "qemu" | "lxc", _, "migrate"] => "VM.Migrate",
        ["nodes", _, "qemu" | "lxc", _, "config"] => "VM.Config.Options",
        ["nodes", _, "qemu" | "lxc", _, "resize"] => "VM.Config.Disk",
        ["nodes", _, "qemu", _, "agent", ..] => "VM.GuestAgent.Unrestricted",
        ["nodes", _, "qemu" | "lxc", _] => "VM.Allocate",
        ["nodes", _, "vzdump"] => "VM.Backup",
        _ => "Sys.Modify",
    }
}

fn cluster_status(c: &Cluster) -> Value {
    let online = c.nodes.iter().filter(|n| n.online).count();
    let quorate = online * 2 > c.nodes.len();
    let mut out = vec![json!({"type": "cluster", "id": "cluster", "name": c.cluster_name, "nodes": c.nodes.len(),
                              "quorate": u8::from(quorate), "version": 7})];
    for (i, n) in c.nodes.iter().enumerate() {
        out.push(json!({"type": "node", "id": format!("node/{}", n.name), "name": n.name,
                        "ip": format!("10.0.0.{}", 11 + i), "level": "", "local": u8::from(i == 0),
                        "nodeid": i + 1, "online": u8::from(n.online)}));
    }
    json!(out)
}

fn node_entry(c: &Cluster, n: &super::seed::SimNode) -> Value {
    if !n.online {
        return json!({"node": n.name, "status": "offline", "id": format!("node/{}", n.name), "type": "node"});
    }
    json!({"node": n.name, "status": "online", "id": format!("node/{}", n.name), "type": "node", "level": "",
           "cpu": n.cpu, "maxcpu": n.maxcpu, "mem": n.mem, "maxmem": n.maxmem, "disk": n.disk,
           "maxdisk": n.maxdisk, "uptime": n.uptime + c.elapsed(),
           "ssl_fingerprint": "5A:3C:91:0E:7B:22:D4:18:6F:AA:01:9C:3E:B7:55:20:C1:84:6D:F2:0B:93:47:E8:1A:C5:29:7D:B0:66:E3:4F"})
}

fn guest_running(g: &SimGuest) -> bool {
    g.status == "running" || g.status == "paused"
}

fn guest_mem(g: &SimGuest) -> u64 {
    if guest_running(g) { (g.memory_mib << 20) * 11 / 20 } else { 0 }
}

fn guest_uptime(c: &Cluster, g: &SimGuest) -> u64 {
    if guest_running(g) { g.uptime + c.elapsed() } else { 0 }
}

fn resources(c: &Cluster, kind: Option<&str>) -> Value {
    let mut out = Vec::new();
    let online = |node: &str| c.node(node).is_some_and(|n| n.online);
    if kind.is_none() || kind == Some("node") {
        for n in &c.nodes {
            let mut e = node_entry(c, n);
            e["id"] = json!(format!("node/{}", n.name));
            out.push(e);
        }
    }
    if kind.is_none() || kind == Some("vm") {
        for g in c.guests.values() {
            let status = if online(&g.node) { g.status.as_str() } else { "unknown" };
            let mut e = json!({"id": format!("{}/{}", g.kind.as_str(), g.vmid), "type": g.kind.as_str(),
                               "vmid": g.vmid, "name": g.name, "node": g.node, "status": status,
                               "template": u8::from(g.template), "maxcpu": g.cores, "maxmem": g.memory_mib << 20,
                               "maxdisk": g.disk_gib * GIB, "disk": 0, "mem": guest_mem(g),
                               "cpu": if guest_running(g) { 0.021 } else { 0.0 }, "uptime": guest_uptime(c, g),
                               "netin": 0, "netout": 0, "diskread": 0, "diskwrite": 0});
            if !g.tags.is_empty() {
                e["tags"] = json!(g.tags.join(";"));
            }
            if let Some(pool) = &g.pool {
                e["pool"] = json!(pool);
            }
            if let Some(lock) = &g.lock {
                e["lock"] = json!(lock);
            }
            out.push(e);
        }
    }
    if kind.is_none() || kind == Some("storage") {
        for n in c.nodes.iter().filter(|n| n.online) {
            for s in &c.storages {
                let (used, total) = storage_usage(s, &n.name);
                out.push(json!({"id": format!("storage/{}/{}", n.name, s.storage), "type": "storage",
                                "storage": s.storage, "node": n.name, "status": "available",
                                "plugintype": s.kind, "content": s.content.join(","), "shared": u8::from(s.shared),
                                "disk": used, "maxdisk": total}));
            }
        }
    }
    if kind.is_none() {
        for p in &c.pools {
            out.push(json!({"id": format!("/pool/{}", p.poolid), "type": "pool", "pool": p.poolid}));
        }
    }
    json!(out)
}

fn storage_usage(s: &super::seed::SimStorage, node: &str) -> (u64, u64) {
    let used: u64 = s.base_used + volumes_on(s, node).map(|v| v.size).sum::<u64>();
    (used.min(s.total), s.total)
}

fn volumes_on<'a>(s: &'a super::seed::SimStorage, node: &'a str) -> impl Iterator<Item = &'a SimVolume> + 'a {
    s.volumes.iter().filter(move |v| s.shared || v.node.as_deref().is_none_or(|n| n == node))
}

fn nextid(c: &Cluster, wanted: Option<&str>) -> R {
    if let Some(w) = wanted {
        let id: u32 = w.parse().map_err(|_| bad_param("vmid", "invalid vmid"))?;
        if c.guests.contains_key(&id) {
            return Err(bad_param("vmid", format!("VM {id} already exists")));
        }
        return Ok(json!(id.to_string()).into());
    }
    let id = (100u32..).find(|id| !c.guests.contains_key(id)).unwrap_or(100);
    Ok(json!(id.to_string()).into())
}

fn pools(c: &Cluster, poolid: Option<&str>) -> Value {
    let list: Vec<Value> = c
        .pools
        .iter()
        .filter(|p| poolid.is_none_or(|id| id == p.poolid))
        .map(|p| {
            let members: Vec<Value> = c
                .guests
                .values()
                .filter(|g| g.pool.as_deref() == Some(p.poolid.as_str()))
                .map(|g| {
                    json!({"id": format!("{}/{}", g.kind.as_str(), g.vmid), "node": g.node,
                           "type": g.kind.as_str(), "vmid": g.vmid, "name": g.name, "status": g.status})
                })
                .collect();
            json!({"poolid": p.poolid, "comment": p.comment, "members": members})
        })
        .collect();
    json!(list)
}

fn task_entry(t: &super::state::Task) -> Value {
    let mut e = json!({"upid": t.upid, "node": t.node, "pid": t.pid, "pstart": t.pstart,
                       "starttime": t.starttime, "type": t.kind, "id": t.id, "user": t.user});
    if let (Some(end), Some(status)) = (t.endtime, &t.exitstatus) {
        e["endtime"] = json!(end);
        e["status"] = json!(status);
    }
    e
}

fn node_routes(
    world: &Arc<World>,
    c: &mut Cluster,
    method: &str,
    node: &str,
    rest: &[&str],
    params: &Params,
    caller: &Caller,
) -> Option<R> {
    let result = match (method, rest) {
        ("GET", ["status"]) => check(params, &[]).map(|()| node_status(c, node).into()),
        ("GET", ["tasks"]) => node_tasks(c, node, params),
        ("GET", ["tasks", upid, "status"]) => check(params, &[]).and_then(|()| {
            let t = find_task(c, node, upid)?;
            let mut e = task_entry(t);
            e["status"] = json!(if t.endtime.is_some() { "stopped" } else { "running" });
            if let Some(x) = &t.exitstatus {
                e["exitstatus"] = json!(x);
            }
            if let Some(end) = t.endtime {
                e["endtime"] = json!(end);
            }
            Ok(e.into())
        }),
        ("GET", ["tasks", upid, "log"]) => task_log(c, node, upid, params),
        ("GET", ["rrddata"]) => check(
            params,
            &[
                req("timeframe", Ty::Enum(&["hour", "day", "week", "month", "year", "decade"])),
                opt("cf", Ty::Enum(&["AVERAGE", "MAX"])),
            ],
        )
        .map(|()| node_rrd(c, node, params).into()),
        ("GET", ["storage"]) => node_storage(c, node, params),
        ("GET", ["storage", storage, "content"]) => storage_content(c, node, storage, params),
        ("POST", ["vzdump"]) => vzdump(world, c, node, params, caller),
        ("POST", [kind @ ("qemu" | "lxc")]) => create(world, c, node, kind_of(kind), params, caller),
        ("GET", [kind @ ("qemu" | "lxc")]) => {
            let kind = kind_of(kind);
            let spec: &[P] = if kind == GuestType::Qemu { &[opt("full", Ty::Bool)] } else { &[] };
            check(params, spec).map(|()| {
                let list: Vec<Value> = c
                    .guests
                    .values()
                    .filter(|g| g.node == node && g.kind == kind)
                    .map(|g| guest_status(c, g, false))
                    .collect();
                json!(list).into()
            })
        }
        (_, [kind @ ("qemu" | "lxc"), vmid, tail @ ..]) => {
            let kind = kind_of(kind);
            let vmid = match parse_vmid(vmid) {
                Ok(v) => v,
                Err(e) => return Some(Err(e)),
            };
            if let Err(e) = existing(c, node, kind, vmid) {
                // PVE answers 501 for unknown methods before looking up the guest.
                return guest_routes(world, c, method, node, kind, vmid, tail, params, caller).map(|_| Err(e));
            }
            return guest_routes(world, c, method, node, kind, vmid, tail, params, caller);
        }
        _ => return None,
    };
    Some(result)
}

fn kind_of(s: &str) -> GuestType {
    if s == "lxc" { GuestType::Lxc } else { GuestType::Qemu }
}

fn parse_vmid(s: &str) -> Result<u32, ApiErr> {
    match s.parse::<u32>() {
        Ok(v) if v >= 100 => Ok(v),
        _ => Err(bad_param("vmid", "value does not look like a valid VM ID")),
    }
}

fn conf_path(node: &str, kind: GuestType, vmid: u32) -> String {
    match kind {
        GuestType::Qemu => format!("nodes/{node}/qemu-server/{vmid}.conf"),
        GuestType::Lxc => format!("nodes/{node}/lxc/{vmid}.conf"),
    }
}

fn existing(c: &Cluster, node: &str, kind: GuestType, vmid: u32) -> Result<(), ApiErr> {
    match c.guests.get(&vmid) {
        Some(g) if g.node == node && g.kind == kind => Ok(()),
        _ => Err(fail(500, format!("Configuration file '{}' does not exist", conf_path(node, kind, vmid)))),
    }
}

fn find_task<'a>(c: &'a Cluster, node: &str, upid: &str) -> Result<&'a super::state::Task, ApiErr> {
    c.tasks.iter().find(|t| t.upid == upid && t.node == node).ok_or_else(|| fail(500, "no such task"))
}

fn node_status(c: &Cluster, node: &str) -> Value {
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

fn node_tasks(c: &Cluster, node: &str, params: &Params) -> R {
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

fn task_log(c: &Cluster, node: &str, upid: &str, params: &Params) -> R {
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

fn node_storage(c: &Cluster, node: &str, params: &Params) -> R {
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

fn storage_content(c: &Cluster, node: &str, storage: &str, params: &Params) -> R {
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
            e
        })
        .collect();
    Ok(json!(list).into())
}

fn guest_status(c: &Cluster, g: &SimGuest, current: bool) -> Value {
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

fn guest_config(g: &SimGuest) -> Value {
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

#[allow(clippy::too_many_arguments)]
fn guest_routes(
    world: &Arc<World>,
    c: &mut Cluster,
    method: &str,
    node: &str,
    kind: GuestType,
    vmid: u32,
    tail: &[&str],
    params: &Params,
    caller: &Caller,
) -> Option<R> {
    let qemu = kind == GuestType::Qemu;
    let result = match (method, tail) {
        ("GET", ["status", "current"]) => check(params, &[])
            .map(|()| c.guests.get(&vmid).map(|g| guest_status(c, g, true)).unwrap_or_default().into()),
        ("GET", ["config"]) => check(params, &[opt("current", Ty::Bool), opt("snapshot", Ty::Str)])
            .map(|()| c.guests.get(&vmid).map(guest_config).unwrap_or_default().into()),
        ("GET", ["pending"]) => check(params, &[]).map(|()| {
            let g = &c.guests[&vmid];
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
                if !cfg.get(k).is_some_and(|_| true) {
                    out.push(json!({"key": k, "pending": p}));
                }
            }
            json!(out).into()
        }),
        ("POST", ["status", action]) => {
            let spec: &[P] = match (*action, qemu) {
                ("start", true) => &[opt("skiplock", Ty::Bool), opt("timeout", Ty::Int(0, i64::MAX))],
                ("start", false) => &[opt("debug", Ty::Bool), opt("skiplock", Ty::Bool)],
                ("stop", _) => &[
                    opt("skiplock", Ty::Bool),
                    opt("timeout", Ty::Int(0, i64::MAX)),
                    opt("keepActive", Ty::Bool),
                    opt("overrule-shutdown", Ty::Bool),
                ],
                ("shutdown", _) => &[
                    opt("forceStop", Ty::Bool),
                    opt("timeout", Ty::Int(0, i64::MAX)),
                    opt("keepActive", Ty::Bool),
                    opt("skiplock", Ty::Bool),
                ],
                ("reboot", _) => &[opt("timeout", Ty::Int(0, i64::MAX))],
                ("reset", true) => &[opt("skiplock", Ty::Bool)],
                ("suspend", true) => {
                    &[opt("todisk", Ty::Bool), opt("skiplock", Ty::Bool), opt("statestorage", Ty::Str)]
                }
                ("suspend", false) | ("resume", false) => &[],
                ("resume", true) => &[opt("skiplock", Ty::Bool), opt("nocheck", Ty::Bool)],
                _ => return None,
            };
            check(params, spec).and_then(|()| power(world, c, node, kind, vmid, action, params, caller))
        }
        ("GET", ["rrddata"]) => check(
            params,
            &[
                req("timeframe", Ty::Enum(&["hour", "day", "week", "month", "year"])),
                opt("cf", Ty::Enum(&["AVERAGE", "MAX"])),
            ],
        )
        .map(|()| guest_rrd(&c.guests[&vmid], params).into()),
        ("GET", ["snapshot"]) => check(params, &[]).map(|()| {
            let g = &c.guests[&vmid];
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
            let mut current = json!({"name": "current", "description": "You are here!",
                                     "running": u8::from(guest_running(g))});
            if let Some(p) = g.config.get("parent") {
                current["parent"] = json!(p);
            }
            list.push(current);
            json!(list).into()
        }),
        ("POST", ["snapshot"]) => {
            let spec: &[P] = if qemu {
                &[req("snapname", Ty::Str), opt("description", Ty::Str), opt("vmstate", Ty::Bool)]
            } else {
                &[req("snapname", Ty::Str), opt("description", Ty::Str)]
            };
            check(params, spec).and_then(|()| snapshot_create(world, c, node, kind, vmid, params, caller))
        }
        ("DELETE", ["snapshot", name]) => check(params, &[opt("force", Ty::Bool)])
            .and_then(|()| snapshot_delete(world, c, node, kind, vmid, name, caller)),
        ("POST", ["snapshot", name, "rollback"]) => check(params, &[opt("start", Ty::Bool)])
            .and_then(|()| snapshot_rollback(world, c, node, kind, vmid, name, params, caller)),
        ("GET", ["snapshot", name]) => check(params, &[]).and_then(|()| {
            let g = &c.guests[&vmid];
            if g.snapshots.iter().any(|s| s.name == *name) {
                Ok(json!([{"subdir": "rollback"}, {"subdir": "config"}]).into())
            } else {
                Err(fail(500, format!("snapshot '{name}' does not exist")))
            }
        }),
        ("DELETE", []) => {
            let spec: &[P] = if qemu {
                &[opt("purge", Ty::Bool), opt("destroy-unreferenced-disks", Ty::Bool), opt("skiplock", Ty::Bool)]
            } else {
                &[opt("purge", Ty::Bool), opt("destroy-unreferenced-disks", Ty::Bool), opt("force", Ty::Bool)]
            };
            check(params, spec).and_then(|()| destroy(world, c, node, kind, vmid, caller))
        }
        ("PUT", ["config"]) | ("POST", ["config"]) if method == "PUT" || qemu => {
            let spec = config_spec(kind);
            check(params, &spec).and_then(|()| set_config(world, c, node, vmid, params, caller, method == "POST"))
        }
        ("PUT", ["resize"]) => check(
            params,
            &[req("disk", Ty::Str), req("size", Ty::Str), opt("digest", Ty::Str), opt("skiplock", Ty::Bool)],
        )
        .and_then(|()| resize(world, c, node, kind, vmid, params, caller)),
        ("POST", ["agent", "exec"]) if qemu => check(params, &[req("command", Ty::Str), opt("input-data", Ty::Str)])
            .and_then(|()| agent_exec(c, vmid, params)),
        ("GET", ["agent", "exec-status"]) if qemu => {
            check(params, &[req("pid", Ty::Int(0, i64::MAX))]).and_then(|()| agent_exec_status(c, vmid, params))
        }
        ("GET", ["migrate"]) if qemu => check(params, &[opt("target", Ty::Str)]).map(|()| {
            let g = &c.guests[&vmid];
            let allowed: Vec<&str> =
                c.nodes.iter().filter(|n| n.online && n.name != node).map(|n| n.name.as_str()).collect();
            json!({"running": u8::from(guest_running(g)), "has-dbus-vmstate": 0,
                   "local_disks": [{"volid": format!("local-lvm:vm-{vmid}-disk-0"), "size": g.disk_gib * GIB,
                                    "cdrom": 0, "is_unused": 0}],
                   "local_resources": [], "mapped-resources": [], "mapped-resource-info": {},
                   "allowed_nodes": allowed, "not_allowed_nodes": {}})
            .into()
        }),
        ("POST", ["migrate"]) => {
            let spec: &[P] = if qemu {
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
            check(params, spec).and_then(|()| migrate(world, c, node, kind, vmid, params, caller))
        }
        ("POST", ["clone"]) => {
            let name_key = if qemu { "name" } else { "hostname" };
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
            check(params, &spec).and_then(|()| clone(world, c, node, kind, vmid, params, caller))
        }
        _ => return None,
    };
    Some(result)
}

fn locked(g: &SimGuest) -> Result<(), ApiErr> {
    match &g.lock {
        Some(lock) => Err(fail(500, format!("{} {} is locked ({lock})", g.kind.label(), g.vmid))),
        None => Ok(()),
    }
}

fn task_prefix(kind: GuestType) -> &'static str {
    if kind == GuestType::Qemu { "qm" } else { "vz" }
}

fn task_kind(kind: GuestType, what: &str) -> &'static str {
    // Leak-free static names: the set is closed.
    match (task_prefix(kind), what) {
        ("qm", "start") => "qmstart",
        ("qm", "stop") => "qmstop",
        ("qm", "shutdown") => "qmshutdown",
        ("qm", "reboot") => "qmreboot",
        ("qm", "reset") => "qmreset",
        ("qm", "suspend") => "qmsuspend",
        ("qm", "resume") => "qmresume",
        ("qm", "snapshot") => "qmsnapshot",
        ("qm", "delsnapshot") => "qmdelsnapshot",
        ("qm", "rollback") => "qmrollback",
        ("qm", "destroy") => "qmdestroy",
        ("qm", "clone") => "qmclone",
        ("vz", "start") => "vzstart",
        ("vz", "stop") => "vzstop",
        ("vz", "shutdown") => "vzshutdown",
        ("vz", "reboot") => "vzreboot",
        ("vz", "suspend") => "vzsuspend",
        ("vz", "resume") => "vzresume",
        ("vz", "snapshot") => "vzsnapshot",
        ("vz", "delsnapshot") => "vzdelsnapshot",
        ("vz", "rollback") => "vzrollback",
        ("vz", "destroy") => "vzdestroy",
        ("vz", "clone") => "vzclone",
        _ => "unknown",
    }
}

/// Starts a task on guest `vmid` (its id as the task's object) and answers
/// with the UPID.
#[allow(clippy::too_many_arguments)]
fn guest_task(
    world: &Arc<World>,
    c: &mut Cluster,
    node: &str,
    kind: &'static str,
    vmid: u32,
    caller: &Caller,
    steps: Vec<(f64, String)>,
    lock: Option<(u32, &'static str)>,
    effect: super::state::Effect,
) -> R {
    let spec =
        TaskSpec { node: node.into(), kind, id: vmid.to_string(), user: caller.user.clone(), steps, lock, effect };
    Ok(json!(world.start_task(c, spec)).into())
}

fn set_status(vmid: u32, status: &'static str) -> super::state::Effect {
    Box::new(move |c: &mut Cluster| {
        let g = c.guests.get_mut(&vmid).ok_or("guest vanished")?;
        g.status = status.into();
        Ok(())
    })
}

/// A (re)start: as in PVE, pending changes take effect when the guest
/// starts again.
fn start_applying_pending(vmid: u32) -> super::state::Effect {
    Box::new(move |c: &mut Cluster| {
        let g = c.guests.get_mut(&vmid).ok_or("guest vanished")?;
        let pending = std::mem::take(&mut g.pending);
        for (key, value) in pending {
            match key.as_str() {
                "cores" => g.cores = value.parse().map_err(|_| "bad pending cores")?,
                "memory" => g.memory_mib = memory_mib(&value).map_err(|_| "bad pending memory")?,
                _ => {
                    g.config.insert(key, value);
                }
            }
        }
        g.status = "running".into();
        Ok(())
    })
}

/// Memory in MiB as PVE's qemu `memory` option takes it: `[current=]<MiB>`,
/// a plain integer (so `8G` is refused).
fn memory_mib(value: &str) -> Result<u64, ApiErr> {
    let mib = value.split(',').next().unwrap_or_default().trim_start_matches("current=");
    match mib.parse::<u64>() {
        Ok(v) if v >= 16 => Ok(v),
        Ok(_) => Err(bad_param("memory", format!("value '{value}' must have a minimum value of 16"))),
        Err(_) => Err(bad_param("memory", format!("value '{value}' does not look like a valid integer"))),
    }
}

#[allow(clippy::too_many_arguments)]
fn power(
    world: &Arc<World>,
    c: &mut Cluster,
    node: &str,
    kind: GuestType,
    vmid: u32,
    action: &str,
    params: &Params,
    caller: &Caller,
) -> R {
    let g = &c.guests[&vmid];
    let label = kind.label();
    if !truthy(params, "skiplock") {
        locked(g)?;
    }
    if g.template && action == "start" {
        return Err(fail(500, "you can't start a vm if it's a template"));
    }
    let running = guest_running(g);
    let (target, secs): (&'static str, f64) = match action {
        "start" if running => return Err(fail(500, format!("{label} {vmid} already running"))),
        "start" => ("running", 2.0),
        "stop" | "shutdown" | "reboot" | "reset" | "suspend" if !running => {
            return Err(fail(500, format!("{label} {vmid} not running")));
        }
        "stop" => ("stopped", 1.0),
        "shutdown" => ("stopped", 4.0),
        "reboot" | "reset" => ("running", 5.0),
        "suspend" if truthy(params, "todisk") => ("stopped", 6.0),
        "suspend" => ("paused", 1.0),
        "resume" if g.status != "paused" => {
            return Err(fail(500, format!("{label} {vmid} not paused")));
        }
        "resume" => ("running", 1.0),
        _ => return Err(fail(501, format!("Method 'POST status/{action}' not implemented"))),
    };
    let mut steps = vec![(secs, format!("{action} {label} {vmid}"))];
    if action == "suspend" && truthy(params, "todisk") {
        steps.insert(0, (secs / 2.0, "saving VM state and RAM to storage 'local-lvm'".into()));
    }
    let effect = match action {
        "start" | "reboot" | "reset" => start_applying_pending(vmid),
        _ => set_status(vmid, target),
    };
    guest_task(world, c, node, task_kind(kind, action), vmid, caller, steps, None, effect)
}

fn migrate(
    world: &Arc<World>,
    c: &mut Cluster,
    node: &str,
    kind: GuestType,
    vmid: u32,
    params: &Params,
    caller: &Caller,
) -> R {
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
    let effect: super::state::Effect = Box::new(move |c: &mut Cluster| {
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
    guest_task(world, c, node, kind_name, vmid, caller, steps, Some((vmid, "migrate")), effect)
}

/// Config keys the simulator accepts (a subset of PVE's, typed as PVE does).
fn config_spec(kind: GuestType) -> Vec<P> {
    let mut spec = vec![
        opt("cores", Ty::Int(1, 8192)),
        opt("memory", Ty::Str),
        opt("description", Ty::Str),
        opt("tags", Ty::Str),
        opt("onboot", Ty::Bool),
        opt("net0", Ty::Str),
        opt("net1", Ty::Str),
        opt("delete", Ty::Str),
        opt("digest", Ty::Str),
    ];
    match kind {
        GuestType::Qemu => spec.extend([
            opt("name", Ty::Str),
            opt("sockets", Ty::Int(1, 4)),
            opt("balloon", Ty::Int(0, i64::MAX)),
            opt("cpu", Ty::Str),
            opt("agent", Ty::Str),
            opt("ostype", Ty::Str),
            opt("boot", Ty::Str),
            opt("ide2", Ty::Str),
            opt("scsi1", Ty::Str),
            opt("ciuser", Ty::Str),
            opt("cipassword", Ty::Str),
        ]),
        GuestType::Lxc => spec.extend([opt("hostname", Ty::Str), opt("swap", Ty::Int(0, i64::MAX))]),
    }
    spec
}

/// Applies config `params` to a guest; QEMU memory/cores/sockets changes of
/// a running VM wait in `pending` as in PVE without hotplug.
fn apply_config(g: &mut SimGuest, params: &Params) -> Result<(), ApiErr> {
    let running = guest_running(g);
    for (key, values) in params {
        let value = values.first().cloned().unwrap_or_default();
        match key.as_str() {
            "digest" | "delete" | "skiplock" => {}
            "cores" | "memory" | "sockets" if g.kind == GuestType::Qemu && running => {
                // Checked now, as PVE checks it, though applied at the next start.
                match key.as_str() {
                    "memory" => drop(memory_mib(&value)?),
                    _ => drop(value.parse::<u32>().map_err(|_| bad_param(key, "invalid"))?),
                }
                g.pending.insert(key.clone(), value);
            }
            "cores" => g.cores = value.parse().map_err(|_| bad_param("cores", "invalid"))?,
            "memory" => g.memory_mib = memory_mib(&value)?,
            "name" | "hostname" => g.name = value,
            "description" => g.description = Some(value),
            "tags" => g.tags = value.split([';', ',', ' ']).filter(|t| !t.is_empty()).map(str::to_string).collect(),
            "agent" => g.agent = value.starts_with('1') || value.contains("enabled=1"),
            _ => {
                g.config.insert(key.clone(), value);
            }
        }
    }
    if let Some(keys) = first(params, "delete") {
        for key in keys.split([',', ';', ' ']).filter(|k| !k.is_empty()) {
            match key {
                "description" => g.description = None,
                "tags" => g.tags.clear(),
                _ => {
                    g.config.remove(key);
                }
            }
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn set_config(
    world: &Arc<World>,
    c: &mut Cluster,
    node: &str,
    vmid: u32,
    params: &Params,
    caller: &Caller,
    asynchronous: bool,
) -> R {
    let g = &c.guests[&vmid];
    locked(g)?;
    if let Some(d) = first(params, "digest")
        && guest_config(g)["digest"] != d
    {
        return Err(fail(500, "detected modified configuration - file changed by other user? Try again."));
    }
    let mut updated = g.clone();
    apply_config(&mut updated, params)?;
    if !asynchronous {
        c.guests.insert(vmid, updated);
        return Ok(Value::Null.into());
    }
    let effect: super::state::Effect = Box::new(move |c: &mut Cluster| {
        c.guests.insert(vmid, updated);
        Ok(())
    });
    guest_task(
        world,
        c,
        node,
        "qmconfig",
        vmid,
        caller,
        vec![(1.0, "update VM config".into())],
        Some((vmid, "config")),
        effect,
    )
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

fn resize(
    world: &Arc<World>,
    c: &mut Cluster,
    node: &str,
    kind: GuestType,
    vmid: u32,
    params: &Params,
    caller: &Caller,
) -> R {
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
    let effect: super::state::Effect = Box::new(move |c: &mut Cluster| {
        let g = c.guests.get_mut(&vmid).ok_or("guest vanished")?;
        g.disk_gib = new_gib;
        let key = if g.kind == GuestType::Qemu { "scsi0" } else { "rootfs" };
        g.config.insert(key.into(), format!("local-lvm:vm-{vmid}-disk-0,size={new_gib}G"));
        Ok(())
    });
    let steps = vec![(1.0, format!("  Size of logical volume pve/vm-{vmid}-disk-0 changed to {new_gib}.00 GiB."))];
    let task = if kind == GuestType::Qemu { "resize" } else { "vzresize" };
    guest_task(world, c, node, task, vmid, caller, steps, Some((vmid, "resize")), effect)
}

fn agent_exec(c: &mut Cluster, vmid: u32, params: &Params) -> R {
    let g = &c.guests[&vmid];
    if !g.agent || !guest_running(g) {
        return Err(fail(500, "QEMU guest agent is not running"));
    }
    let command: Vec<String> = params.get("command").cloned().unwrap_or_default();
    let pid = 1000 + c.tasks.len() as u64;
    let (out, code) = match command.first().map(String::as_str) {
        Some("hostname") => (format!("{}\n", g.name), 0),
        Some("echo") => (format!("{}\n", command[1..].join(" ")), 0),
        Some("uptime") => (" 10:00:00 up 10 days,  load average: 0.10, 0.12, 0.08\n".to_string(), 0),
        Some("yes") => ("y\n".repeat(200_000), 0),
        Some("false") => (String::new(), 1),
        Some(other) => (format!("sh: 1: {other}: not found\n"), 127),
        None => (String::new(), 0),
    };
    c.exec.insert(pid, (out, code));
    Ok(json!({"pid": pid}).into())
}

fn agent_exec_status(c: &mut Cluster, vmid: u32, params: &Params) -> R {
    let _ = vmid;
    let pid: u64 = first(params, "pid").and_then(|p| p.parse().ok()).unwrap_or_default();
    let Some((out, code)) = c.exec.get(&pid) else {
        return Err(fail(500, format!("Agent error: no such process ({pid})")));
    };
    let mut e = json!({"exited": 1, "exitcode": code});
    if code == &127 {
        e["err-data"] = json!(out);
    } else if !out.is_empty() {
        e["out-data"] = json!(out);
    }
    Ok(e.into())
}

/// `POST /nodes/{node}/qemu|lxc`: create, or restore from a backup.
fn create(world: &Arc<World>, c: &mut Cluster, node: &str, kind: GuestType, params: &Params, caller: &Caller) -> R {
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
        let mut g = super::seed::guest(vmid, kind, node, "", "stopped");
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
    let effect: super::state::Effect = Box::new(move |c: &mut Cluster| {
        if let Some(s) = c.storages.iter_mut().find(|s| s.storage == "local-lvm") {
            s.volumes.retain(|v| !(v.vmid == Some(vmid) && v.content == content));
            s.volumes.push(SimVolume {
                volid: format!("local-lvm:vm-{vmid}-disk-0"),
                node: Some(node_name),
                content: content.into(),
                format: "raw".into(),
                size: disk_gib * GIB,
                vmid: Some(vmid),
                ctime: now(),
                notes: None,
            });
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
    guest_task(world, c, node, task, vmid, caller, steps, Some((vmid, "create")), effect)
}

fn valid_configid(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && name.len() <= 40
}

#[allow(clippy::too_many_arguments)]
fn snapshot_create(
    world: &Arc<World>,
    c: &mut Cluster,
    node: &str,
    kind: GuestType,
    vmid: u32,
    params: &Params,
    caller: &Caller,
) -> R {
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

fn snapshot_delete(
    world: &Arc<World>,
    c: &mut Cluster,
    node: &str,
    kind: GuestType,
    vmid: u32,
    name: &str,
    caller: &Caller,
) -> R {
    let g = &c.guests[&vmid];
    locked(g)?;
    if !g.snapshots.iter().any(|s| s.name == name) {
        return Err(fail(500, format!("snapshot '{name}' does not exist")));
    }
    let name = name.to_string();
    guest_task(
        world,
        c,
        node,
        task_kind(kind, "delsnapshot"),
        vmid,
        caller,
        vec![(2.0, format!("  Logical volume \"snap_vm-{vmid}-disk-0_{name}\" successfully removed."))],
        Some((vmid, "snapshot-delete")),
        Box::new(move |c: &mut Cluster| {
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
    )
}

#[allow(clippy::too_many_arguments)]
fn snapshot_rollback(
    world: &Arc<World>,
    c: &mut Cluster,
    node: &str,
    kind: GuestType,
    vmid: u32,
    name: &str,
    params: &Params,
    caller: &Caller,
) -> R {
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
        node,
        task_kind(kind, "rollback"),
        vmid,
        caller,
        vec![(4.0, format!("  Logical volume \"vm-{vmid}-disk-0\" successfully rolled back to '{name}'."))],
        Some((vmid, "rollback")),
        Box::new(move |c: &mut Cluster| {
            let g = c.guests.get_mut(&vmid).ok_or("guest vanished")?;
            g.config.insert("parent".into(), name);
            g.status = if running_after { "running".into() } else { "stopped".into() };
            Ok(())
        }),
    )
}

fn destroy(world: &Arc<World>, c: &mut Cluster, node: &str, kind: GuestType, vmid: u32, caller: &Caller) -> R {
    let g = &c.guests[&vmid];
    locked(g)?;
    if guest_running(g) {
        return Err(fail(500, format!("{} {vmid} is running - destroy failed", kind.label())));
    }
    guest_task(
        world,
        c,
        node,
        task_kind(kind, "destroy"),
        vmid,
        caller,
        vec![(3.0, format!("  Logical volume \"vm-{vmid}-disk-0\" successfully removed."))],
        Some((vmid, "destroyed")),
        Box::new(move |c: &mut Cluster| {
            c.guests.remove(&vmid);
            for s in &mut c.storages {
                s.volumes.retain(|v| !(v.vmid == Some(vmid) && (v.content == "images" || v.content == "rootdir")));
            }
            Ok(())
        }),
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

#[allow(clippy::too_many_arguments)]
fn clone(
    world: &Arc<World>,
    c: &mut Cluster,
    node: &str,
    kind: GuestType,
    vmid: u32,
    params: &Params,
    caller: &Caller,
) -> R {
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
        node,
        task_kind(kind, "clone"),
        vmid,
        caller,
        steps,
        Some((newid, "clone")),
        Box::new(move |c: &mut Cluster| {
            if let Some(s) = c.storages.iter_mut().find(|s| s.storage == "local-lvm") {
                s.volumes.push(SimVolume {
                    volid: format!("local-lvm:vm-{newid}-disk-0"),
                    node: Some(target),
                    content: content.into(),
                    format: "raw".into(),
                    size: disk * GIB,
                    vmid: Some(newid),
                    ctime: now(),
                    notes: None,
                });
            }
            Ok(())
        }),
    )
}

fn vzdump(world: &Arc<World>, c: &mut Cluster, node: &str, params: &Params, caller: &Caller) -> R {
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
                    });
                }
                Ok(())
            }),
        },
    );
    Ok(json!(upid).into())
}

/// RRD points: 70 samples ending now, spaced as PVE spaces them.
fn rrd_times(params: &Params) -> Vec<u64> {
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
fn wave(seed: u64, i: u64, lo: f64, hi: f64) -> f64 {
    let phase = (seed % 17) as f64 + i as f64 / 7.0;
    lo + (hi - lo) * (0.5 + 0.5 * phase.sin())
}

fn node_rrd(c: &Cluster, node: &str, params: &Params) -> Value {
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

/// `YYYY_MM_DD-HH_MM_SS` in UTC, as vzdump names archives.
fn timestamp(unix: u64) -> String {
    let t = crate::clock::utc(unix);
    format!("{:04}_{:02}_{:02}-{:02}_{:02}_{:02}", t.year, t.month, t.day, t.hour, t.minute, t.second)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_timestamps_are_utc_calendar_dates() {
        assert_eq!(timestamp(0), "1970_01_01-00_00_00");
        assert_eq!(timestamp(1_763_683_200), "2025_11_21-00_00_00");
        assert_eq!(timestamp(951_782_400 + 3_661), "2000_02_29-01_01_01");
    }

    #[test]
    fn configids_follow_pve_rules() {
        assert!(valid_configid("pre-upgrade_2"));
        assert!(!valid_configid("2fast"));
        assert!(!valid_configid("a b"));
        assert!(!valid_configid(""));
    }
}
