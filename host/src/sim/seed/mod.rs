//! The simulated cluster's data: its shape (also the format of `--seed
//! FILE`) and the default seed.
//!
//! The default is small but covers every case a tool meets: three nodes
//! (one offline), QEMU and LXC guests running, stopped and paused, a
//! template, guests with and without the QEMU agent, a dir storage with
//! ISOs, container templates and backups, an LVM-thin image store, a shared
//! NFS backup store, snapshots, pools and task history.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

mod firewall;
mod storages;

use firewall::demo_firewall;
pub use firewall::{Options, SimFirewall, SimIpSet, SimLogLine};

/// QEMU VM or LXC container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GuestType {
    /// QEMU virtual machine.
    Qemu,
    /// LXC container.
    Lxc,
}

impl GuestType {
    /// `qemu` or `lxc`, as in API paths.
    pub fn as_str(self) -> &'static str {
        match self {
            GuestType::Qemu => "qemu",
            GuestType::Lxc => "lxc",
        }
    }

    /// `VM` or `CT`, as in PVE's messages.
    pub fn label(self) -> &'static str {
        match self {
            GuestType::Qemu => "VM",
            GuestType::Lxc => "CT",
        }
    }
}

/// A whole simulated cluster.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Seed {
    /// Cluster name (empty for a single node without cluster).
    pub cluster_name: String,
    /// PVE version reported by `/version`, e.g. `9.1.2`.
    pub version: String,
    /// Nodes.
    pub nodes: Vec<SimNode>,
    /// Guests.
    pub guests: Vec<SimGuest>,
    /// Storages.
    pub storages: Vec<SimStorage>,
    /// Pools.
    pub pools: Vec<SimPool>,
    /// Finished tasks already in the history.
    #[serde(default)]
    pub tasks: Vec<SimTaskRecord>,
    /// Config collections (`backup` jobs, `ha-resources`, `replication`):
    /// collection -> id -> option -> value.
    #[serde(default)]
    pub collections: BTreeMap<String, BTreeMap<String, BTreeMap<String, String>>>,
    /// Firewall rules, options, aliases, IP sets and log.
    #[serde(default)]
    pub firewall: SimFirewall,
}

/// A node.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimNode {
    /// Node name.
    pub name: String,
    /// Whether it is up.
    pub online: bool,
    /// Up for the cluster, but its API does not answer through the proxy
    /// (HTTP 595), as when the network between nodes is cut.
    #[serde(default)]
    pub unreachable: bool,
    /// CPU threads.
    pub maxcpu: u32,
    /// CPU use, 0.0-1.0.
    pub cpu: f64,
    /// Memory in bytes.
    pub maxmem: u64,
    /// Memory used in bytes.
    pub mem: u64,
    /// Root disk size in bytes.
    pub maxdisk: u64,
    /// Root disk used in bytes.
    pub disk: u64,
    /// Uptime at seed time, seconds.
    pub uptime: u64,
    /// Load averages.
    pub loadavg: [f64; 3],
    /// Kernel release.
    pub kernel: String,
}

/// A guest.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimGuest {
    /// Guest id.
    pub vmid: u32,
    /// QEMU or LXC.
    #[serde(rename = "type")]
    pub kind: GuestType,
    /// Owning node.
    pub node: String,
    /// Name.
    pub name: String,
    /// `running`, `stopped` or `paused`.
    pub status: String,
    /// Template.
    #[serde(default)]
    pub template: bool,
    /// CPU cores.
    pub cores: u32,
    /// Memory in MiB.
    pub memory_mib: u64,
    /// Root disk in GiB.
    pub disk_gib: u64,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Pool, if any.
    #[serde(default)]
    pub pool: Option<String>,
    /// QEMU guest agent enabled and running.
    #[serde(default)]
    pub agent: bool,
    /// Notes.
    #[serde(default)]
    pub description: Option<String>,
    /// Snapshots, oldest first.
    #[serde(default)]
    pub snapshots: Vec<SimSnapshot>,
    /// Uptime at seed time for running guests, seconds.
    #[serde(default)]
    pub uptime: u64,
    /// Lock held (e.g. `backup`), if any.
    #[serde(default)]
    pub lock: Option<String>,
    /// Further config keys, as PVE stores them (`net0`, `ostype`, ...).
    #[serde(default)]
    pub config: BTreeMap<String, String>,
    /// Config changes not yet applied to the running guest.
    #[serde(default)]
    pub pending: BTreeMap<String, String>,
}

/// A snapshot.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimSnapshot {
    /// Name.
    pub name: String,
    /// Description.
    #[serde(default)]
    pub description: String,
    /// Creation time (Unix seconds).
    pub snaptime: u64,
    /// Whether RAM state was saved.
    #[serde(default)]
    pub vmstate: bool,
    /// Parent snapshot.
    #[serde(default)]
    pub parent: Option<String>,
}

