//! Protected guests: no write reaches a guest that carries the protection
//! tag or is listed in `[protect] vmids`, whatever the tool and even with
//! `confirm=true`.
//!
//! Which guests a request acts on comes from the endpoint model
//! ([`crate::pve::endpoints`]). Protection fails closed: a write the model
//! does not know, whose guests it cannot tell, or whose guests' tags cannot
//! be read is refused before anything is sent.

use std::collections::BTreeSet;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::pve::endpoints::{self, Matched, Targets};
use crate::pve::{ApiError, GuestInfo, Method, PveClient, encode_path};

/// What protection does with a write the endpoint model cannot classify.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UnknownWrites {
    /// Refuse it (the default).
    #[default]
    Refuse,
    /// Send it unchecked.
    Allow,
}

/// Which guests are protected.
#[derive(Debug, Clone)]
pub struct Protection {
    /// Guests with this tag are protected (`None`: tags do not protect).
    pub tag: Option<String>,
    /// Guests protected by id.
    pub vmids: BTreeSet<u32>,
    /// Writes the model cannot classify.
    pub unknown_writes: UnknownWrites,
}

impl Default for Protection {
    fn default() -> Self {
        Protection {
            tag: Some(crate::defaults::PROTECT_TAG.into()),
            vmids: BTreeSet::new(),
            unknown_writes: UnknownWrites::Refuse,
        }
    }
}

const ALLOW_HINT: &str =
    "an operator who accepts the risk sets [protect] unknown_writes = \"allow\" in the proxmcp config";

impl Protection {
    /// Whether protection can refuse anything at all.
    pub fn is_active(&self) -> bool {
        self.tag.is_some() || !self.vmids.is_empty()
    }

    /// Refuses a write that acts on a protected guest, or whose guests
    /// cannot be told or checked. The guests' tags are read fresh.
    pub async fn check(
        &self,
        pve: Option<&PveClient>,
        method: Method,
        path: &[String],
        params: &Value,
    ) -> Result<(), ApiError> {
        if !self.is_active() || !method.is_write() {
            return Ok(());
        }
        let shown = encode_path(path)?;
        let Some(matched) = endpoints::lookup(method, path) else {
            return self.unknown(format!(
                "{method} {shown} is an endpoint proxmcp's endpoint model does not know, so it cannot tell whether it touches a protected guest; nothing was sent. Use a tool made for it, or {ALLOW_HINT}"
            ));
        };
        let targets = matched.targets(params);
        if let Some(why) = &targets.unknowable {
            return self.unknown(format!(
                "proxmcp cannot tell which guests {method} {shown} acts on ({why}), so protection refuses it; nothing was sent. Name the guests explicitly, or {ALLOW_HINT}"
            ));
        }
        if targets.is_empty() {
            return Ok(());
        }
        self.check_targets(pve, &matched, targets).await
    }

    fn unknown(&self, message: String) -> Result<(), ApiError> {
        match self.unknown_writes {
            UnknownWrites::Allow => Ok(()),
            UnknownWrites::Refuse => Err(ApiError::DeniedByPolicy(message)),
        }
    }

    async fn check_targets(
        &self,
        pve: Option<&PveClient>,
        matched: &Matched,
        mut targets: Targets,
    ) -> Result<(), ApiError> {
        let needs_list = self.tag.is_some()
            || targets.everything
            || !targets.nodes.is_empty()
            || !targets.pools.is_empty()
            || !targets.backup_jobs.is_empty();
        let guests: Vec<GuestInfo> = if needs_list {
            let client = pve.ok_or_else(|| unreadable("no Proxmox connection is configured"))?;
            client.invalidate_guests().await;
            client.guests().await.map_err(|e| unreadable(&e.to_string()))?
        } else {
            Vec::new()
        };
        for job in std::mem::take(&mut targets.backup_jobs) {
            let client = pve.ok_or_else(|| unreadable("no Proxmox connection is configured"))?;
            let config = client
                .request(Method::Get, &["cluster", "backup", job.as_str()], &json!({}))
                .await
                .map_err(|e| unreadable(&format!("backup job {job:?} could not be read: {e}")))?;
            let mut inner = Targets::default();
            inner.add_backup_selection(&config);
            if let Some(why) = inner.unknowable {
                return Err(unreadable(&format!("backup job {job:?}: {why}")));
            }
            targets.merge(inner);
        }
        targets.add_node_and_pool_members(&guests);
        let Targets { mut ids, everything, exclude, .. } = targets;
        if everything {
            ids.extend(guests.iter().map(|g| g.vmid).filter(|id| !exclude.contains(id)));
            ids.extend(self.vmids.iter().filter(|id| !exclude.contains(id)));
        }
        let action = describe_briefly(matched);
        for vmid in ids {
            let guest = guests.iter().find(|g| g.vmid == vmid);
            if self.vmids.contains(&vmid) {
                return Err(ApiError::DeniedByPolicy(format!(
                    "{} is protected ([protect] vmids in the proxmcp config), and this request would {action}; write tools refuse it even with confirm=true. Nothing was sent; an operator can remove it from the list",
                    label(vmid, guest)
                )));
            }
            let Some(tag) = &self.tag else { continue };
            match guest {
                Some(g) if g.tags.iter().any(|t| t == tag) => {
                    return Err(ApiError::DeniedByPolicy(format!(
                        "{} carries the tag {tag:?}, so it is protected, and this request would {action}; write tools refuse it even with confirm=true. Nothing was sent; remove the tag in Proxmox to allow changes",
                        label(vmid, guest)
                    )));
                }
                Some(_) => {}
                None => self.check_invisible(pve, vmid).await?,
            }
        }
        Ok(())
    }

