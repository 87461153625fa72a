//! The demo cluster's shared storages beyond the basics (a Ceph pool for
//! disk moves, a Proxmox Backup Server store whose snapshots carry
//! verification and protection), and when a vzdump archive was made.

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

/// When a vzdump archive was made, read from its name as vzdump writes it
/// (`…vzdump-qemu-100-2026_11_20-02_00_01.vma.zst`), in unix seconds (UTC).
pub(super) fn vzdump_time(volid: &str) -> Option<u64> {
    let parts: Vec<&str> = volid.split("vzdump-").nth(1)?.splitn(4, '-').collect();
    let (date, time) = (parts.get(2)?, parts.get(3)?.get(..8)?);
    let num = |s: &str| s.parse::<i64>().ok();
    let d: Vec<i64> = date.split('_').map(num).collect::<Option<_>>()?;
    let t: Vec<i64> = time.split('_').map(num).collect::<Option<_>>()?;
    let ([y, m, day], [h, min, sec]) = (d.as_slice(), t.as_slice()) else { return None };
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if *m <= 2 { y - 1 } else { *y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days * 86_400 + h * 3600 + min * 60 + sec).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_vzdump_archive_is_dated_by_its_name() {
        let t = vzdump_time("backup-nfs:backup/vzdump-qemu-100-2026_11_20-02_00_01.vma.zst").unwrap();
        assert_eq!(crate::clock::rfc3339(t), "2026-11-20T02:00:01Z");
        assert_eq!(vzdump_time("local:iso/debian.iso"), None);
    }
}
