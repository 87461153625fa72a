//! The ways Proxmox names guests inside parameters and ids, parsed as PVE
//! parses them, so that no spelling of a vmid list slips past protection.

use serde_json::Value;

/// Why a value that should name guests could not be read. Protection
/// refuses the request rather than guess.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable(pub String);

/// A vmid list as PVE's `pve-vmid-list` format reads it: any run of NUL,
/// `;`, `,` or whitespace separates ids; arrays and numbers count too.
pub fn vmid_list(param: &str, value: &Value) -> Result<Vec<u32>, Unreadable> {
    match value {
        Value::Null => Ok(Vec::new()),
        Value::Number(n) => n
            .as_u64()
            .and_then(|v| u32::try_from(v).ok())
            .map(|v| vec![v])
            .ok_or_else(|| Unreadable(format!("{param}={n} is not a vmid"))),
        Value::String(s) => s
            .split(|c: char| c == '\0' || c == ';' || c == ',' || c.is_whitespace())
            .filter(|p| !p.is_empty())
            .map(|p| p.parse::<u32>().map_err(|_| Unreadable(format!("{param} holds {p:?}, which is not a vmid"))))
            .collect(),
        Value::Array(items) => {
            let mut ids = Vec::new();
            for item in items {
                ids.extend(vmid_list(param, item)?);
            }
            Ok(ids)
        }
        Value::Bool(_) | Value::Object(_) => Err(Unreadable(format!("{param} is not a vmid list"))),
    }
}

/// The guest of an HA resource id: `vm:100`, `ct:100` or a bare `100`.
pub fn ha_sid(sid: &str) -> Result<u32, Unreadable> {
    let id = sid.split_once(':').map_or(sid, |(kind, id)| if matches!(kind, "vm" | "ct") { id } else { "" });
    id.trim().parse().map_err(|_| Unreadable(format!("HA resource {sid:?} names no guest")))
}

/// The guests of an HA resource list (`vm:100,ct:101`), split like vmid
/// lists.
pub fn ha_sids(param: &str, value: &Value) -> Result<Vec<u32>, Unreadable> {
    match value {
        Value::Null => Ok(Vec::new()),
        Value::Number(_) => vmid_list(param, value),
        Value::String(s) => s
            .split(|c: char| c == '\0' || c == ';' || c == ',' || c.is_whitespace())
            .filter(|p| !p.is_empty())
            .map(ha_sid)
            .collect(),
        Value::Array(items) => {
            let mut ids = Vec::new();
            for item in items {
                ids.extend(ha_sids(param, item)?);
            }
            Ok(ids)
        }
        Value::Bool(_) | Value::Object(_) => Err(Unreadable(format!("{param} is not a list of HA resources"))),
    }
}

/// The guest a task acts on, from its UPID
/// (`UPID:node:pid:pstart:starttime:type:id:user:`); `Ok(None)` for a
/// task of no guest.
pub fn upid_guest(upid: &str) -> Result<Option<u32>, Unreadable> {
    let fields: Vec<&str> = upid.split(':').collect();
    if fields.first() != Some(&"UPID") || fields.len() < 8 {
        return Err(Unreadable(format!("{upid:?} is not a task id (UPID)")));
    }
    Ok(fields[6].parse().ok())
}

/// The guest of a replication job id (`100-0`).
pub fn replication_id(id: &str) -> Result<u32, Unreadable> {
    id.split_once('-')
        .and_then(|(vmid, _)| vmid.parse().ok())
        .ok_or_else(|| Unreadable(format!("replication job {id:?} names no guest")))
}

