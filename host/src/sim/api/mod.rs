//! The simulated API: a route table (method + path pattern -> handler),
//! one module per API area, and the parameter checks and errors every
//! handler shares. Answers follow the shapes of the official schema and
//! PVE's own error messages.

mod access;
mod agent;
mod backup;
mod cluster;
mod collections;
mod config;
mod create;
mod disks;
mod firewall;
mod guests;
mod ha;
mod nodes;
mod power;
mod schema;
mod snapshots;
mod storage;

use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::sim::params::{P, Params, verify};
use crate::sim::seed::{GuestType, SimGuest};
use crate::sim::state::{Cluster, TaskSpec, World};

pub use schema::apidoc;

pub(super) const GIB: u64 = 1 << 30;

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

pub(super) fn fail(status: u16, message: impl Into<String>) -> ApiErr {
    ApiErr { status, message: message.into(), errors: BTreeMap::new() }
}

pub(super) fn bad_param(field: &str, message: impl Into<String>) -> ApiErr {
    let mut errors = BTreeMap::new();
    errors.insert(field.to_string(), message.into());
    ApiErr { status: 400, message: "Parameter verification failed.".into(), errors }
}

pub(super) fn check(params: &Params, spec: &[P]) -> Result<(), ApiErr> {
    if schema::probed(spec) {
        return Err(schema::probe_stop());
    }
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

pub(super) type R = Result<Answer, ApiErr>;

/// Who is calling.
pub struct Caller {
    /// `USER@REALM` (of the token's user for tokens).
    pub user: String,
    /// Whom ACL entries name: the token id (`USER@REALM!NAME`) for a
    /// token, else the user.
    pub auth_id: String,
}

/// One request on its way through a handler: the cluster, the caller, the
/// parameters and the path's variables.
pub(super) struct Ctx<'a> {
    pub world: &'a Arc<World>,
    pub c: &'a mut Cluster,
    pub method: &'a str,
    pub params: &'a Params,
    pub caller: &'a Caller,
    path: &'a [&'a str],
    vars: Vec<(&'static str, &'a str)>,
}

impl<'a> Ctx<'a> {
    /// The value of path variable `name` (empty when the route has none).
    pub fn var(&self, name: &str) -> &'a str {
        self.vars.iter().find(|(k, _)| *k == name).map_or("", |(_, v)| v)
    }

    /// The path's guest kind (QEMU unless the path says `lxc`).
    pub fn kind(&self) -> GuestType {
        kind_of(self.var("kind"))
    }

    /// The path's vmid (checked by the dispatcher before the handler runs).
    pub fn vmid(&self) -> u32 {
        self.var("vmid").parse().unwrap_or_default()
    }

    /// What most handlers need at once: world, cluster, node, kind, vmid,
    /// parameters and caller.
    #[allow(clippy::type_complexity)]
    pub fn parts(&mut self) -> (&'a Arc<World>, &mut Cluster, &'a str, GuestType, u32, &'a Params, &'a Caller) {
        let (node, kind, vmid) = (self.var("node"), self.kind(), self.vmid());
        (self.world, self.c, node, kind, vmid, self.params, self.caller)
    }

    /// The request path, without the leading `/`.
    pub fn path_text(&self) -> String {
        self.path.join("/")
    }

    /// PVE's answer for a method it does not implement on this path.
    pub fn not_implemented(&self) -> ApiErr {
        fail(501, format!("Method '{} /{}' not implemented", self.method, self.path.join("/")))
    }
}

/// A handler: one context in, one answer out.
pub(super) type Handler = fn(&mut Ctx<'_>) -> R;

/// A route: method, path pattern (`{var}`, `{var:a|b}`), what it does
/// (for the simulator's API schema; `{kind}` and other variables with
/// alternatives are filled in) and handler.
pub(super) type Route = (&'static str, &'static str, &'static str, Handler);

enum Seg {
    Literal(String),
    Var(String, Option<Vec<String>>),
}

struct Compiled {
    method: &'static str,
    segs: Vec<Seg>,
    text: String,
    handler: Handler,
}

static ROUTES: LazyLock<Vec<Compiled>> = LazyLock::new(|| {
    [
        cluster::ROUTES,
        nodes::ROUTES,
        backup::ROUTES,
        guests::ROUTES,
        create::ROUTES,
        power::ROUTES,
        config::ROUTES,
        snapshots::ROUTES,
        access::ROUTES,
        agent::ROUTES,
        ha::ROUTES,
        disks::ROUTES,
        storage::ROUTES,
    ]
    .into_iter()
    .flatten()
    .map(|(method, path, text, handler)| Compiled {
        method,
        segs: compile(path),
        text: text.to_string(),
        handler: *handler,
    })
    .chain(collections::routes().into_iter().chain(firewall::routes()).map(|(method, path, text, handler)| Compiled {
        method,
        segs: compile(&path),
        text,
        handler,
    }))
    .collect()
});

fn compile(path: &str) -> Vec<Seg> {
    path.trim_start_matches('/')
        .split('/')
        .map(|s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some(inner) => match inner.split_once(':') {
                Some((name, alts)) => Seg::Var(name.into(), Some(alts.split('|').map(str::to_string).collect())),
                None => Seg::Var(inner.into(), None),
            },
            None => Seg::Literal(s.into()),
        })
        .collect()
}

fn route<'a>(method: &str, segs: &[&'a str]) -> Option<(Handler, Vec<(&'static str, &'a str)>)> {
    let routes: &'static [Compiled] = &ROUTES;
    routes.iter().filter(|r| r.method == method && r.segs.len() == segs.len()).find_map(|r| {
        let mut vars = Vec::new();
        for (seg, value) in r.segs.iter().zip(segs) {
            match seg {
                Seg::Literal(l) if l != value => return None,
                Seg::Literal(_) => {}
                Seg::Var(_, Some(alts)) if !alts.iter().any(|a| a == value) => return None,
                Seg::Var(name, _) => vars.push((name.as_str(), *value)),
            }
        }
        Some((r.handler, vars))
    })
}

