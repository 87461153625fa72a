//! The Proxmox clusters a deployment reaches. `[proxmox]` is the target
//! `default`; `[targets.NAME]` adds more, each with its own client (and so
//! its own guest cache and concurrency), read-only switch and protected
//! guests. With more than one, every tool takes an optional `target`
//! argument that the host reads and strips before the plugin sees the
//! arguments; every request of the call goes to that target only.

use std::sync::Arc;

use serde_json::{Value, json};

use super::{BuildError, Gate, GateError, Protection};
use crate::pve::{Method, PveClient};
use crate::runtime::{Hints, ToolOutput, ToolSpec};

/// One cluster and the rules that hold on it.
pub struct Target {
    /// `default`, or the name of its `[targets.NAME]` section.
    pub name: String,
    /// Its client; `None` only where no Proxmox is configured (tests,
    /// `plugin test` without a simulator).
    pub pve: Option<PveClient>,
    /// `read_only = true`: every write to it is refused.
    pub read_only: bool,
    /// Guests no write may touch on it.
    pub protection: Protection,
    /// Every call carries the caller's own API token (`X-Proxmox-Token`).
    pub caller_credentials: bool,
}

/// A caller's own Proxmox API token, from the `X-Proxmox-Token` header of
/// the request that carries the call. Lives as long as that request: never
/// logged, audited or cached.
#[derive(Clone)]
pub struct ProxmoxToken {
    /// `USER@REALM!NAME`.
    pub id: String,
    /// The token's secret.
    pub secret: crate::secret::Secret,
}

impl std::fmt::Debug for ProxmoxToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxmoxToken").field("id", &self.id).finish_non_exhaustive()
    }
}

/// The header that carries a caller's Proxmox API token.
pub const TOKEN_HEADER: &str = "x-proxmox-token";

impl ProxmoxToken {
    /// Reads `USER@REALM!NAME=SECRET`; the error says what the header must
    /// look like (and never repeats the value).
    pub fn parse(value: &str) -> Result<ProxmoxToken, String> {
        let bad = || {
            "X-Proxmox-Token must be USER@REALM!NAME=SECRET, an API token as `pveum user token add` prints it"
                .to_string()
        };
        let (id, secret) = value.trim().split_once('=').ok_or_else(bad)?;
        let (user, name) = id.split_once('!').ok_or_else(bad)?;
        if !user.contains('@') || name.is_empty() || secret.is_empty() {
            return Err(bad());
        }
        Ok(ProxmoxToken { id: id.to_string(), secret: crate::secret::Secret::new(secret) })
    }
}

impl Target {
    /// This target as one call reaches it: with the caller's own token when
    /// it takes callers' credentials (a client made for this call only).
    pub fn for_caller(self: &Arc<Self>, token: Option<&ProxmoxToken>) -> Result<Arc<Target>, GateError> {
        if !self.caller_credentials {
            return Ok(self.clone());
        }
        let name = &self.name;
        let Some(token) = token else {
            return Err(GateError::CallerCredentials(format!(
                "target {name:?} uses each caller's own Proxmox API token: send it in the X-Proxmox-Token header (USER@REALM!NAME=SECRET) with each HTTP request (streamable HTTP, or POST /messages on legacy SSE)"
            )));
        };
        let base = self.pve.as_ref().ok_or_else(|| {
            GateError::CallerCredentials(format!("target {name:?} has no Proxmox connection configured"))
        })?;
        let pve = base.with_token(&token.id, &token.secret).map_err(|e| GateError::CallerCredentials(e.to_string()))?;
        Ok(Arc::new(Target {
            name: name.clone(),
            pve: Some(pve),
            read_only: self.read_only,
            protection: self.protection.clone(),
            caller_credentials: true,
        }))
    }
}

/// The argument that picks a target.
pub const ARGUMENT: &str = "target";

/// Every target, and the one a call gets when it names none.
pub(crate) struct Targets {
    list: Vec<Arc<Target>>,
    default: usize,
}

impl Targets {
    /// One target named `default`: how every deployment without
    /// `[targets.NAME]` runs.
    pub fn single(pve: Option<PveClient>, protection: Protection) -> Targets {
        let only = Target { name: "default".into(), pve, read_only: false, protection, caller_credentials: false };
        Targets { list: vec![Arc::new(only)], default: 0 }
    }