/// The guest that owns a storage volume, if its name says so:
/// `local-lvm:vm-100-disk-0`, `base-100-disk-0`, `subvol-100-disk-0`,
/// `local:100/vm-100-disk-0.qcow2`, or a backup `vzdump-qemu-100-…`.
/// `Ok(None)`: a volume of no guest (an ISO, a template).
pub fn volume_owner(volume: &str) -> Result<Option<u32>, Unreadable> {
    let name = volume.split_once(':').map_or(volume, |(_, rest)| rest);
    let mut owners = Vec::new();
    // A directory storage keeps a guest's images under `VMID/`.
    if let Some((dir, _)) = name.split_once('/')
        && let Ok(id) = dir.parse::<u32>()
    {
        owners.push(id);
    }
    // A Proxmox Backup Server snapshot: `backup/vm/VMID/TIME`, `backup/ct/VMID/TIME`.
    if let ["backup", "vm" | "ct", id, ..] = name.split('/').collect::<Vec<_>>().as_slice() {
        owners.push(id.parse().map_err(|_| Unreadable(format!("volume {volume:?}: bad vmid")))?);
    }
    let base = name.rsplit('/').next().unwrap_or(name);
    for prefix in ["vm-", "base-", "subvol-", "basevol-", "vzdump-qemu-", "vzdump-lxc-", "vzdump-openvz-"] {
        if let Some(rest) = base.strip_prefix(prefix) {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            if digits.is_empty() {
                return Err(Unreadable(format!("volume {volume:?} looks like a guest's but names no vmid")));
            }
            owners.push(digits.parse().map_err(|_| Unreadable(format!("volume {volume:?}: bad vmid")))?);
        }
    }
    owners.dedup();
    match owners.as_slice() {
        [] => Ok(None),
        [id] => Ok(Some(*id)),
        _ => Err(Unreadable(format!("volume {volume:?} names more than one guest"))),
    }
}

/// Whether a PVE boolean parameter is set (`1`, `true`, `on`, `yes`).
pub fn truthy(value: &Value) -> bool {
    match value {
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|v| v != 0.0),
        Value::String(s) => matches!(s.trim().to_ascii_lowercase().as_str(), "1" | "true" | "on" | "yes"),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn vmid_lists_split_as_pve_splits_them() {
        for (value, want) in [
            (json!("100,101"), vec![100, 101]),
            (json!("102\t100"), vec![102, 100]),
            (json!("102\n100"), vec![102, 100]),
            (json!("100\u{0}"), vec![100]),
            (json!("100;;101  102"), vec![100, 101, 102]),
            (json!(["100", 101, "102,103"]), vec![100, 101, 102, 103]),
            (json!(100), vec![100]),
        ] {
            assert_eq!(vmid_list("vmid", &value).unwrap(), want, "{value}");
        }
        assert!(vmid_list("vmid", &json!("100,abc")).is_err());
        assert!(vmid_list("vmid", &json!({"a": 1})).is_err());
    }

    #[test]
    fn ha_replication_and_volume_ids_name_their_guest() {
        assert_eq!(ha_sid("vm:100").unwrap(), 100);
        assert_eq!(ha_sid("ct:200").unwrap(), 200);
        assert_eq!(ha_sid("100").unwrap(), 100);
        assert!(ha_sid("vm:").is_err());
        assert!(ha_sid("xx:100").is_err());
        assert_eq!(replication_id("100-0").unwrap(), 100);
        assert_eq!(volume_owner("local-lvm:vm-100-disk-0").unwrap(), Some(100));
        assert_eq!(volume_owner("base-105-disk-1").unwrap(), Some(105));
        assert_eq!(volume_owner("local:subvol-200-disk-0").unwrap(), Some(200));
        assert_eq!(volume_owner("local:100/vm-100-disk-0.qcow2").unwrap(), Some(100));
        assert_eq!(volume_owner("backup-nfs:backup/vzdump-qemu-100-2026_01_01-00_00_00.vma.zst").unwrap(), Some(100));
        assert_eq!(volume_owner("backup-pbs:backup/vm/100/2026-12-03T04:00:00Z").unwrap(), Some(100));
        assert_eq!(volume_owner("backup-pbs:backup/ct/200/2026-12-03T04:00:00Z").unwrap(), Some(200));
        assert_eq!(volume_owner("local:iso/debian.iso").unwrap(), None);
        assert!(volume_owner("local:101/vm-100-disk-0.qcow2").is_err());
        assert!(truthy(&json!(1)) && truthy(&json!("1")) && truthy(&json!(true)) && !truthy(&json!(0)));
    }
}