/// Handles one request. `segs` are the decoded segments after `/api2/json`.
pub fn handle(world: &Arc<World>, method: &str, segs: &[&str], params: &Params, caller: &Caller) -> R {
    let mut c = world.lock();
    if method != "GET" && !access::holds(&c, caller, privilege(segs), &acl_path(segs)) {
        return Err(fail(403, format!("Permission check failed ({}, {})", acl_path(segs), privilege(segs))));
    }
    // As PVE: an unknown or offline node, and a malformed vmid, are told
    // before an unknown method; a missing guest after it.
    if let ["nodes", node, rest @ ..] = segs {
        match c.node(node) {
            None => {
                return Err(fail(
                    500,
                    format!(
                        "hostname lookup '{node}' failed - failed to get address info for: {node}: Name or service not known"
                    ),
                ));
            }
            Some(n) if !n.online || n.unreachable => return Err(fail(595, "No route to host")),
            Some(_) => {}
        }
        if let ["qemu" | "lxc", vmid, ..] = rest {
            parse_vmid(vmid)?;
        }
    }
    let Some((handler, vars)) = route(method, segs) else {
        return Err(fail(501, format!("Method '{method} /{}' not implemented", segs.join("/"))));
    };
    let mut ctx = Ctx { world, c: &mut c, method, params, caller, path: segs, vars };
    if !ctx.var("vmid").is_empty() {
        let (node, kind, vmid) = (ctx.var("node"), ctx.kind(), ctx.vmid());
        existing(ctx.c, node, kind, vmid)?;
    }
    handler(&mut ctx)
}

/// The build id `/version` reports: a hash of the simulator's API schema,
/// so a schema cached for one simulator build is not taken for another's.
pub(super) fn repoid() -> &'static str {
    static ID: LazyLock<String> = LazyLock::new(|| digest(apidoc())[..8].to_string());
    &ID
}

pub(super) fn release(version: &str) -> String {
    version.rsplit_once('.').map_or(version, |(r, _)| r).to_string()
}

pub(super) fn digest(text: &str) -> String {
    hex::encode(&Sha256::digest(text.as_bytes())[..20])
}

pub(super) fn acl_path(segs: &[&str]) -> String {
    match segs {
        ["nodes", _, "qemu" | "lxc", vmid, ..] => format!("/vms/{vmid}"),
        ["nodes", _, "storage", storage, ..] => format!("/storage/{storage}"),
        ["nodes", node, ..] => format!("/nodes/{node}"),
        _ => "/".into(),
    }
}

pub(super) fn privilege(segs: &[&str]) -> &'static str {
    match segs {
        ["nodes", _, "qemu" | "lxc", _, "status", ..] => "VM.PowerMgmt",
        ["nodes", _, "qemu" | "lxc", _, "snapshot", ..] => "VM.Snapshot",
        ["nodes", _, "qemu" | "lxc", _, "clone"] => "VM.Clone",
        ["nodes", _, "qemu" | "lxc", _, "migrate"] => "VM.Migrate",
        ["nodes", _, "qemu" | "lxc", _, "config"] => "VM.Config.Options",
        ["nodes", _, "qemu" | "lxc", _, "resize" | "move_disk" | "move_volume"] => "VM.Config.Disk",
        ["nodes", _, "qemu" | "lxc", _, "template"] => "VM.Allocate",
        ["nodes", _, "storage", _, "download-url"] | ["nodes", _, "aplinfo"] => "Datastore.AllocateTemplate",
        ["nodes", _, "storage", _, "content", _] => "Datastore.Allocate",
        ["nodes", _, "qemu", _, "agent", ..] => "VM.GuestAgent.Unrestricted",
        ["nodes", _, "qemu" | "lxc", _] => "VM.Allocate",
        ["nodes", _, "vzdump"] => "VM.Backup",
        ["access", ..] => "Permissions.Modify",
        _ => "Sys.Modify",
    }
}

