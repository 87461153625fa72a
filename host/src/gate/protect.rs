//! Protected guests: no write reaches a guest that carries the protection
//! tag or is listed in `[protect] vmids`, whatever the tool and even with
//! `confirm=true`.

use std::collections::BTreeSet;

use serde_json::Value;

/// Which guests are protected.
#[derive(Debug, Clone)]
pub struct Protection {
    /// Guests with this tag are protected (`None`: tags do not protect).
    pub tag: Option<String>,
    /// Guests protected by id.
    pub vmids: BTreeSet<u32>,
}

impl Default for Protection {
    fn default() -> Self {
        Protection { tag: Some("protected".into()), vmids: BTreeSet::new() }
    }
}

impl Protection {
    /// Whether protection can refuse anything at all.
    pub fn is_active(&self) -> bool {
        self.tag.is_some() || !self.vmids.is_empty()
    }
}

/// The guests a write request acts on: the guest in its path
/// (`/nodes/{node}/{qemu|lxc}/{vmid}/…`), or the guests a backup job names.
pub fn write_targets<S: AsRef<str>>(path: &[S], params: &Value) -> Vec<u32> {
    let s: Vec<&str> = path.iter().map(AsRef::as_ref).collect();
    match s.as_slice() {
        ["nodes", _, "qemu" | "lxc", vmid, ..] => vmid.parse().into_iter().collect(),
        ["nodes", _, "vzdump"] => match &params["vmid"] {
            Value::String(list) => list.split([',', ' ', ';']).filter_map(|v| v.trim().parse().ok()).collect(),
            Value::Number(n) => n.as_u64().and_then(|v| u32::try_from(v).ok()).into_iter().collect(),
            _ => Vec::new(),
        },
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn targets_come_from_the_guest_path_or_the_backup_list() {
        assert_eq!(write_targets(&["nodes", "pve1", "qemu", "100", "status", "stop"], &json!({})), [100]);
        assert_eq!(write_targets(&["nodes", "pve1", "lxc", "200"], &json!({})), [200]);
        assert_eq!(write_targets(&["nodes", "pve1", "vzdump"], &json!({"vmid": "100,101"})), [100, 101]);
        assert!(
            write_targets(&["nodes", "pve1", "qemu"], &json!({"vmid": 300})).is_empty(),
            "creating is not acting on a guest"
        );
        assert!(write_targets(&["cluster", "options"], &json!({})).is_empty());
    }
}