    /// `list`, with `default` the target of calls that name none.
    pub fn new(list: Vec<Target>, default: &str) -> Result<Targets, String> {
        let at = list.iter().position(|t| t.name == default).ok_or_else(|| {
            format!("the default target {default:?} is not among the configured ones ({})", names(&list).join(", "))
        })?;
        Ok(Targets { list: list.into_iter().map(Arc::new).collect(), default: at })
    }

    /// The target of calls that name none.
    pub fn default(&self) -> &Arc<Target> {
        &self.list[self.default]
    }

    /// More than one: tools take a `target` argument.
    pub fn several(&self) -> bool {
        self.list.len() > 1
    }

    /// All of them, sorted by name.
    pub fn all(&self) -> impl Iterator<Item = &Arc<Target>> {
        self.list.iter()
    }

    /// The valid names, for errors.
    fn valid(&self) -> String {
        names(self.list.iter().map(|t| t.as_ref())).join(", ")
    }

    /// The target named `name`, or an error listing the valid ones.
    pub fn named(&self, name: &str) -> Result<&Arc<Target>, GateError> {
        self.list.iter().find(|t| t.name == name).ok_or_else(|| {
            GateError::UnknownTarget(format!("target {name:?} is not configured; use one of: {}", self.valid()))
        })
    }

    /// The target the call's `arguments` name, else the default.
    pub fn pick(&self, arguments: &Value) -> Result<&Arc<Target>, GateError> {
        match arguments.get(ARGUMENT) {
            Some(Value::String(name)) if self.several() => self.named(name),
            Some(other) if self.several() => Err(GateError::UnknownTarget(format!(
                "target must be a target's name, not {other}; use one of: {}",
                self.valid()
            ))),
            _ => Ok(self.default()),
        }
    }

    /// `arguments` as the plugin sees them: without `target`.
    pub fn strip(&self, arguments: &Value) -> Value {
        let mut args = arguments.clone();
        if self.several()
            && let Value::Object(map) = &mut args
        {
            map.remove(ARGUMENT);
        }
        args
    }

    /// Adds the `target` argument to a tool's input schema (with several
    /// targets): an enum of the names, as short as it can be.
    pub fn extend_schema(&self, schema: &mut serde_json::Map<String, Value>) {
        if !self.several() {
            return;
        }
        let names: Vec<&str> = self.list.iter().map(|t| t.name.as_str()).collect();
        let entry = json!({"enum": names, "description": format!("default {}", self.default().name)});
        match schema.get_mut("properties") {
            Some(Value::Object(props)) => {
                props.insert(ARGUMENT.into(), entry);
            }
            _ => {
                schema.insert("properties".into(), json!({ ARGUMENT: entry }));
            }
        }
    }
}

impl Gate {
    /// Serves `list` instead of the single target the gate was built
    /// with; calls that name none go to `default`. With more than one,
    /// every tool's schema gains the `target` argument.
    pub fn with_targets(mut self, list: Vec<Target>, default: &str) -> Result<Gate, BuildError> {
        self.targets = Targets::new(list, default).map_err(BuildError::Targets)?;
        for (_, spec) in self.tools.values_mut() {
            self.targets.extend_schema(&mut spec.input_schema);
        }
        self.host_tools.retain(|t| t.name != LIST_TARGETS);
        if self.targets.several() {
            self.host_tools.push(list_targets_spec());
        }
        Ok(self)
    }

