//! Roles scoped to part of the estate: `targets`, `pools`, `tags`,
//! `nodes` and `vmids` on a role. A guest is in a role's scope when it
//! meets every dimension the role sets. Writes whose guests (from the
//! endpoint model) fall outside, or cannot be told, are refused before
//! sending; reads of a guest outside are refused, and lists are filtered.

use std::collections::BTreeSet;
use std::ops::RangeInclusive;

use serde_json::Value;

use crate::pve::endpoints::{self, Targets};
use crate::pve::{ApiError, GuestInfo, Method, PveClient};

/// The part of the estate a role may see and change; empty: everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    /// Targets the role may use.
    pub targets: Vec<String>,
    /// Pools its guests belong to.
    pub pools: Vec<String>,
    /// Tags its guests carry (any of them).
    pub tags: Vec<String>,
    /// Nodes its guests run on.
    pub nodes: Vec<String>,
    /// Guest id ranges.
    pub vmids: Vec<RangeInclusive<u32>>,
}

impl Scope {
    /// Reads `vmids` entries as `"100-199"` or `"105"`.
    pub fn parse_vmids(entries: &[String]) -> Result<Vec<RangeInclusive<u32>>, String> {
        entries
            .iter()
            .map(|e| {
                let bad = || format!("vmids entry {e:?} is not a vmid or a range such as \"100-199\"");
                let (lo, hi) = e.trim().split_once('-').unwrap_or((e.trim(), e.trim()));
                let (lo, hi): (u32, u32) =
                    (lo.trim().parse().map_err(|_| bad())?, hi.trim().parse().map_err(|_| bad())?);
                if lo > hi {
                    return Err(bad());
                }
                Ok(lo..=hi)
            })
            .collect()
    }

    /// Whether the role sees every guest (no guest dimension set).
    pub fn guests_open(&self) -> bool {
        self.pools.is_empty() && self.tags.is_empty() && self.nodes.is_empty() && self.vmids.is_empty()
    }

    /// Whether the role may use target `name`.
    pub fn allows_target(&self, name: &str) -> bool {
        self.targets.is_empty() || self.targets.iter().any(|t| t == name)
    }

    /// Whether guest `g` is in scope.
    pub fn covers(&self, g: &GuestInfo) -> bool {
        (self.pools.is_empty() || g.pool.as_ref().is_some_and(|p| self.pools.contains(p)))
            && (self.tags.is_empty() || g.tags.iter().any(|t| self.tags.contains(t)))
            && (self.nodes.is_empty() || self.nodes.contains(&g.node))
            && self.covers_id(g.vmid)
    }

    fn covers_id(&self, vmid: u32) -> bool {
        self.vmids.is_empty() || self.vmids.iter().any(|r| r.contains(&vmid))
    }

