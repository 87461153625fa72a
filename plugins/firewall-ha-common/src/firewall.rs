//! The firewall's scopes (cluster, node, guest), its rules as tools show
//! them, and whether a scope's rules take effect at all.

use proxmcp_sdk::guest::{Located, locate};
use proxmcp_sdk::{ToolError, pve};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::{flag, invalid, items, text, uint};

/// Which firewall: the cluster's, a node's or a guest's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ScopeKind {
    /// Datacenter-wide rules and options.
    Cluster,
    /// One node's host firewall (needs `node`).
    Node,
    /// One guest's firewall (needs `vmid`).
    Guest,
}

/// A tool's arguments on one firewall: `scope` (inferred from `vmid` or
/// `node` when left out), `node`, `vmid`, and the tool's own arguments `T`.
#[derive(Debug)]
pub struct InScope<T> {
    /// The scope as given.
    pub scope: Option<ScopeKind>,
    /// Node, for the node scope (or to check a guest's node).
    pub node: Option<String>,
    /// Guest, for the guest scope.
    pub vmid: Option<u32>,
    /// The tool's own arguments.
    pub args: T,
}

impl<'de, T: serde::de::DeserializeOwned> Deserialize<'de> for InScope<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Base {
            scope: Option<ScopeKind>,
            node: Option<String>,
            vmid: Option<u32>,
        }
        let mut rest = serde_json::Map::<String, Value>::deserialize(d)?;
        let base: serde_json::Map<_, _> =
            ["scope", "node", "vmid"].into_iter().filter_map(|k| rest.remove_entry(k)).collect();
        let b: Base = serde_json::from_value(base.into()).map_err(D::Error::custom)?;
        let args = serde_json::from_value(rest.into()).map_err(D::Error::custom)?;
        Ok(InScope { scope: b.scope, node: b.node, vmid: b.vmid, args })
    }
}

impl<T: JsonSchema> JsonSchema for InScope<T> {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        format!("InScope_{}", T::schema_name()).into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let own = T::json_schema(generator).to_value();
        let mut props = json!({
            "scope": {"type": "string", "enum": ["cluster", "node", "guest"],
                      "description": "Default: guest with vmid, node with node, else cluster"},
            "node": {"type": "string"},
            "vmid": {"type": "integer", "minimum": 100}
        });
        if let (Some(all), Some(Value::Object(more))) = (props.as_object_mut(), own.get("properties")) {
            all.extend(more.clone());
        }
        let mut schema = json!({"type": "object", "properties": props, "additionalProperties": false});
        if let Some(required) = own.get("required") {
            schema["required"] = required.clone();
        }
        schemars::Schema::try_from(schema).unwrap_or_default()
    }
}

/// A resolved scope: where its endpoints are and how to name it.
#[derive(Debug, Clone)]
pub struct Scope {
    /// Which kind.
    pub kind: ScopeKind,
    /// The path of its firewall (`cluster/firewall`, ...).
    pub base: Vec<String>,
    /// The node (node scope, or the guest's node).
    pub node: Option<String>,
    /// The guest (guest scope).
    pub guest: Option<Located>,
}

impl<T> InScope<T> {
    /// Resolves the scope, checking that its `node`/`vmid` are given.
    pub fn resolve(&self) -> Result<Scope, ToolError> {
        let kind = self.scope.unwrap_or(match (self.vmid, &self.node) {
            (Some(_), _) => ScopeKind::Guest,
            (None, Some(_)) => ScopeKind::Node,
            (None, None) => ScopeKind::Cluster,
        });
        match kind {
            ScopeKind::Cluster => {
                if self.node.is_some() || self.vmid.is_some() {
                    return Err(invalid(
                        "scope cluster takes neither node nor vmid; use scope node or guest for those",
                    ));
                }
                Ok(Scope { kind, base: path(&["cluster", "firewall"]), node: None, guest: None })
            }
            ScopeKind::Node => {
                let node = self.node.clone().ok_or_else(|| invalid("scope node needs node, e.g. \"pve1\""))?;
                if self.vmid.is_some() {
                    return Err(invalid("scope node takes no vmid; use scope guest for a guest's firewall"));
                }
                Ok(Scope { kind, base: path(&["nodes", &node, "firewall"]), node: Some(node), guest: None })
            }
            ScopeKind::Guest => {
                let vmid = self.vmid.ok_or_else(|| invalid("scope guest needs vmid, e.g. 100"))?;
                let g = locate(vmid, self.node.as_deref(), None)?;
                let base = path(&["nodes", &g.node, g.kind, &vmid.to_string(), "firewall"]);
                Ok(Scope { kind, base, node: Some(g.node.clone()), guest: Some(g) })
            }
        }
    }
}

fn path(segs: &[&str]) -> Vec<String> {
    segs.iter().map(|s| (*s).to_string()).collect()
}

impl Scope {
    /// The path of `more` below this scope's firewall.
    pub fn at(&self, more: &[&str]) -> Vec<String> {
        self.base.iter().cloned().chain(more.iter().map(|s| (*s).to_string())).collect()
    }

    /// Sends a GET below this scope's firewall.
    pub fn get(&self, more: &[&str], params: &Value) -> Result<Value, ToolError> {
        let p = self.at(more);
        let segs: Vec<&str> = p.iter().map(String::as_str).collect();
        Ok(pve::get(&segs, params)?)
    }

