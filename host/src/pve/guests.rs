//! Guest resolution: vmid -> node and kind, from `/cluster/resources`.

use serde::Serialize;
use serde_json::Value;

use super::ApiError;

/// QEMU VM or LXC container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GuestKind {
    /// `/nodes/{node}/qemu/{vmid}`.
    Qemu,
    /// `/nodes/{node}/lxc/{vmid}`.
    Lxc,
}

/// Where a guest lives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GuestInfo {
    /// Guest id.
    pub vmid: u32,
    /// Owning node.
    pub node: String,
    /// QEMU or LXC.
    pub kind: GuestKind,
    /// Name, if any (guest-controlled text).
    pub name: Option<String>,
    /// PVE status string.
    pub status: String,
    /// Whether it is a template.
    pub template: bool,
    /// Its Proxmox tags.
    pub tags: Vec<String>,
    /// The pool it belongs to, if any.
    pub pool: Option<String>,
}

impl GuestInfo {
    /// `VM 100 "web-01"` or `CT 200` (the name is guest-controlled text,
    /// quoted).
    pub fn label(&self) -> String {
        let kind = if self.kind == GuestKind::Lxc { "CT" } else { "VM" };
        match &self.name {
            Some(n) => format!("{kind} {} {n:?}", self.vmid),
            None => format!("{kind} {}", self.vmid),
        }
    }
}

/// Parses the guests out of a `GET /cluster/resources?type=vm` answer,
/// skipping entries that are not QEMU or LXC guests.
pub fn parse_resources(data: &Value) -> Vec<GuestInfo> {
    let Some(items) = data.as_array() else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|r| {
            let kind = match r["type"].as_str()? {
                "qemu" => GuestKind::Qemu,
                "lxc" => GuestKind::Lxc,
                _ => return None,
            };
            let vmid = match &r["vmid"] {
                Value::Number(n) => u32::try_from(n.as_u64()?).ok()?,
                Value::String(s) => s.parse().ok()?,
                _ => return None,
            };
            Some(GuestInfo {
                vmid,
                node: r["node"].as_str()?.to_string(),
                kind,
                name: r["name"].as_str().map(str::to_string),
                status: r["status"].as_str().unwrap_or("unknown").to_string(),
                template: r["template"].as_u64() == Some(1) || r["template"] == Value::Bool(true),
                pool: r["pool"].as_str().filter(|p| !p.is_empty()).map(str::to_string),
                tags: r["tags"]
                    .as_str()
                    .map(|t| t.split([';', ',', ' ']).filter(|t| !t.is_empty()).map(str::to_string).collect())
                    .unwrap_or_default(),
            })
        })
        .collect()
}

/// The error for an unknown vmid, listing the nearest existing ones.
pub fn not_found(vmid: u32, guests: &[GuestInfo]) -> ApiError {
    let mut ids: Vec<u32> = guests.iter().map(|g| g.vmid).collect();
    ids.sort_by_key(|id| (id.abs_diff(vmid), *id));
    ids.truncate(5);
    if ids.is_empty() {
        ApiError::NotFound(format!("no guest with vmid {vmid}: the cluster has no VMs or containers"))
    } else {
        let list: Vec<String> = ids.iter().map(u32::to_string).collect();
        ApiError::NotFound(format!(
            "no guest with vmid {vmid}; nearest existing vmids: {} (list all with pve_list_vms)",
            list.join(", ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn resources_parse_into_guests_and_skip_other_types() {
        let data = json!([
            {"id": "qemu/100", "type": "qemu", "vmid": 100, "node": "pve1", "name": "web", "status": "running", "tags": "prod;protected"},
            {"id": "lxc/200", "type": "lxc", "vmid": "200", "node": "pve2", "status": "stopped", "template": 1},
            {"id": "storage/pve1/local", "type": "storage", "node": "pve1"}
        ]);
        let g = parse_resources(&data);
        assert_eq!(g.len(), 2);
        assert_eq!(g[0].kind, GuestKind::Qemu);
        assert_eq!(g[0].tags, ["prod", "protected"]);
        assert_eq!(g[1].vmid, 200);
        assert!(g[1].template);
    }

    #[test]
    fn unknown_vmid_lists_nearest_ids() {
        let guests: Vec<GuestInfo> = [100u32, 101, 105, 200, 300, 999]
            .iter()
            .map(|&vmid| GuestInfo {
                vmid,
                node: "pve1".into(),
                kind: GuestKind::Qemu,
                name: None,
                status: "running".into(),
                template: false,
                tags: Vec::new(),
                pool: None,
            })
            .collect();
        let msg = not_found(102, &guests).to_string();
        assert!(msg.contains("101, 100, 105, 200, 300"), "{msg}");
    }
}