    /// A vmid missing from the guest list is either free (a guest about to
    /// be created) or a guest proxmcp's credentials cannot see, whose tags
    /// therefore cannot be checked.
    async fn check_invisible(&self, pve: Option<&PveClient>, vmid: u32) -> Result<(), ApiError> {
        let client = pve.ok_or_else(|| unreadable("no Proxmox connection is configured"))?;
        match client.request(Method::Get, &["cluster", "nextid"], &json!({"vmid": vmid})).await {
            Ok(_) => Ok(()),
            Err(ApiError::BadRequest { .. }) => Err(ApiError::DeniedByPolicy(format!(
                "guest {vmid} exists but proxmcp's Proxmox credentials cannot see it, so its protection tag cannot be checked; nothing was sent. Grant VM.Audit on /vms/{vmid} to proxmcp's token"
            ))),
            Err(e) => Err(unreadable(&format!("whether guest {vmid} exists could not be checked: {e}"))),
        }
    }
}

fn unreadable(why: &str) -> ApiError {
    ApiError::DeniedByPolicy(format!(
        "the guests' protection tags could not be read ({why}), so the write was refused; nothing was sent. Retry when Proxmox answers GET /cluster/resources"
    ))
}

fn label(vmid: u32, guest: Option<&GuestInfo>) -> String {
    guest.map_or_else(|| format!("guest {vmid}"), GuestInfo::label)
}

/// The row's action without guest names (the refusal names the guest).
fn describe_briefly(matched: &Matched) -> String {
    let vmid = matched.var("vmid").unwrap_or("?");
    let kind = if matched.var("kind") == Some("lxc") { "CT" } else { "VM" };
    matched.fill(matched.endpoint.action).replace("{guest}", &format!("{kind} {vmid}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protection_is_active_with_a_tag_or_a_list() {
        assert!(Protection::default().is_active());
        let off = Protection { tag: None, vmids: BTreeSet::new(), unknown_writes: UnknownWrites::Refuse };
        assert!(!off.is_active());
    }

    #[tokio::test]
    async fn unknown_writes_are_refused_and_reads_pass() {
        let p = Protection { tag: None, vmids: [100].into(), unknown_writes: UnknownWrites::Refuse };
        let path: Vec<String> = ["nodes", "pve1", "frobnicate"].map(String::from).to_vec();
        let err = p.check(None, Method::Post, &path, &json!({})).await.unwrap_err().to_string();
        assert!(err.contains("does not know") && err.contains("unknown_writes"), "{err}");
        assert!(p.check(None, Method::Get, &path, &json!({})).await.is_ok());
        let allow = Protection { unknown_writes: UnknownWrites::Allow, ..p };
        assert!(allow.check(None, Method::Post, &path, &json!({})).await.is_ok());
    }

    #[tokio::test]
    async fn listed_guests_are_refused_without_asking_proxmox() {
        let p = Protection { tag: None, vmids: [100].into(), unknown_writes: UnknownWrites::Refuse };
        let path: Vec<String> = ["nodes", "pve1", "vzdump"].map(String::from).to_vec();
        for vmid in [json!("102\t100"), json!(["100"]), json!("100\u{0}")] {
            let err = p.check(None, Method::Post, &path, &json!({"vmid": vmid})).await.unwrap_err().to_string();
            assert!(err.contains("guest 100 is protected"), "{err}");
        }
        assert!(p.check(None, Method::Post, &path, &json!({"vmid": "101"})).await.is_ok());
    }
}