    /// How answers name the scope: `the cluster`, `node pve1`, `VM 100 on pve1`.
    pub fn label(&self) -> String {
        match (&self.guest, &self.node) {
            (Some(g), _) => g.to_string(),
            (None, Some(n)) => format!("node {n}"),
            _ => "the cluster".into(),
        }
    }

    /// The scope's rules, in order, and the digest of its firewall file.
    pub fn rules(&self) -> Result<(Vec<Rule>, String), ToolError> {
        let list = self.get(&["rules"], &Value::Null)?;
        let rules: Vec<Rule> = items(&list).iter().map(Rule::from_pve).collect();
        let digest = match items(&list).first().and_then(|r| text(r, "digest")) {
            Some(d) => d,
            // An empty list carries no digest; the options share the file.
            None => text(&self.get(&["options"], &Value::Null)?, "digest").unwrap_or_default(),
        };
        Ok((rules, digest))
    }
}

/// One firewall rule.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Rule {
    /// Its position (0 is evaluated first).
    pub pos: u32,
    /// `in`, `out`, `forward`, or `group` (the action names a security group).
    pub direction: String,
    /// ACCEPT, DROP, REJECT, or the security group's name.
    pub action: String,
    /// Whether the rule is on.
    pub enabled: bool,
    /// PVE macro (SSH, HTTPS, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub r#macro: Option<String>,
    /// Protocol.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proto: Option<String>,
    /// Destination port(s).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dport: Option<String>,
    /// Source port(s).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sport: Option<String>,
    /// Source address, CIDR, alias or +ipset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Destination address, CIDR, alias or +ipset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dest: Option<String>,
    /// Guest NIC (net0, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iface: Option<String>,
    /// Log level.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log: Option<String>,
    /// Comment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

impl Rule {
    /// A rule as PVE lists it.
    pub fn from_pve(v: &Value) -> Rule {
        Rule {
            pos: uint(v, "pos").and_then(|p| u32::try_from(p).ok()).unwrap_or_default(),
            direction: text(v, "type").unwrap_or_default(),
            action: text(v, "action").unwrap_or_default(),
            // PVE lists `enable` always; a rule is on unless disabled.
            enabled: flag(v, "enable").unwrap_or(true),
            r#macro: text(v, "macro"),
            proto: text(v, "proto"),
            dport: text(v, "dport"),
            sport: text(v, "sport"),
            source: text(v, "source"),
            dest: text(v, "dest"),
            iface: text(v, "iface"),
            log: text(v, "log"),
            comment: text(v, "comment"),
        }
    }

    /// One line: `0: in ACCEPT tcp dport 443 from any (on)`.
    pub fn line(&self) -> String {
        let mut out = format!("{}: {} {}", self.pos, self.direction, self.action);
        for (word, v) in [
            ("macro", &self.r#macro),
            ("proto", &self.proto),
            ("dport", &self.dport),
            ("sport", &self.sport),
            ("from", &self.source),
            ("to", &self.dest),
            ("iface", &self.iface),
        ] {
            if let Some(v) = v {
                out.push_str(&format!(" {word} {v}"));
            }
        }
        out.push_str(if self.enabled { "" } else { " (disabled)" });
        out
    }
}

/// Whether a scope's rules take effect, and if not, which level stops them.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Effect {
    /// Whether rules at this scope are applied.
    pub active: bool,
    /// Each level that switches the firewall off, with what to do.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub disabled_by: Vec<String>,
}

/// Whether the scope's rules take effect: the cluster's `enable`, the
/// node's `enable`, the guest's own `enable` and its NICs' `firewall=1`.
pub fn effect(scope: &Scope) -> Result<Effect, ToolError> {
    let mut off = Vec::new();
    let cluster = pve::get(&["cluster", "firewall", "options"], &Value::Null)?;
    if !flag(&cluster, "enable").unwrap_or(false) {
        off.push("cluster: the datacenter firewall is off (pve_set_firewall_options scope=cluster enable=1)".into());
    }
    if let Some(node) = &scope.node {
        let opts = pve::get(&["nodes", node, "firewall", "options"], &Value::Null)?;
        if !flag(&opts, "enable").unwrap_or(true) {
            off.push(format!("node: the firewall of node {node} is off (scope=node node={node} enable=1)"));
        }
    }
    if let Some(g) = &scope.guest {
        let vmid = g.vmid.to_string();
        let opts = pve::get(&["nodes", &g.node, g.kind, &vmid, "firewall", "options"], &Value::Null)?;
        if !flag(&opts, "enable").unwrap_or(false) {
            off.push(format!("guest: the firewall of {g} is off (scope=guest vmid={vmid} enable=1)"));
        }
        let config = pve::get(&["nodes", &g.node, g.kind, &vmid, "config"], &Value::Null)?;
        let nics: Vec<(&String, &Value)> = config
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(k, _)| k.strip_prefix("net").is_some_and(|n| n.parse::<u32>().is_ok()))
            .collect();
        let guarded = nics.iter().any(|(_, v)| v.as_str().is_some_and(|s| s.split(',').any(|p| p == "firewall=1")));
        if !guarded {
            off.push(format!("nic: no network device of {g} has firewall=1 (set it on net0 with pve_set_vm_config)"));
        }
    }
    Ok(Effect { active: off.is_empty(), disabled_by: off })
}