/// A storage.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimStorage {
    /// Storage id.
    pub storage: String,
    /// `dir`, `lvmthin`, `nfs`, ...
    #[serde(rename = "type")]
    pub kind: String,
    /// Content types, e.g. `iso`, `vztmpl`, `backup`, `images`, `rootdir`.
    pub content: Vec<String>,
    /// Shared between nodes.
    #[serde(default)]
    pub shared: bool,
    /// Nodes it is on (all when absent).
    #[serde(default)]
    pub nodes: Option<Vec<String>>,
    /// Size in bytes.
    pub total: u64,
    /// Bytes used by things other than the listed volumes.
    pub base_used: u64,
    /// Volumes.
    #[serde(default)]
    pub volumes: Vec<SimVolume>,
}

/// A volume on a storage.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimVolume {
    /// Volume id, `storage:path`.
    pub volid: String,
    /// For a local storage, the node holding it.
    #[serde(default)]
    pub node: Option<String>,
    /// Content type.
    pub content: String,
    /// Format (`iso`, `tgz`, `vma.zst`, `raw`, `tar.zst`, ...).
    pub format: String,
    /// Size in bytes.
    pub size: u64,
    /// Owning guest.
    #[serde(default)]
    pub vmid: Option<u32>,
    /// Creation time.
    pub ctime: u64,
    /// Notes.
    #[serde(default)]
    pub notes: Option<String>,
    /// PBS: the last verification's state (`ok`, `failed`); none: never
    /// verified.
    #[serde(default)]
    pub verification: Option<String>,
    /// Protected from pruning and deletion.
    #[serde(default)]
    pub protected: bool,
}

/// A pool.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimPool {
    /// Pool id.
    pub poolid: String,
    /// Comment.
    #[serde(default)]
    pub comment: String,
}

/// A finished task in the history.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimTaskRecord {
    /// Node.
    pub node: String,
    /// Task type (`qmstart`, `vzdump`, ...).
    #[serde(rename = "type")]
    pub kind: String,
    /// Object id (vmid), may be empty.
    pub id: String,
    /// User.
    pub user: String,
    /// Seconds before the simulator's start when it began.
    pub ago: u64,
    /// Duration in seconds.
    pub duration: u64,
    /// `OK` or an error message.
    pub status: String,
    /// Log lines.
    pub log: Vec<String>,
}

const GIB: u64 = 1 << 30;

/// A guest with everyday defaults (2 cores, 2 GiB, 32 GiB disk, no extras).
pub fn guest(vmid: u32, kind: GuestType, node: &str, name: &str, status: &str) -> SimGuest {
    SimGuest {
        vmid,
        kind,
        node: node.into(),
        name: name.into(),
        status: status.into(),
        template: false,
        cores: 2,
        memory_mib: 2048,
        disk_gib: 32,
        tags: vec![],
        pool: None,
        agent: false,
        description: None,
        snapshots: vec![],
        uptime: 0,
        lock: None,
        config: BTreeMap::new(),
        pending: BTreeMap::new(),
    }
}

fn volume(volid: &str, node: Option<&str>, content: &str, format: &str, size: u64, vmid: Option<u32>) -> SimVolume {
    SimVolume {
        volid: volid.into(),
        node: node.map(str::to_string),
        content: content.into(),
        format: format.into(),
        size,
        vmid,
        ctime: storages::vzdump_time(volid).unwrap_or(1_763_000_000),
        notes: None,
        verification: None,
        protected: false,
    }
}

