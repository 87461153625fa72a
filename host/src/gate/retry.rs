//! Approval by retry: clients of MCP's stateless wire (2026-07-28) are not
//! asked mid-call; the call answers with the question and a sealed state,
//! and the client calls again with the user's answer and that state.
//!
//! The state carries the plan the user is shown. It is sealed with a key
//! that never leaves this process (HMAC-SHA256), bound to the principal,
//! the tool and a digest of the arguments, valid for a short time, and
//! good for one retry: a forged, altered, replayed, expired or borrowed
//! state is refused and nothing is sent.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::approval::Planned;
use crate::pve::Method;

/// How long a question may wait for its answer.
pub(super) const APPROVAL_TTL: Duration = Duration::from_secs(300);

/// How a client that answers by retrying is asked.
#[derive(Debug, Clone, Default)]
pub struct Retry {
    /// The sealed state the client echoed (a retry), if any.
    pub state: Option<String>,
    /// The user's answer brought with the retry: approved or not; `None`
    /// when the retry brings no answer.
    pub accepted: Option<bool>,
}

/// Why a retry's state is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    /// Not a state this server sealed, or altered.
    #[error("the confirmation state is not one this server issued (or was altered)")]
    Forged,
    /// Sealed for another principal, tool or arguments.
    #[error("the confirmation state belongs to another caller, tool or set of arguments")]
    OtherCall,
    /// Older than its time to live.
    #[error("the confirmation state has expired")]
    Expired,
    /// Already used once.
    #[error("the confirmation state was already used")]
    Replayed,
}

/// What a sealed state holds.
#[derive(Debug, Serialize, Deserialize)]
struct Payload {
    nonce: String,
    expires: u64,
    /// Principal, tool and arguments, hashed.
    call: String,
    plan: Vec<PlannedWire>,
}

#[derive(Debug, Serialize, Deserialize)]
struct PlannedWire {
    method: Method,
    path: Vec<String>,
    params: Value,
}

/// Seals and opens approval states; remembers which were used.
pub struct Sealer {
    /// One HMAC-SHA256 block: the key is used as it is.
    key: [u8; 64],
    ttl: Duration,
    used: Mutex<HashMap<String, u64>>,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer").field("ttl", &self.ttl).finish_non_exhaustive()
    }
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The hash that binds a state to one call: who, which tool, which
/// arguments (without `confirm` and `dry_run`, which the retry may vary).
fn call_digest(principal: &str, tool: &str, arguments: &Value) -> String {
    let mut args = arguments.clone();
    if let Some(map) = args.as_object_mut() {
        map.remove("confirm");
        map.remove("dry_run");
    }
    let mut h = Sha256::new();
    for part in [principal, tool, &args.to_string()] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    hex::encode(h.finalize())
}

impl Sealer {
    /// A sealer with a fresh random key: states do not outlive the process.
    pub fn new(ttl: Duration) -> Result<Sealer, getrandom::Error> {
        let mut key = [0u8; 64];
        getrandom::fill(&mut key)?;
        Ok(Sealer { key, ttl, used: Mutex::new(HashMap::new()) })
    }

