//! `/version`, `/cluster/...`, `/nodes`, `/pools`, `/storage`: the
//! cluster-wide reads.

use serde_json::{Value, json};

use super::*;
use crate::sim::params::{Ty, VMID, first, opt};
use crate::sim::seed::SimVolume;
use crate::sim::state::Cluster;

pub(super) static ROUTES: &[Route] = &[
    ("GET", "/version", "The node's Proxmox VE version and release.", version),
    ("GET", "/cluster/status", "Cluster name, quorum, and each node's membership.", status),
    (
        "GET",
        "/cluster/resources",
        "Every guest, node and storage of the cluster with its usage; filter by type.",
        resources_route,
    ),
    ("GET", "/cluster/nextid", "The next free guest id, or whether a given id is free.", nextid_route),
    ("GET", "/cluster/tasks", "Recent tasks of the whole cluster.", tasks),
    ("GET", "/nodes", "The cluster's nodes, online or not, with CPU and memory.", node_list),
    ("GET", "/pools", "Resource pools and their members.", pools_route),
    ("GET", "/storage", "The datacenter's storage definitions.", storage_list),
];

fn version(x: &mut Ctx<'_>) -> R {
    check(x.params, &[])?;
    let c = &x.c;
    Ok(json!({"version": c.version, "release": release(&c.version), "repoid": super::repoid(), "console": "html5"})
        .into())
}

fn status(x: &mut Ctx<'_>) -> R {
    check(x.params, &[])?;
    Ok(cluster_status(x.c).into())
}

fn resources_route(x: &mut Ctx<'_>) -> R {
    check(x.params, &[opt("type", Ty::Enum(&["vm", "storage", "node", "sdn"]))])?;
    Ok(resources(x.c, first(x.params, "type")).into())
}

fn nextid_route(x: &mut Ctx<'_>) -> R {
    check(x.params, &[opt("vmid", VMID)])?;
    nextid(x.c, first(x.params, "vmid"))
}

fn tasks(x: &mut Ctx<'_>) -> R {
    check(x.params, &[])?;
    let tasks: Vec<Value> = x.c.tasks.iter().rev().take(50).map(task_entry).collect();
    Ok(json!(tasks).into())
}

fn node_list(x: &mut Ctx<'_>) -> R {
    check(x.params, &[])?;
    let c = &x.c;
    Ok(json!(c.nodes.iter().map(|n| node_entry(c, n)).collect::<Vec<_>>()).into())
}

fn pools_route(x: &mut Ctx<'_>) -> R {
    check(x.params, &[opt("poolid", Ty::Str), opt("type", Ty::Enum(&["qemu", "lxc", "storage"]))])?;
    Ok(pools(x.c, first(x.params, "poolid")).into())
}

fn storage_list(x: &mut Ctx<'_>) -> R {
    let params = x.params;
    check(params, &[opt("type", Ty::Str)])?;
    let list: Vec<Value> =
        x.c.storages
            .iter()
            .filter(|s| first(params, "type").is_none_or(|t| t == s.kind))
            .map(|s| {
                json!({"storage": s.storage, "type": s.kind, "content": s.content.join(","),
                   "shared": u8::from(s.shared), "digest": digest(&s.storage)})
            })
            .collect();
    Ok(json!(list).into())
}

pub(super) fn cluster_status(c: &Cluster) -> Value {
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

pub(super) fn node_entry(c: &Cluster, n: &crate::sim::seed::SimNode) -> Value {
    if !n.online {
        return json!({"node": n.name, "status": "offline", "id": format!("node/{}", n.name), "type": "node"});
    }
    json!({"node": n.name, "status": "online", "id": format!("node/{}", n.name), "type": "node", "level": "",
           "cpu": n.cpu, "maxcpu": n.maxcpu, "mem": n.mem, "maxmem": n.maxmem, "disk": n.disk,
           "maxdisk": n.maxdisk, "uptime": n.uptime + c.elapsed(),
           "ssl_fingerprint": "5A:3C:91:0E:7B:22:D4:18:6F:AA:01:9C:3E:B7:55:20:C1:84:6D:F2:0B:93:47:E8:1A:C5:29:7D:B0:66:E3:4F"})
}

pub(super) fn resources(c: &Cluster, kind: Option<&str>) -> Value {
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

pub(super) fn storage_usage(s: &crate::sim::seed::SimStorage, node: &str) -> (u64, u64) {
    let used: u64 = s.base_used + volumes_on(s, node).map(|v| v.size).sum::<u64>();
    (used.min(s.total), s.total)
}

pub(super) fn volumes_on<'a>(
    s: &'a crate::sim::seed::SimStorage,
    node: &'a str,
) -> impl Iterator<Item = &'a SimVolume> + 'a {
    s.volumes.iter().filter(move |v| s.shared || v.node.as_deref().is_none_or(|n| n == node))
}

pub(super) fn nextid(c: &Cluster, wanted: Option<&str>) -> R {
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

pub(super) fn pools(c: &Cluster, poolid: Option<&str>) -> Value {
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