impl Default for Seed {
    fn default() -> Self {
        let node = |name: &str, online: bool, maxcpu, maxmem: u64, mem: u64, uptime| SimNode {
            name: name.into(),
            online,
            unreachable: false,
            maxcpu,
            cpu: if online { 0.08 } else { 0.0 },
            maxmem,
            mem: if online { mem } else { 0 },
            maxdisk: 100 * GIB,
            disk: if online { 18 * GIB } else { 0 },
            uptime: if online { uptime } else { 0 },
            loadavg: [0.42, 0.37, 0.30],
            kernel: "6.14.11-4-pve".into(),
        };
        let mut web1 = guest(100, GuestType::Qemu, "pve1", "web-01", "running");
        web1.tags = vec!["prod".into(), "web".into()];
        web1.pool = Some("production".into());
        web1.agent = true;
        web1.uptime = 864_000;
        web1.memory_mib = 4096;
        web1.description = Some("Public web front end".into());
        web1.snapshots = vec![
            SimSnapshot {
                name: "pre-upgrade".into(),
                description: "before the 9.x upgrade".into(),
                snaptime: 1_760_000_000,
                vmstate: false,
                parent: None,
            },
            SimSnapshot {
                name: "after-upgrade".into(),
                description: String::new(),
                snaptime: 1_761_000_000,
                vmstate: true,
                parent: Some("pre-upgrade".into()),
            },
        ];
        let mut web2 = guest(101, GuestType::Qemu, "pve2", "web-02", "running");
        web2.tags = vec!["prod".into(), "web".into()];
        web2.pool = Some("production".into());
        web2.uptime = 432_000;
        let mut db = guest(102, GuestType::Qemu, "pve1", "db-01", "running");
        db.tags = vec!["prod".into(), "db".into()];
        db.pool = Some("production".into());
        db.agent = true;
        db.cores = 8;
        db.memory_mib = 16_384;
        db.disk_gib = 200;
        db.uptime = 1_728_000;
        let mut build = guest(103, GuestType::Qemu, "pve2", "build-runner", "stopped");
        build.tags = vec!["ci".into()];
        let mut win = guest(104, GuestType::Qemu, "pve1", "win-desktop", "paused");
        win.memory_mib = 8192;
        win.config.insert("ostype".into(), "win11".into());
        let mut tmpl = guest(9000, GuestType::Qemu, "pve2", "debian-13-template", "stopped");
        tmpl.template = true;
        // A cloud-init template as people build them: agent on.
        tmpl.agent = true;
        tmpl.tags = vec!["template".into()];
        let mut dns = guest(200, GuestType::Lxc, "pve1", "dns", "running");
        dns.tags = vec!["infra".into()];
        dns.memory_mib = 512;
        dns.disk_gib = 8;
        dns.uptime = 2_592_000;
        dns.pool = Some("infra".into());
        let mut proxy = guest(201, GuestType::Lxc, "pve2", "reverse-proxy", "running");
        proxy.tags = vec!["infra".into(), "prod".into()];
        proxy.memory_mib = 1024;
        proxy.disk_gib = 8;
        proxy.uptime = 86_400;
        proxy.pool = Some("infra".into());
        proxy.snapshots = vec![SimSnapshot {
            name: "clean".into(),
            description: "fresh install".into(),
            snaptime: 1_759_000_000,
            vmstate: false,
            parent: None,
        }];
        let mut old = guest(202, GuestType::Lxc, "pve2", "legacy-app", "stopped");
        old.tags = vec!["deprecated".into()];
        old.memory_mib = 1024;
        let mut offline_vm = guest(105, GuestType::Qemu, "pve3", "lab-vm", "stopped");
        offline_vm.tags = vec!["lab".into()];
        for g in [&mut web1, &mut web2, &mut db, &mut build, &mut win, &mut tmpl, &mut offline_vm] {
            g.config.entry("ostype".into()).or_insert_with(|| "l26".into());
            g.config
                .insert("net0".into(), format!("virtio=BC:24:11:00:00:{:02X},bridge=vmbr0,firewall=1", g.vmid % 256));
            g.config.insert("scsihw".into(), "virtio-scsi-single".into());
            g.config.insert("scsi0".into(), format!("local-lvm:vm-{}-disk-0,size={}G", g.vmid, g.disk_gib));
            g.config.insert("boot".into(), "order=scsi0".into());
        }
        for g in [&mut dns, &mut proxy, &mut old] {
            g.config.insert("ostype".into(), "debian".into());
            g.config.insert("rootfs".into(), format!("local-lvm:vm-{}-disk-0,size={}G", g.vmid, g.disk_gib));
            g.config.insert("net0".into(), "name=eth0,bridge=vmbr0,firewall=1,ip=dhcp".into());
            g.config.insert("hostname".into(), g.name.clone());
        }
        db.pending.insert("memory".into(), "24576".into());
        let guests = vec![web1, web2, db, build, win, offline_vm, tmpl, dns, proxy, old];
        let images: Vec<SimVolume> = guests
            .iter()
            .map(|g| {
                let content = if g.kind == GuestType::Qemu { "images" } else { "rootdir" };
                volume(
                    &format!("local-lvm:vm-{}-disk-0", g.vmid),
                    Some(&g.node),
                    content,
                    "raw",
                    g.disk_gib * GIB,
                    Some(g.vmid),
                )
            })
            .collect();
        let mut backup1 = volume(
            "backup-nfs:backup/vzdump-qemu-100-2026_11_20-02_00_01.vma.zst",
            None,
            "backup",
            "vma.zst",
            3 * GIB,
            Some(100),
        );
        backup1.notes = Some("nightly".into());
        let backup2 = volume(
            "backup-nfs:backup/vzdump-lxc-200-2026_11_20-02_10_00.tar.zst",
            None,
            "backup",
            "tar.zst",
            300 << 20,
            Some(200),
        );
        let backup3 = volume(
            "local:backup/vzdump-qemu-102-2026_11_19-03_00_00.vma.zst",
            Some("pve1"),
            "backup",
            "vma.zst",
            40 * GIB,
            Some(102),
        );
        Seed {
            cluster_name: "demo-cluster".into(),
            version: "9.1.2".into(),
            nodes: vec![
                node("pve1", true, 16, 64 * GIB, 38 * GIB, 2_764_800),
                node("pve2", true, 8, 32 * GIB, 12 * GIB, 1_209_600),
                node("pve3", false, 8, 32 * GIB, 0, 0),
            ],
            guests,
            storages: vec![
                SimStorage {
                    storage: "local".into(),
                    kind: "dir".into(),
                    content: vec!["iso".into(), "vztmpl".into(), "backup".into()],
                    shared: false,
                    nodes: None,
                    total: 100 * GIB,
                    base_used: 12 * GIB,
                    volumes: vec![
                        volume(
                            "local:iso/debian-13.1.0-amd64-netinst.iso",
                            Some("pve1"),
                            "iso",
                            "iso",
                            800 << 20,
                            None,
                        ),
                        volume(
                            "local:iso/debian-13.1.0-amd64-netinst.iso",
                            Some("pve2"),
                            "iso",
                            "iso",
                            800 << 20,
                            None,
                        ),
                        volume(
                            "local:vztmpl/debian-13-standard_13.1-1_amd64.tar.zst",
                            Some("pve1"),
                            "vztmpl",
                            "tzst",
                            130 << 20,
                            None,
                        ),
                        volume(
                            "local:vztmpl/debian-13-standard_13.1-1_amd64.tar.zst",
                            Some("pve2"),
                            "vztmpl",
                            "tzst",
                            130 << 20,
                            None,
                        ),
                        backup3,
                    ],
                },
                SimStorage {
                    storage: "local-lvm".into(),
                    kind: "lvmthin".into(),
                    content: vec!["images".into(), "rootdir".into()],
                    shared: false,
                    nodes: None,
                    total: 800 * GIB,
                    base_used: 0,
                    volumes: images,
                },
                storages::ceph(),
                storages::pbs(),
                SimStorage {
                    storage: "backup-nfs".into(),
                    kind: "nfs".into(),
                    content: vec!["backup".into()],
                    shared: true,
                    nodes: None,
                    total: 4096 * GIB,
                    base_used: 900 * GIB,
                    volumes: vec![backup1, backup2],
                },
            ],
            pools: vec![
                SimPool { poolid: "production".into(), comment: "Customer-facing services".into() },
                SimPool { poolid: "infra".into(), comment: "DNS and proxies".into() },
            ],
            tasks: vec![
                SimTaskRecord {
                    node: "pve1".into(),
                    kind: "vzdump".into(),
                    id: "100".into(),
                    user: "root@pam".into(),
                    ago: 30_000,
                    duration: 95,
                    status: "OK".into(),
                    log: vec![
                        "INFO: starting new backup job: vzdump 100 --storage backup-nfs --mode snapshot".into(),
                        "INFO: 100% (32.0 GiB of 32.0 GiB) in 1m 30s".into(),
                        "INFO: Finished Backup of VM 100 (00:01:35)".into(),
                    ],
                },
                SimTaskRecord {
                    node: "pve2".into(),
                    kind: "vzdump".into(),
                    id: "202".into(),
                    user: "root@pam".into(),
                    ago: 28_000,
                    duration: 12,
                    status: "job errors".into(),
                    log: vec![
                        "INFO: starting new backup job: vzdump 202 --storage backup-nfs".into(),
                        "ERROR: Backup of VM 202 failed - no space left on device".into(),
                        "INFO: Failed at 2026-11-20 02:20:12".into(),
                    ],
                },
                SimTaskRecord {
                    node: "pve2".into(),
                    kind: "qmstart".into(),
                    id: "101".into(),
                    user: "root@pam".into(),
                    ago: 432_000,
                    duration: 2,
                    status: "OK".into(),
                    log: vec!["TASK OK".into()],
                },
            ],
            // A nightly backup of every guest, as most clusters have.
            collections: BTreeMap::from([(
                "backup".to_string(),
                BTreeMap::from([(
                    "backup-daily".to_string(),
                    [
                        ("all", "1"),
                        ("storage", "backup-nfs"),
                        ("schedule", "02:00"),
                        ("mode", "snapshot"),
                        ("enabled", "1"),
                    ]
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                )]),
            )]),
            firewall: demo_firewall(),
        }
    }
}