    fn keyed(&self, body: &str) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as hmac::digest::KeyInit>::new(&self.key.into());
        mac.update(body.as_bytes());
        mac
    }

    /// Seals `plan` for this principal, tool and arguments.
    pub fn seal(&self, principal: &str, tool: &str, arguments: &Value, plan: &[Planned]) -> String {
        let mut nonce = [0u8; 16];
        // A failed random source leaves a zero nonce, which the used-set
        // then lets through only once.
        let _ = getrandom::fill(&mut nonce);
        let payload = Payload {
            nonce: hex::encode(nonce),
            expires: now() + self.ttl.as_secs(),
            call: call_digest(principal, tool, arguments),
            plan: plan
                .iter()
                .map(|p| PlannedWire { method: p.method, path: p.path.clone(), params: p.params.clone() })
                .collect(),
        };
        let body = hex::encode(serde_json::to_vec(&payload).unwrap_or_default());
        format!("{body}.{}", hex::encode(self.keyed(&body).finalize().into_bytes()))
    }

    /// Opens `state` for this principal, tool and arguments and uses it up:
    /// the plan the user was shown.
    pub fn open(
        &self,
        state: &str,
        principal: &str,
        tool: &str,
        arguments: &Value,
    ) -> Result<Vec<Planned>, StateError> {
        let (body, mac) = state.split_once('.').ok_or(StateError::Forged)?;
        let given = hex::decode(mac).map_err(|_| StateError::Forged)?;
        // verify_slice compares in constant time.
        self.keyed(body).verify_slice(&given).map_err(|_| StateError::Forged)?;
        let bytes = hex::decode(body).map_err(|_| StateError::Forged)?;
        let payload: Payload = serde_json::from_slice(&bytes).map_err(|_| StateError::Forged)?;
        if payload.call != call_digest(principal, tool, arguments) {
            return Err(StateError::OtherCall);
        }
        let now = now();
        if now > payload.expires {
            return Err(StateError::Expired);
        }
        let mut used = self.used.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        used.retain(|_, expires| *expires >= now);
        if used.insert(payload.nonce, payload.expires).is_some() {
            return Err(StateError::Replayed);
        }
        Ok(payload.plan.into_iter().map(|p| Planned { method: p.method, path: p.path, params: p.params }).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn plan() -> Vec<Planned> {
        vec![Planned {
            method: Method::Post,
            path: ["nodes", "pve1", "qemu", "100", "status", "stop"].map(String::from).to_vec(),
            params: json!({}),
        }]
    }

    #[test]
    fn a_state_opens_once_for_its_own_call_only() {
        let sealer = Sealer::new(Duration::from_secs(300)).unwrap();
        let args = json!({"vmid": 100});
        let state = sealer.seal("alice", "pve_stop_vm", &args, &plan());
        // The retry may add confirm; other arguments, tools or callers may not borrow it.
        assert_eq!(sealer.open(&state, "bob", "pve_stop_vm", &args), Err(StateError::OtherCall));
        assert_eq!(sealer.open(&state, "alice", "pve_delete_vm", &args), Err(StateError::OtherCall));
        assert_eq!(sealer.open(&state, "alice", "pve_stop_vm", &json!({"vmid": 101})), Err(StateError::OtherCall));
        let opened = sealer.open(&state, "alice", "pve_stop_vm", &json!({"vmid": 100, "confirm": false})).unwrap();
        assert_eq!(opened, plan());
        assert_eq!(sealer.open(&state, "alice", "pve_stop_vm", &args), Err(StateError::Replayed));
    }

    #[test]
    fn forged_altered_foreign_and_expired_states_are_refused() {
        let sealer = Sealer::new(Duration::from_secs(300)).unwrap();
        let args = json!({"vmid": 100});
        let state = sealer.seal("alice", "pve_stop_vm", &args, &plan());
        let (body, mac) = state.split_once('.').unwrap();
        // A body of the attacker's choosing with the old MAC.
        let mut other = plan();
        other[0].path[3] = "101".into();
        let theirs = sealer.seal("alice", "pve_stop_vm", &args, &other);
        let forged = format!("{}.{mac}", theirs.split_once('.').unwrap().0);
        assert_eq!(sealer.open(&forged, "alice", "pve_stop_vm", &args), Err(StateError::Forged));
        assert_eq!(sealer.open(body, "alice", "pve_stop_vm", &args), Err(StateError::Forged));
        assert_eq!(sealer.open("garbage", "alice", "pve_stop_vm", &args), Err(StateError::Forged));
        // Another process (another key) issued it.
        let elsewhere = Sealer::new(Duration::from_secs(300)).unwrap();
        assert_eq!(elsewhere.open(&state, "alice", "pve_stop_vm", &args), Err(StateError::Forged));
        let stale = Sealer { ttl: Duration::ZERO, ..Sealer::new(Duration::ZERO).unwrap() };
        let old = stale.seal("alice", "pve_stop_vm", &args, &plan());
        std::thread::sleep(Duration::from_millis(1100));
        assert_eq!(stale.open(&old, "alice", "pve_stop_vm", &args), Err(StateError::Expired));
    }
}
