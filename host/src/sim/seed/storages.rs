//! The demo cluster's shared storages beyond the basics: a Ceph pool for
//! disk moves, and a Proxmox Backup Server store whose snapshots carry
//! verification and protection.

use super::{GIB, SimStorage, volume};

/// A shared RBD pool for images and container volumes, empty at start.
pub(super) fn ceph() -> SimStorage {
    SimStorage {
        storage: "ceph-rbd".into(),
        kind: "rbd".into(),
        content: vec!["images".into(), "rootdir".into()],
        shared: true,
        nodes: None,
        total: 3072 * GIB,
        base_used: 400 * GIB,
        volumes: Vec::new(),
    }
}

/// A backup server store with snapshots from six hours before the
/// simulator started: 100's verified and protected, 102's failed
/// verification.
pub(super) fn pbs() -> SimStorage {
    let six_hours_ago = crate::sim::state::now().saturating_sub(6 * 3600);
    let snapshot = |vmid: u32, state: &str| {
        let t = crate::clock::utc(six_hours_ago);
        let time = format!("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", t.year, t.month, t.day, t.hour, t.minute, t.second);
        let mut v =
            volume(&format!("backup-pbs:backup/vm/{vmid}/{time}"), None, "backup", "pbs-vm", 5 * GIB, Some(vmid));
        v.ctime = six_hours_ago;
        v.verification = Some(state.into());
        v
    };
    let mut verified = snapshot(100, "ok");
    verified.protected = true;
    verified.notes = Some("before upgrade".into());
    SimStorage {
        storage: "backup-pbs".into(),
        kind: "pbs".into(),
        content: vec!["backup".into()],
        shared: true,
        nodes: None,
        total: 8192 * GIB,
        base_used: 2048 * GIB,
        volumes: vec![verified, snapshot(102, "failed")],
    }
}
