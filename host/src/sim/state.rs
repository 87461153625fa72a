//! The simulator's mutable state: the cluster, and tasks that take
//! simulated time, hold the guest's lock and log as they go.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::seed::{Seed, SimFirewall, SimGuest, SimNode, SimPool, SimStorage};

/// Unix time now.
pub fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// A task, running or finished.
#[derive(Debug, Clone)]
pub struct Task {
    /// PVE's unique task id.
    pub upid: String,
    /// Node.
    pub node: String,
    /// Type (`qmstart`, `vzdump`, ...).
    pub kind: String,
    /// Object id.
    pub id: String,
    /// User who started it.
    pub user: String,
    /// Start time.
    pub starttime: u64,
    /// End time, when finished.
    pub endtime: Option<u64>,
    /// `OK` or the error, when finished.
    pub exitstatus: Option<String>,
    /// Log lines.
    pub log: Vec<String>,
    /// Worker pid.
    pub pid: u32,
    /// Process start ticks.
    pub pstart: u64,
}

/// The cluster as it is now.
#[derive(Debug)]
pub struct Cluster {
    /// Cluster name.
    pub cluster_name: String,
    /// PVE version.
    pub version: String,
    /// Nodes.
    pub nodes: Vec<SimNode>,
    /// Guests by vmid.
    pub guests: BTreeMap<u32, SimGuest>,
    /// Storages.
    pub storages: Vec<SimStorage>,
    /// Pools.
    pub pools: Vec<SimPool>,
    /// Tasks, oldest first.
    pub tasks: Vec<Task>,
    /// When the simulator started (uptimes count from here).
    pub started: u64,
    /// Guest-agent commands run, by pid: (output, exit code).
    pub exec: BTreeMap<u64, (String, i32)>,
    /// Config collections (backup jobs, HA resources, ...): collection ->
    /// id -> option -> value, as PVE keeps them in its config files.
    pub collections: BTreeMap<String, BTreeMap<String, BTreeMap<String, String>>>,
    /// The firewall at every scope.
    pub firewall: SimFirewall,
    /// Who holds which role where.
    pub acl: Vec<AclEntry>,
    /// Replication runs by job id: when the last sync ended and how long
    /// it took (seconds).
    pub replication_runs: BTreeMap<String, (u64, f64)>,
    next_pid: u32,
}

impl Cluster {
    /// The cluster a seed describes, with its task history dated back from now.
    pub fn from_seed(seed: Seed) -> Cluster {
        let started = now();
        let mut cluster = Cluster {
            cluster_name: seed.cluster_name,
            version: seed.version,
            nodes: seed.nodes,
            guests: seed
                .guests
                .into_iter()
                .map(|mut g| {
                    // As in PVE, the config's `parent` names the snapshot the
                    // current state descends from.
                    if let Some(last) = g.snapshots.last()
                        && !g.config.contains_key("parent")
                    {
                        g.config.insert("parent".into(), last.name.clone());
                    }
                    (g.vmid, g)
                })
                .collect(),
            storages: seed.storages,
            pools: seed.pools,
            tasks: Vec::new(),
            started,
            exec: BTreeMap::new(),
            collections: seed.collections,
            firewall: seed.firewall,
            replication_runs: BTreeMap::new(),
            acl: Vec::new(),
            next_pid: 0x1000,
        };
        let mut history = seed.tasks;
        history.sort_by_key(|t| std::cmp::Reverse(t.ago));
        for t in history {
            let starttime = started.saturating_sub(t.ago);
            let (pid, pstart) = cluster.next_pid();
            let mut log = t.log;
            log.push(if t.status == "OK" { "TASK OK".into() } else { format!("TASK ERROR: {}", t.status) });
            cluster.tasks.push(Task {
                upid: upid(&t.node, pid, pstart, starttime, &t.kind, &t.id, &t.user),
                node: t.node,
                kind: t.kind,
                id: t.id,
                user: t.user,
                starttime,
                endtime: Some(starttime + t.duration),
                exitstatus: Some(t.status),
                log,
                pid,
                pstart,
            });
        }
        cluster
    }

    fn next_pid(&mut self) -> (u32, u64) {
        self.next_pid += 1;
        (self.next_pid, u64::from(self.next_pid) * 37 + 1_000_000)
    }

    /// The node named `name`.
    pub fn node(&self, name: &str) -> Option<&SimNode> {
        self.nodes.iter().find(|n| n.name == name)
    }

    /// Seconds since the simulator started, added to seeded uptimes.
    pub fn elapsed(&self) -> u64 {
        now().saturating_sub(self.started)
    }
}

/// Formats a UPID as PVE does.
pub fn upid(node: &str, pid: u32, pstart: u64, starttime: u64, kind: &str, id: &str, user: &str) -> String {
    format!("UPID:{node}:{pid:08X}:{pstart:08X}:{starttime:08X}:{kind}:{id}:{user}:")
}

/// What a task changes when it completes.
pub type Effect = Box<dyn FnOnce(&mut Cluster) -> Result<(), String> + Send>;

