//! Firewall reads: rules (with the security groups they use), options,
//! aliases/IP sets/groups, and the log.

use std::collections::BTreeMap;

use proxmcp_firewall_ha_common::firewall::{Effect, InScope, Rule, effect};
use proxmcp_firewall_ha_common::{flag, invalid, items, text};
use proxmcp_sdk::guest::locate;
use proxmcp_sdk::{Answer, NoArgs, Router, ToolError, format, pve};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// The requests this file's tools send.
pub const GRANTS: &[&str] = &[
    "GET /cluster/firewall/**",
    "GET /nodes/{node}/firewall/**",
    "GET /nodes/{node}/qemu/{vmid}/firewall/**",
    "GET /nodes/{node}/lxc/{vmid}/firewall/**",
    "GET /nodes/{node}/qemu/{vmid}/config",
    "GET /nodes/{node}/lxc/{vmid}/config",
];

pub fn router() -> Router {
    Router::new()
        .read(
            "pve_list_firewall_rules",
            "List firewall rules",
            "Rules of the cluster, a node or a guest in order (pos), whether they take effect, and which level disables them.",
            list_rules,
        )
        .read(
            "pve_get_firewall_options",
            "Get firewall options",
            "Firewall options (enable, policies, log levels, ...) of the cluster, a node or a guest.",
            get_options,
        )
        .read(
            "pve_list_firewall_objects",
            "List firewall objects",
            "Aliases, IP sets with members, and security groups with rules; with vmid also the guest's own.",
            list_objects,
        )
        .read(
            "pve_get_firewall_log",
            "Get firewall log",
            "Firewall log lines of a node or a guest, newest last.",
            get_log,
        )
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct RulesArgs {
    /// Also list the rules of the security groups the rules use.
    expand_groups: Option<bool>,
}

#[derive(Serialize, JsonSchema)]
struct Rules {
    scope: String,
    rules: Vec<Rule>,
    /// Pass to a change so a concurrent one is not overwritten.
    digest: String,
    /// Security groups the rules use, with their rules (expand_groups).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    groups: BTreeMap<String, Vec<Rule>>,
    effect: Effect,
}

fn group_rules(name: &str) -> Result<Vec<Rule>, ToolError> {
    let list = pve::get(&["cluster", "firewall", "groups", name], &Value::Null)?;
    Ok(items(&list).iter().map(Rule::from_pve).collect())
}

fn list_rules(a: InScope<RulesArgs>) -> Result<Answer<Rules>, ToolError> {
    let scope = a.resolve()?;
    let (rules, digest) = scope.rules()?;
    let mut groups = BTreeMap::new();
    if a.args.expand_groups == Some(true) {
        for r in rules.iter().filter(|r| r.direction == "group") {
            if !groups.contains_key(&r.action) {
                groups.insert(r.action.clone(), group_rules(&r.action)?);
            }
        }
    }
    let effect = effect(&scope)?;
    let mut summary = format!("{} firewall rules of {}", rules.len(), scope.label());
    if !effect.active {
        summary.push_str(&format!("; NOT in effect: {}", effect.disabled_by.join("; ")));
    }
    Ok(Answer::new(Rules { scope: scope.label(), rules, digest, groups, effect }, summary))
}

#[derive(Serialize, JsonSchema)]
struct Options {
    scope: String,
    /// As Proxmox stores them; absent keys have Proxmox's defaults.
    options: Map<String, Value>,
    digest: String,
    effect: Effect,
}

fn get_options(a: InScope<NoArgs>) -> Result<Answer<Options>, ToolError> {
    let scope = a.resolve()?;
    let mut options = scope.get(&["options"], &Value::Null)?.as_object().cloned().unwrap_or_default();
    let digest = options.remove("digest").and_then(|d| d.as_str().map(str::to_string)).unwrap_or_default();
    let effect = effect(&scope)?;
    let state = if effect.active { "in effect".to_string() } else { format!("off: {}", effect.disabled_by.join("; ")) };
    let summary = format!("firewall options of {} ({state})", scope.label());
    Ok(Answer::new(Options { scope: scope.label(), options, digest, effect }, summary))
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ObjectsArgs {
    /// Also the guest's own aliases and IP sets.
    #[schemars(range(min = 100))]
    vmid: Option<u32>,
}

#[derive(Serialize, JsonSchema)]
struct Alias {
    name: String,
    cidr: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    comment: Option<String>,
    /// `cluster` or the guest.
    scope: String,
}

#[derive(Serialize, JsonSchema)]
struct Member {
    cidr: String,
    /// Excluded from the set.
    nomatch: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    comment: Option<String>,
}

#[derive(Serialize, JsonSchema)]
struct IpSet {
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    comment: Option<String>,
    scope: String,
    members: Vec<Member>,
}

#[derive(Serialize, JsonSchema)]
struct Group {
    group: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    comment: Option<String>,
    rules: Vec<Rule>,
}

#[derive(Serialize, JsonSchema)]
struct Objects {
    aliases: Vec<Alias>,
    ipsets: Vec<IpSet>,
    groups: Vec<Group>,
}

fn objects_at(base: &[&str], label: &str, out: &mut Objects) -> Result<(), ToolError> {
    let at = |more: &'static str| base.iter().copied().chain([more]).collect::<Vec<&str>>();
    for a in items(&pve::get(&at("aliases"), &Value::Null)?) {
        out.aliases.push(Alias {
            name: text(a, "name").unwrap_or_default(),
            cidr: text(a, "cidr").unwrap_or_default(),
            comment: text(a, "comment"),
            scope: label.into(),
        });
    }
    for s in items(&pve::get(&at("ipset"), &Value::Null)?) {
        let name = text(s, "name").unwrap_or_default();
        let path: Vec<&str> = base.iter().copied().chain(["ipset", name.as_str()]).collect();
        let members = items(&pve::get(&path, &Value::Null)?)
            .iter()
            .map(|m| Member {
                cidr: text(m, "cidr").unwrap_or_default(),
                nomatch: flag(m, "nomatch").unwrap_or(false),
                comment: text(m, "comment"),
            })
            .collect();
        out.ipsets.push(IpSet { name, comment: text(s, "comment"), scope: label.into(), members });
    }
    Ok(())
}

fn list_objects(a: ObjectsArgs) -> Result<Answer<Objects>, ToolError> {
    let mut out = Objects { aliases: Vec::new(), ipsets: Vec::new(), groups: Vec::new() };
    objects_at(&["cluster", "firewall"], "cluster", &mut out)?;
    if let Some(vmid) = a.vmid {
        let g = locate(vmid, None, None)?;
        let id = vmid.to_string();
        objects_at(&["nodes", &g.node, g.kind, &id, "firewall"], &g.to_string(), &mut out)?;
    }
    for g in items(&pve::get(&["cluster", "firewall", "groups"], &Value::Null)?) {
        let group = text(g, "group").unwrap_or_default();
        out.groups.push(Group { rules: group_rules(&group)?, comment: text(g, "comment"), group });
    }
    let summary =
        format!("{} aliases, {} IP sets, {} security groups", out.aliases.len(), out.ipsets.len(), out.groups.len());
    Ok(Answer::new(out, summary))
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct LogArgs {
    /// A node's host firewall log (or give vmid).
    node: Option<String>,
    /// A guest's firewall log.
    #[schemars(range(min = 100))]
    vmid: Option<u32>,
    /// Last lines to show (default 50).
    #[schemars(range(min = 1, max = 5000))]
    limit: Option<u32>,
    /// Only lines since: unix seconds, or an age like 30m, 2h, 1d.
    since: Option<String>,
}

#[derive(Serialize, JsonSchema)]
struct Log {
    scope: String,
    /// Lines the selection holds (at most the 5000 oldest are read;
    /// narrow with since).
    total: u64,
    lines: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    since: Option<String>,
}

/// How many log lines one call reads.
const WINDOW: u32 = 5000;

/// `since` as unix seconds: a number, or an age before now.
fn since_time(since: &str) -> Result<u64, ToolError> {
    let s = since.trim();
    if let Ok(n) = s.parse::<u64>() {
        return Ok(n);
    }
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 =
        num.parse().map_err(|_| invalid(format!("since {since:?}: give unix seconds or an age like 30m, 2h, 1d")))?;
    let secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(invalid(format!("since {since:?}: the unit must be s, m, h or d (e.g. 2h)"))),
    };
    Ok(format::now().saturating_sub(n * secs))
}

fn get_log(a: LogArgs) -> Result<Answer<Log>, ToolError> {
    let limit = a.limit.unwrap_or(50);
    let (path, scope): (Vec<String>, String) = match (a.vmid, &a.node) {
        (Some(vmid), _) => {
            let g = locate(vmid, a.node.as_deref(), None)?;
            let p =
                vec!["nodes".into(), g.node.clone(), g.kind.into(), vmid.to_string(), "firewall".into(), "log".into()];
            (p, g.to_string())
        }
        (None, Some(node)) => {
            (vec!["nodes".into(), node.clone(), "firewall".into(), "log".into()], format!("node {node}"))
        }
        (None, None) => return Err(invalid("give node (host firewall log) or vmid (guest firewall log)")),
    };
    let segs: Vec<&str> = path.iter().map(String::as_str).collect();
    // PVE pages from the oldest line and does not say how many there are:
    // read a window and keep its end.
    let mut q = json!({"start": 0, "limit": WINDOW});
    let since = a.since.as_deref().map(since_time).transpose()?;
    if let Some(t) = since {
        q["since"] = json!(t);
    }
    let page = pve::get(&segs, &q)?;
    let mut lines: Vec<String> = items(&page).iter().filter_map(|l| text(l, "t")).collect();
    let total = lines.len() as u64;
    lines.drain(..lines.len().saturating_sub(limit as usize));
    let summary = format!("{} of {total} firewall log lines of {scope}", lines.len());
    Ok(Answer::new(Log { scope, total, lines, since: since.map(format::utc) }, summary))
}