    /// The scope in words, for refusals.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        for (what, list) in [("pools", &self.pools), ("tags", &self.tags), ("nodes", &self.nodes)] {
            if !list.is_empty() {
                parts.push(format!("{what} {}", list.join(", ")));
            }
        }
        if !self.vmids.is_empty() {
            let ranges: Vec<String> = self
                .vmids
                .iter()
                .map(
                    |r| if r.start() == r.end() { r.start().to_string() } else { format!("{}-{}", r.start(), r.end()) },
                )
                .collect();
            parts.push(format!("vmids {}", ranges.join(", ")));
        }
        parts.join("; ")
    }

    /// Refuses a request of a scoped role that reaches outside its scope:
    /// a write whose guests are outside or cannot be told, a new guest
    /// outside its pools, or a read of one guest outside.
    pub async fn check(
        &self,
        role: &str,
        pve: Option<&PveClient>,
        method: Method,
        path: &[String],
        params: &Value,
    ) -> Result<(), ApiError> {
        if self.guests_open() {
            return Ok(());
        }
        let refuse = |why: String| {
            Err(ApiError::DeniedByPolicy(format!(
                "role {role:?} is scoped to {}, and {why}; nothing was sent",
                self.describe()
            )))
        };
        let shown = crate::pve::encode_path(path)?;
        let Some(matched) = endpoints::lookup(method, path) else {
            if method.is_write() {
                return refuse(format!("{method} {shown} is an endpoint whose guests proxmcp cannot tell"));
            }
            return Ok(());
        };
        let mut targets: Targets = if method.is_write() {
            matched.targets(params)
        } else {
            // A read of one guest's subtree is that guest's.
            let mut t = Targets::default();
            if let Some(id) = matched.var("vmid").and_then(|v| v.parse().ok()) {
                t.ids.insert(id);
            }
            t
        };
        if let Some(why) = &targets.unknowable {
            return refuse(format!("proxmcp cannot tell which guests {method} {shown} acts on ({why})"));
        }
        if targets.everything || !targets.backup_jobs.is_empty() {
            return refuse(format!("{method} {shown} acts on guests across the cluster"));
        }
        if targets.is_empty() {
            return Ok(());
        }
        let client = pve.ok_or_else(|| ApiError::Other("no Proxmox connection is configured".into()))?;
        let guests = client.guests().await?;
        targets.add_node_and_pool_members(&guests);
        let new_pool = params.get("pool").and_then(Value::as_str);
        for vmid in &targets.ids {
            match guests.iter().find(|g| g.vmid == *vmid) {
                Some(g) if self.covers(g) => {}
                Some(g) => return refuse(format!("{} is outside it", g.label())),
                // A guest that does not exist yet: this request creates it.
                None if !method.is_write() => return refuse(format!("guest {vmid} is not in it")),
                None if !self.covers_id(*vmid) => return refuse(format!("a new guest {vmid} would be outside it")),
                None if !self.pools.is_empty() && !new_pool.is_some_and(|p| self.pools.iter().any(|s| s == p)) => {
                    return refuse(format!(
                        "a new guest must go into one of its pools: add pool = {}",
                        self.pools.join(" or ")
                    ));
                }
                None => {}
            }
        }
        Ok(())
    }

    /// A list answer with the guests outside the scope left out: the
    /// cluster's resources, a node's guests, storage content, tasks.
    pub async fn filter(&self, pve: Option<&PveClient>, path: &[String], data: &str) -> Result<String, ApiError> {
        if self.guests_open() {
            return Ok(data.to_string());
        }
        let segs: Vec<&str> = path.iter().map(String::as_str).collect();
        let key = match segs.as_slice() {
            ["cluster", "resources"] | ["nodes", _, "qemu" | "lxc"] | ["nodes", _, "storage", _, "content"] => "vmid",
            ["cluster", "tasks"] | ["nodes", _, "tasks"] => "id",
            _ => return Ok(data.to_string()),
        };
        let Ok(Value::Array(items)) = serde_json::from_str::<Value>(data) else { return Ok(data.to_string()) };
        let client = pve.ok_or_else(|| ApiError::Other("no Proxmox connection is configured".into()))?;
        let guests = client.guests().await?;
        let visible: BTreeSet<u32> = guests.iter().filter(|g| self.covers(g)).map(|g| g.vmid).collect();
        let kept: Vec<Value> = items
            .into_iter()
            .filter(|item| {
                let id = match &item[key] {
                    Value::Number(n) => n.as_u64(),
                    Value::String(s) => s.parse().ok(),
                    _ => None,
                };
                match id {
                    // Tasks and volumes name a guest only sometimes.
                    Some(id) => u32::try_from(id).is_ok_and(|id| visible.contains(&id)),
                    None => key == "id" || item.get("vmid").is_none(),
                }
            })
            .collect();
        Ok(Value::Array(kept).to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pve::GuestKind;

    fn guest(vmid: u32, pool: Option<&str>, tags: &[&str], node: &str) -> GuestInfo {
        GuestInfo {
            vmid,
            node: node.into(),
            kind: GuestKind::Qemu,
            name: None,
            status: "running".into(),
            template: false,
            tags: tags.iter().map(|t| t.to_string()).collect(),
            pool: pool.map(str::to_string),
        }
    }

    #[test]
    fn a_guest_is_in_scope_when_it_meets_every_dimension_set() {
        let scope = Scope {
            pools: vec!["dev".into()],
            vmids: Scope::parse_vmids(&["100-199".into()]).unwrap(),
            ..Scope::default()
        };
        assert!(scope.covers(&guest(150, Some("dev"), &[], "pve1")));
        assert!(!scope.covers(&guest(250, Some("dev"), &[], "pve1")));
        assert!(!scope.covers(&guest(150, Some("prod"), &[], "pve1")));
        assert!(!scope.covers(&guest(150, None, &[], "pve1")));
        assert_eq!(scope.describe(), "pools dev; vmids 100-199");
        let tagged = Scope { tags: vec!["team-a".into()], ..Scope::default() };
        assert!(tagged.covers(&guest(1, None, &["x", "team-a"], "n")) && !tagged.covers(&guest(1, None, &["x"], "n")));
    }

    #[test]
    fn vmid_ranges_are_read_or_refused_with_the_expected_form() {
        assert_eq!(Scope::parse_vmids(&["105".into(), "200-210".into()]).unwrap(), vec![105..=105, 200..=210]);
        for bad in ["20-10", "abc", "1-"] {
            assert!(Scope::parse_vmids(&[bad.into()]).unwrap_err().contains("100-199"), "{bad}");
        }
    }
}