/// A task to start.
pub struct TaskSpec {
    /// Node.
    pub node: String,
    /// Type.
    pub kind: &'static str,
    /// Object id.
    pub id: String,
    /// User.
    pub user: String,
    /// Log lines, each after the given simulated seconds.
    pub steps: Vec<(f64, String)>,
    /// Guest lock to hold while running: (vmid, lock name).
    pub lock: Option<(u32, &'static str)>,
    /// The change applied at the end.
    pub effect: Effect,
}

/// One ACL entry: a role on a path for a user, group or token.
#[derive(Debug, Clone)]
pub struct AclEntry {
    /// `/`, `/vms`, `/vms/100`, ...
    pub path: String,
    /// `user`, `group` or `token`.
    pub kind: &'static str,
    /// The user, group or token id.
    pub ugid: String,
    /// The role.
    pub roleid: String,
    /// Whether it reaches the paths below.
    pub propagate: bool,
}

/// The shared cluster plus the clock that paces tasks.
pub struct World {
    cluster: Mutex<Cluster>,
    /// Real seconds per simulated second; 0 completes tasks at once.
    pub time_scale: f64,
}

impl World {
    /// A world from a seed.
    pub fn new(seed: Seed, time_scale: f64) -> Arc<World> {
        Arc::new(World { cluster: Mutex::new(Cluster::from_seed(seed)), time_scale })
    }

    /// Locks the cluster for reading or changing it.
    pub fn lock(&self) -> MutexGuard<'_, Cluster> {
        // A panic while holding the lock cannot leave the data invalid in a
        // way worse than the panic itself; keep serving.
        self.cluster.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Starts a task and returns its UPID. With time scale 0 it has
    /// finished (and its effect applied) before this returns.
    pub fn start_task(self: &Arc<Self>, cluster: &mut Cluster, spec: TaskSpec) -> String {
        let starttime = now();
        let (pid, pstart) = cluster.next_pid();
        let upid = upid(&spec.node, pid, pstart, starttime, spec.kind, &spec.id, &spec.user);
        cluster.tasks.push(Task {
            upid: upid.clone(),
            node: spec.node.clone(),
            kind: spec.kind.to_string(),
            id: spec.id.clone(),
            user: spec.user.clone(),
            starttime,
            endtime: None,
            exitstatus: None,
            log: Vec::new(),
            pid,
            pstart,
        });
        if let Some((vmid, lock)) = spec.lock
            && let Some(g) = cluster.guests.get_mut(&vmid)
        {
            g.lock = Some(lock.to_string());
        }
        if self.time_scale <= 0.0 {
            for (_, line) in &spec.steps {
                append_log(cluster, &upid, line.clone());
            }
            let result = (spec.effect)(cluster);
            finish(cluster, &upid, spec.lock.map(|l| l.0), result);
            return upid;
        }
        let world = self.clone();
        let task_upid = upid.clone();
        tokio::spawn(async move {
            for (secs, line) in spec.steps {
                tokio::time::sleep(Duration::from_secs_f64((secs * world.time_scale).max(0.0))).await;
                let mut cluster = world.lock();
                if stopped(&cluster, &task_upid) {
                    return;
                }
                append_log(&mut cluster, &task_upid, line);
            }
            let mut cluster = world.lock();
            // Stopped by DELETE .../tasks/{upid}: no effect.
            if stopped(&cluster, &task_upid) {
                return;
            }
            let result = (spec.effect)(&mut cluster);
            finish(&mut cluster, &task_upid, spec.lock.map(|l| l.0), result);
        });
        upid
    }
}

fn stopped(cluster: &Cluster, upid: &str) -> bool {
    cluster.tasks.iter().any(|t| t.upid == upid && t.endtime.is_some())
}

/// Stops running task `upid` as PVE does: it ends with "interrupted by
/// signal" and releases its guest's lock; its effect never happens. A
/// finished task stays as it was.
pub fn stop_task(cluster: &mut Cluster, upid: &str) {
    let Some(t) = cluster.tasks.iter_mut().find(|t| t.upid == upid && t.endtime.is_none()) else { return };
    t.endtime = Some(now().max(t.starttime));
    t.log.push("received interrupt".into());
    t.log.push("TASK ERROR: interrupted by signal".into());
    t.exitstatus = Some("interrupted by signal".into());
    let vmid = t.id.parse::<u32>().ok();
    if let Some(g) = vmid.and_then(|v| cluster.guests.get_mut(&v)) {
        g.lock = None;
    }
}

fn append_log(cluster: &mut Cluster, upid: &str, line: String) {
    if let Some(t) = cluster.tasks.iter_mut().find(|t| t.upid == upid) {
        t.log.push(line);
    }
}

fn finish(cluster: &mut Cluster, upid: &str, lock: Option<u32>, result: Result<(), String>) {
    if let Some(vmid) = lock
        && let Some(g) = cluster.guests.get_mut(&vmid)
    {
        g.lock = None;
    }
    if let Some(t) = cluster.tasks.iter_mut().find(|t| t.upid == upid) {
        t.endtime = Some(now().max(t.starttime));
        match result {
            Ok(()) => {
                t.log.push("TASK OK".into());
                t.exitstatus = Some("OK".into());
            }
            Err(e) => {
                t.log.push(format!("TASK ERROR: {e}"));
                t.exitstatus = Some(e);
            }
        }
    }
}