pub(super) fn guest_running(g: &SimGuest) -> bool {
    g.status == "running" || g.status == "paused"
}

pub(super) fn guest_mem(g: &SimGuest) -> u64 {
    if guest_running(g) { (g.memory_mib << 20) * 11 / 20 } else { 0 }
}

pub(super) fn guest_uptime(c: &Cluster, g: &SimGuest) -> u64 {
    if guest_running(g) { g.uptime + c.elapsed() } else { 0 }
}

pub(super) fn kind_of(s: &str) -> GuestType {
    if s == "lxc" { GuestType::Lxc } else { GuestType::Qemu }
}

pub(super) fn parse_vmid(s: &str) -> Result<u32, ApiErr> {
    match s.parse::<u32>() {
        Ok(v) if v >= 100 => Ok(v),
        _ => Err(bad_param("vmid", "value does not look like a valid VM ID")),
    }
}

pub(super) fn conf_path(node: &str, kind: GuestType, vmid: u32) -> String {
    match kind {
        GuestType::Qemu => format!("nodes/{node}/qemu-server/{vmid}.conf"),
        GuestType::Lxc => format!("nodes/{node}/lxc/{vmid}.conf"),
    }
}

pub(super) fn existing(c: &Cluster, node: &str, kind: GuestType, vmid: u32) -> Result<(), ApiErr> {
    match c.guests.get(&vmid) {
        Some(g) if g.node == node && g.kind == kind => Ok(()),
        _ => Err(fail(500, format!("Configuration file '{}' does not exist", conf_path(node, kind, vmid)))),
    }
}

pub(super) fn task_entry(t: &crate::sim::state::Task) -> Value {
    let mut e = json!({"upid": t.upid, "node": t.node, "pid": t.pid, "pstart": t.pstart,
                       "starttime": t.starttime, "type": t.kind, "id": t.id, "user": t.user});
    if let (Some(end), Some(status)) = (t.endtime, &t.exitstatus) {
        e["endtime"] = json!(end);
        e["status"] = json!(status);
    }
    e
}

pub(super) fn locked(g: &SimGuest) -> Result<(), ApiErr> {
    match &g.lock {
        Some(lock) => Err(fail(500, format!("{} {} is locked ({lock})", g.kind.label(), g.vmid))),
        None => Ok(()),
    }
}

pub(super) fn task_prefix(kind: GuestType) -> &'static str {
    if kind == GuestType::Qemu { "qm" } else { "vz" }
}

pub(super) fn task_kind(kind: GuestType, what: &str) -> &'static str {
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

/// A guest's first disk on `local-lvm`, as a new guest or a clone gets it.
pub(super) fn disk_volume(vmid: u32, node: String, content: &str, gib: u64) -> crate::sim::seed::SimVolume {
    crate::sim::seed::SimVolume {
        volid: format!("local-lvm:vm-{vmid}-disk-0"),
        node: Some(node),
        content: content.into(),
        format: "raw".into(),
        size: gib * GIB,
        vmid: Some(vmid),
        ctime: crate::sim::state::now(),
        notes: None,
        verification: None,
        protected: false,
    }
}

/// A task on one guest: who started it where, its steps, the lock it holds
/// and what it does to the cluster when it ends.
pub(super) struct Job<'a> {
    pub node: &'a str,
    pub kind: &'static str,
    pub vmid: u32,
    pub caller: &'a Caller,
    pub steps: Vec<(f64, String)>,
    pub lock: Option<(u32, &'static str)>,
    pub effect: crate::sim::state::Effect,
}

/// Starts `job` and answers its UPID.
pub(super) fn guest_task(world: &Arc<World>, c: &mut Cluster, job: Job<'_>) -> R {
    let Job { node, kind, vmid, caller, steps, lock, effect } = job;
    let spec =
        TaskSpec { node: node.into(), kind, id: vmid.to_string(), user: caller.user.clone(), steps, lock, effect };
    Ok(json!(world.start_task(c, spec)).into())
}

pub(super) fn set_status(vmid: u32, status: &'static str) -> crate::sim::state::Effect {
    Box::new(move |c: &mut Cluster| {
        let g = c.guests.get_mut(&vmid).ok_or("guest vanished")?;
        g.status = status.into();
        Ok(())
    })
}

/// `YYYY_MM_DD-HH_MM_SS` in UTC, as vzdump names archives.
pub(super) fn timestamp(unix: u64) -> String {
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
}