    /// `pve_list_targets`: every target's name, host, PVE version,
    /// reachability, read-only switch, and which is the default. Asks each
    /// for `/version` at once, so one slow cluster costs one timeout.
    pub(super) async fn list_targets(&self, token: Option<&ProxmoxToken>) -> ToolOutput {
        let asks = self.targets.all().map(|t| async move {
            // A caller-credentials target is asked with the caller's token.
            let t = t.for_caller(token).unwrap_or_else(|_| t.clone());
            let (host, answer) = match &t.pve {
                Some(pve) => {
                    let url = pve.api_url();
                    let host = url.host_str().map(|h| url.port().map_or_else(|| h.to_string(), |p| format!("{h}:{p}")));
                    (host, Some(pve.request(Method::Get, &["version"], &Value::Null).await))
                }
                None => (None, None),
            };
            let (reachable, version, error) = match answer {
                Some(Ok(v)) => (true, v["version"].as_str().map(str::to_string), None),
                Some(Err(crate::pve::ApiError::Unauthorized(_))) if t.caller_credentials => {
                    (true, None, Some("send your own API token in X-Proxmox-Token to use it".to_string()))
                }
                Some(Err(e)) => (false, None, Some(e.to_string())),
                None => (false, None, Some("no Proxmox connection configured".to_string())),
            };
            json!({"name": t.name, "host": host, "version": version, "reachable": reachable,
                   "read_only": t.read_only, "caller_credentials": t.caller_credentials,
                   "default": t.name == self.targets.default().name, "error": error})
        });
        let list: Vec<Value> = futures::future::join_all(asks).await;
        let up = list.iter().filter(|t| t["reachable"] == true).count();
        let text = format!("{} targets, {up} reachable; pick one with the target argument", list.len());
        ToolOutput { structured: Some(json!({ "targets": list })), text }
    }

    /// The targets, sorted by name.
    pub fn targets(&self) -> impl Iterator<Item = &Arc<Target>> {
        self.targets.all()
    }

    /// The target of calls that name none.
    pub fn default_target(&self) -> &Arc<Target> {
        self.targets.default()
    }
}

fn names<'a>(list: impl IntoIterator<Item = &'a Target>) -> Vec<&'a str> {
    list.into_iter().map(|t| t.name.as_str()).collect()
}

/// The host's own tool that lists the targets.
pub const LIST_TARGETS: &str = "pve_list_targets";

fn list_targets_spec() -> ToolSpec {
    let input = json!({"type": "object", "properties": {}, "additionalProperties": false});
    ToolSpec {
        name: LIST_TARGETS.into(),
        title: Some("List targets".into()),
        description:
            "The Proxmox clusters this server reaches: name, host, PVE version, reachable, read-only, default.".into(),
        input_schema: input.as_object().cloned().unwrap_or_default(),
        output_schema: None,
        hints: Hints { read_only: true, destructive: false, idempotent: true, open_world: true },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two() -> Targets {
        let t = |name: &str| Target {
            name: name.into(),
            pve: None,
            read_only: false,
            protection: Protection::default(),
            caller_credentials: false,
        };
        Targets::new(vec![t("lab"), t("prod")], "lab").unwrap()
    }

    #[test]
    fn a_call_picks_its_target_or_gets_the_default_and_an_unknown_one_lists_the_valid() {
        let targets = two();
        assert_eq!(targets.pick(&json!({"target": "prod"})).unwrap().name, "prod");
        assert_eq!(targets.pick(&json!({"vmid": 100})).unwrap().name, "lab");
        let err = targets.pick(&json!({"target": "staging"})).err().unwrap().to_string();
        assert!(err.contains("\"staging\"") && err.contains("lab, prod"), "{err}");
        assert!(targets.pick(&json!({"target": 3})).is_err());
        assert_eq!(targets.strip(&json!({"target": "prod", "vmid": 1})), json!({"vmid": 1}));
    }

    #[test]
    fn a_caller_token_is_read_as_pveum_prints_it_and_never_shown() {
        let t = ProxmoxToken::parse("alice@pve!mcp=1234-abcd").unwrap();
        assert_eq!(t.id, "alice@pve!mcp");
        assert!(!format!("{t:?}").contains("1234-abcd"));
        for bad in ["alice@pve!mcp", "alice!mcp=x", "alice@pve=x", "alice@pve!mcp=", ""] {
            let err = ProxmoxToken::parse(bad).err().unwrap();
            assert!(err.contains("USER@REALM!NAME=SECRET"), "{bad}: {err}");
        }
    }

    #[test]
    fn the_schema_gains_target_only_with_several_targets() {
        let mut schema = serde_json::Map::new();
        two().extend_schema(&mut schema);
        assert_eq!(schema["properties"]["target"]["enum"], json!(["lab", "prod"]));
        let mut one = serde_json::Map::new();
        Targets::single(None, Protection::default()).extend_schema(&mut one);
        assert!(one.is_empty());
    }
}
