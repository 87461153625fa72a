//! What the HA manager and the replication runner report: the HA stack's
//! status (quorum, manager, each node's resource manager, each resource)
//! and each node's replication jobs with their last and next sync.
//! Their configuration is in the config collections.

use serde_json::{Value, json};

use super::*;
use crate::sim::params::{first, opt};
use crate::sim::seed::Options;
use crate::sim::state::{Cluster, now};

pub(super) static ROUTES: &[Route] = &[
    ("GET", "/cluster/ha/status/current", "The HA stack's status: quorum, manager, nodes, resources.", status),
    ("GET", "/nodes/{node}/replication", "The replication jobs this node runs, with their state.", replication),
    ("GET", "/nodes/{node}/replication/{id}/status", "One replication job's state.", replication_one),
    ("POST", "/nodes/{node}/replication/{id}/schedule_now", "Run a replication job now.", schedule_now),
];

/// How often a job runs when its schedule is left at PVE's `*/15`.
const EVERY: u64 = 900;

fn status(x: &mut Ctx<'_>) -> R {
    check(x.params, &[])?;
    let c = &*x.c;
    let at = now();
    let online = c.nodes.iter().filter(|n| n.online).count();
    let quorate = online * 2 > c.nodes.len();
    let master = c.nodes.iter().find(|n| n.online).map_or("", |n| n.name.as_str());
    let stamp = crate::clock::rfc3339(at);
    let mut out = vec![
        json!({"id": "quorum", "type": "quorum", "node": master, "quorate": u8::from(quorate),
               "status": if quorate { "OK" } else { "No quorum on node" }}),
        json!({"id": "master", "type": "master", "node": master, "timestamp": at,
               "status": format!("{master} (active, {stamp})")}),
    ];
    let resources = c.collections.get("ha-resources").cloned().unwrap_or_default();
    let vmid_of = |sid: &str| sid.rsplit(':').next().and_then(|v| v.parse::<u32>().ok());
    for n in &c.nodes {
        let busy =
            resources.keys().filter_map(|s| vmid_of(s)).any(|v| c.guests.get(&v).is_some_and(|g| g.node == n.name));
        let state = match (n.online, busy) {
            (false, _) => "old timestamp - dead?",
            (true, true) => "active",
            (true, false) => "idle",
        };
        out.push(json!({"id": format!("lrm:{}", n.name), "type": "lrm", "node": n.name, "timestamp": at,
                        "status": format!("{} ({state}, {stamp})", n.name)}));
    }
    for (sid, item) in &resources {
        let Some(g) = vmid_of(sid).and_then(|v| c.guests.get(&v)) else { continue };
        let sid = if sid.contains(':') {
            sid.clone()
        } else {
            format!("{}:{sid}", if g.kind == GuestType::Lxc { "ct" } else { "vm" })
        };
        let requested = item.get("state").map_or("started", String::as_str);
        let state = match requested {
            "started" | "enabled" if !c.node(&g.node).is_some_and(|n| n.online) => "fence",
            "started" | "enabled" => "started",
            "disabled" => "stopped",
            other => other,
        };
        let mut v = json!({"id": format!("service:{sid}"), "sid": sid, "type": "service", "node": g.node,
                           "state": state, "crm_state": state, "request_state": requested,
                           "status": format!("{sid} ({}, {state})", g.node)});
        for key in ["max_restart", "max_relocate"] {
            if let Some(n) = item.get(key).and_then(|n| n.parse::<u64>().ok()) {
                v[key] = json!(n);
            }
        }
        out.push(v);
    }
    Ok(json!(out).into())
}

/// A job's state as `pvesr status` shows it.
fn job_state(c: &Cluster, id: &str, item: &Options) -> Value {
    let guest: u32 = id.split('-').next().and_then(|g| g.parse().ok()).unwrap_or_default();
    let g = c.guests.get(&guest);
    let (last, duration) = c.replication_runs.get(id).copied().unwrap_or((0, 0.0));
    let mut v = json!({
        "id": id,
        "guest": guest,
        "jobnum": id.split('-').nth(1).and_then(|n| n.parse::<u32>().ok()).unwrap_or_default(),
        "type": "local",
        "target": item.get("target").cloned().unwrap_or_default(),
        "source": g.map_or(String::new(), |g| g.node.clone()),
        "vmtype": g.map_or("qemu", |g| if g.kind == GuestType::Lxc { "lxc" } else { "qemu" }),
        "schedule": item.get("schedule").cloned().unwrap_or_else(|| "*/15".into()),
        "last_sync": last,
        "last_try": last,
        "duration": duration,
        "fail_count": 0,
        "next_sync": if last == 0 { now() } else { last + EVERY },
    });
    if let Some(rate) = item.get("rate").and_then(|r| r.parse::<f64>().ok()) {
        v["rate"] = json!(rate);
    }
    if item.get("disable").is_some_and(|d| d == "1") {
        v["disable"] = json!(1);
        v.as_object_mut().map(|o| o.remove("next_sync"));
    }
    v
}

fn jobs_of_node(c: &Cluster, node: &str) -> Vec<(String, Options)> {
    let guest_node = |id: &str| {
        id.split('-').next().and_then(|g| g.parse::<u32>().ok()).and_then(|g| c.guests.get(&g)).map(|g| g.node.clone())
    };
    c.collections
        .get("replication")
        .into_iter()
        .flatten()
        .filter(|(id, _)| guest_node(id).as_deref() == Some(node))
        .map(|(id, item)| (id.clone(), item.clone()))
        .collect()
}

fn replication(x: &mut Ctx<'_>) -> R {
    check(x.params, &[opt("guest", crate::sim::params::VMID)])?;
    let guest = first(x.params, "guest").map(str::to_string);
    let jobs = jobs_of_node(x.c, x.var("node"));
    let list: Vec<Value> = jobs
        .iter()
        .filter(|(id, _)| guest.as_ref().is_none_or(|g| id.split('-').next() == Some(g)))
        .map(|(id, item)| job_state(x.c, id, item))
        .collect();
    Ok(json!(list).into())
}

fn one_job(x: &Ctx<'_>) -> Result<(String, Options), ApiErr> {
    let id = x.var("id");
    jobs_of_node(x.c, x.var("node"))
        .into_iter()
        .find(|(j, _)| j == id)
        .ok_or_else(|| fail(500, format!("no such replication job '{id}'")))
}

fn replication_one(x: &mut Ctx<'_>) -> R {
    check(x.params, &[])?;
    let (id, item) = one_job(x)?;
    Ok(job_state(x.c, &id, &item).into())
}

/// Runs the job at once; the simulated sync takes no time.
fn schedule_now(x: &mut Ctx<'_>) -> R {
    check(x.params, &[])?;
    let (id, _) = one_job(x)?;
    x.c.replication_runs.insert(id, (now(), 2.4));
    Ok(Value::Null.into())
}
