//! Firewall changes. Each sends the digest of the rules it read (or the
//! caller's), so a concurrent change is refused rather than overwritten,
//! and answers with the rule list before and after.

use proxmcp_firewall_ha_common::firewall::{Effect, InScope, Rule, Scope, ScopeKind, effect};
use proxmcp_firewall_ha_common::invalid;
use proxmcp_sdk::write::{Outcome, Writes};
use proxmcp_sdk::{Answer, Hints, Method, Router, ToolError};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

type Done<D> = Result<Answer<Outcome<D>>, ToolError>;

/// The requests this file's tools send.
pub const GRANTS: &[&str] = &[
    "GET /cluster/firewall/**",
    "POST /cluster/firewall/rules",
    "PUT /cluster/firewall/rules/{pos}",
    "DELETE /cluster/firewall/rules/{pos}",
    "PUT /cluster/firewall/options",
    "GET /nodes/{node}/firewall/**",
    "POST /nodes/{node}/firewall/rules",
    "PUT /nodes/{node}/firewall/rules/{pos}",
    "DELETE /nodes/{node}/firewall/rules/{pos}",
    "PUT /nodes/{node}/firewall/options",
    "GET /nodes/{node}/qemu/{vmid}/firewall/**",
    "GET /nodes/{node}/lxc/{vmid}/firewall/**",
    "GET /nodes/{node}/qemu/{vmid}/config",
    "GET /nodes/{node}/lxc/{vmid}/config",
    "POST /nodes/{node}/qemu/{vmid}/firewall/rules",
    "POST /nodes/{node}/lxc/{vmid}/firewall/rules",
    "PUT /nodes/{node}/qemu/{vmid}/firewall/rules/{pos}",
    "PUT /nodes/{node}/lxc/{vmid}/firewall/rules/{pos}",
    "DELETE /nodes/{node}/qemu/{vmid}/firewall/rules/{pos}",
    "DELETE /nodes/{node}/lxc/{vmid}/firewall/rules/{pos}",
    "PUT /nodes/{node}/qemu/{vmid}/firewall/options",
    "PUT /nodes/{node}/lxc/{vmid}/firewall/options",
];

pub fn router() -> Router {
    Router::new()
        .write(
            "pve_add_firewall_rule",
            "Add firewall rule",
            "Add a rule to the cluster, a node or a guest firewall (at pos, else on top).",
            Hints::WRITE,
            add,
        )
        .write(
            "pve_update_firewall_rule",
            "Update firewall rule",
            "Change the rule at pos (only the fields given; clear removes fields; moveto reorders).",
            Hints::WRITE,
            update,
        )
        .write(
            "pve_delete_firewall_rule",
            "Delete firewall rule",
            "Delete the rule at pos.",
            Hints::DESTRUCTIVE,
            delete,
        )
        .write(
            "pve_set_firewall_options",
            "Set firewall options",
            "Set firewall options of the cluster, a node or a guest (e.g. enable, policy_in, log_level_in).",
            Hints::WRITE,
            set_options,
        )
}

/// `in`, `out`, or `group` (the action names a security group).
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
enum Direction {
    In,
    Out,
    Group,
}

#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
enum LogLevel {
    Emerg,
    Alert,
    Crit,
    Err,
    Warning,
    Notice,
    Info,
    Debug,
    Nolog,
}

/// An argument struct with a rule's fields besides its own, and
/// `fields()` to take them out (serde's `flatten` cannot deny unknown
/// arguments).
macro_rules! rule_args {
    ($(#[$sm:meta])* struct $name:ident { $($(#[$fm:meta])* $field:ident : $ty:ty,)* }) => {
        $(#[$sm])*
        #[derive(Deserialize, JsonSchema)]
        #[serde(deny_unknown_fields)]
        struct $name {
            $($(#[$fm])* $field: $ty,)*
            /// ACCEPT, DROP, REJECT, or a security group's name (direction group).
            action: Option<String>,
            /// in (default), out, or group.
            direction: Option<Direction>,
            /// e.g. tcp, udp, icmp.
            proto: Option<String>,
            /// Port, range (8000:8100) or list (80,443).
            dport: Option<String>,
            sport: Option<String>,
            /// Address, CIDR, alias or +ipset.
            source: Option<String>,
            dest: Option<String>,
            /// A PVE macro, e.g. SSH, HTTPS.
            r#macro: Option<String>,
            /// Guest NIC, e.g. net0.
            iface: Option<String>,
            comment: Option<String>,
            enable: Option<bool>,
            log: Option<LogLevel>,
        }

        impl $name {
            // Unused on the plain struct the macro also makes.
            #[allow(dead_code)]
            fn fields(&self) -> Fields {
                Fields {
                    action: self.action.clone(),
                    direction: self.direction,
                    proto: self.proto.clone(),
                    dport: self.dport.clone(),
                    sport: self.sport.clone(),
                    source: self.source.clone(),
                    dest: self.dest.clone(),
                    r#macro: self.r#macro.clone(),
                    iface: self.iface.clone(),
                    comment: self.comment.clone(),
                    enable: self.enable,
                    log: self.log,
                }
            }
        }
    };
}

rule_args! {
    /// The fields a rule can have (the arguments' own fields taken out).
    struct Fields {}
}

impl Fields {
    /// The fields as PVE parameters.
    fn params(&self) -> Result<Map<String, Value>, ToolError> {
        if let (Some(a), Some(d)) = (&self.action, self.direction) {
            let verdict = matches!(a.as_str(), "ACCEPT" | "DROP" | "REJECT");
            match d {
                Direction::Group if verdict => {
                    return Err(invalid(format!("direction group needs a security group as action, not {a}")));
                }
                Direction::In | Direction::Out if !verdict => {
                    return Err(invalid(format!(
                        "action {a:?} is not ACCEPT, DROP or REJECT; for a security group use direction group"
                    )));
                }
                _ => {}
            }
        }
        let mut p = Map::new();
        let mut put = |k: &str, v: Option<Value>| {
            if let Some(v) = v {
                p.insert(k.into(), v);
            }
        };
        put("action", self.action.clone().map(Value::from));
        put("type", self.direction.map(|d| json!(format!("{d:?}").to_lowercase())));
        for (k, v) in [
            ("proto", &self.proto),
            ("dport", &self.dport),
            ("sport", &self.sport),
            ("source", &self.source),
            ("dest", &self.dest),
            ("macro", &self.r#macro),
            ("iface", &self.iface),
            ("comment", &self.comment),
        ] {
            put(k, v.clone().map(Value::from));
        }
        put("enable", self.enable.map(|e| json!(u8::from(e))));
        put("log", self.log.map(|l| json!(format!("{l:?}").to_lowercase())));
        Ok(p)
    }
}

#[derive(Serialize, JsonSchema)]
struct Change {
    scope: String,
    /// The rules before and after, one line each (`pos: direction action ...`).
    before: Vec<String>,
    after: Vec<String>,
    /// Whether the rules take effect (a disabled level explains a rule
    /// that changes nothing).
    effect: Effect,
}

/// The digest to send: the caller's, which must still be current, or the
/// one just read.
fn digest_to_send(given: Option<&String>, current: &str) -> Result<String, ToolError> {
    match given {
        Some(d) if d != current => Err(ToolError::Api(proxmcp_sdk::ApiError::Conflict(format!(
            "the rules changed since digest {d} was read (now {current}); list them again and retry"
        )))),
        _ => Ok(current.to_string()),
    }
}

/// A rule as PVE would list it after setting `params` on `base`.
fn merged(base: Option<&Rule>, params: &Map<String, Value>, pos: u32) -> Rule {
    let mut v = base.map(|r| serde_json::to_value(r).unwrap_or_default()).unwrap_or_else(|| json!({}));
    if let Some(d) = v.get("direction").cloned() {
        v["type"] = d;
    }
    v["enable"] = json!(u8::from(base.is_none_or(|r| r.enabled)));
    for (k, val) in params {
        v[k] = val.clone();
    }
    v["pos"] = json!(pos);
    Rule::from_pve(&v)
}

fn lines(rules: &[Rule]) -> Vec<String> {
    rules.iter().enumerate().map(|(i, r)| Rule { pos: i as u32, ..r.clone() }.line()).collect()
}

/// Sends one rule change and answers with the list before and after.
fn finish(
    scope: &Scope,
    writes: &mut Writes,
    sent: Option<Value>,
    what: &str,
    before: &[Rule],
    planned: Vec<Rule>,
) -> Done<Change> {
    let after = if sent.is_some() { scope.rules()?.0 } else { planned };
    let change = Change { scope: scope.label(), before: lines(before), after: lines(&after), effect: effect(scope)? };
    let mut answer = writes.finish(scope.node.as_deref().unwrap_or(""), sent, what, change)?;
    if !answer.data.details.effect.active {
        answer.text.push_str(&format!(
            "; rules here are NOT in effect: {}",
            answer.data.details.effect.disabled_by.join("; ")
        ));
    }
    Ok(answer)
}

fn rules_path(scope: &Scope, pos: Option<u32>) -> Vec<String> {
    match pos {
        Some(p) => scope.at(&["rules", &p.to_string()]),
        None => scope.at(&["rules"]),
    }
}

fn send(
    writes: &mut Writes,
    method: Method,
    path: &[String],
    params: &Map<String, Value>,
) -> Result<Option<Value>, ToolError> {
    let segs: Vec<&str> = path.iter().map(String::as_str).collect();
    Ok(writes.send(method, &segs, &Value::Object(params.clone()))?)
}

rule_args! {
    struct AddArgs {
        /// Where to insert (0 = top, the default).
        pos: Option<u32>,
        /// From a listing; refused if the rules changed since.
        digest: Option<String>,
    }
}

fn add(a: InScope<AddArgs>, writes: &mut Writes) -> Done<Change> {
    let scope = a.resolve()?;
    let mut f = a.args.fields();
    let action =
        f.action.clone().ok_or_else(|| invalid("action is required: ACCEPT, DROP, REJECT or a security group"))?;
    let direction = *f.direction.get_or_insert(Direction::In);
    let mut params = f.params()?;
    let (before, current) = scope.rules()?;
    let at = a.args.pos.unwrap_or(0).min(before.len() as u32);
    let mut planned = before.clone();
    planned.insert(at as usize, merged(None, &params, at));
    params.insert("digest".into(), json!(digest_to_send(a.args.digest.as_ref(), &current)?));
    if let Some(p) = a.args.pos {
        params.insert("pos".into(), json!(p));
    }
    let sent = send(writes, Method::Post, &rules_path(&scope, None), &params)?;
    let what = format!(
        "add firewall rule {} {action} at pos {at} of {}",
        format!("{direction:?}").to_lowercase(),
        scope.label()
    );
    finish(&scope, writes, sent, &what, &before, planned)
}

/// The rule at `pos`, or an error listing the positions there are.
fn rule_at(rules: &[Rule], pos: u32, scope: &Scope) -> Result<Rule, ToolError> {
    rules.get(pos as usize).cloned().ok_or_else(|| match rules.len() {
        0 => invalid(format!("{} has no firewall rules", scope.label())),
        n => invalid(format!("no rule at pos {pos}; {} has rules at pos 0 to {}", scope.label(), n - 1)),
    })
}

rule_args! {
    struct UpdateArgs {
        pos: u32,
        /// Fields to remove, e.g. ["sport", "comment"].
        clear: Option<Vec<String>>,
        /// Move the rule to this position instead (no other change).
        moveto: Option<u32>,
        digest: Option<String>,
    }
}

fn update(a: InScope<UpdateArgs>, writes: &mut Writes) -> Done<Change> {
    let scope = a.resolve()?;
    let (before, current) = scope.rules()?;
    let rule = rule_at(&before, a.args.pos, &scope)?;
    let mut params = a.args.fields().params()?;
    let clear = a.args.clear.clone().unwrap_or_default();
    const CLEARABLE: &[&str] = &["proto", "dport", "sport", "source", "dest", "macro", "iface", "comment", "log"];
    if let Some(bad) = clear.iter().find(|c| !CLEARABLE.contains(&c.as_str())) {
        return Err(invalid(format!("clear {bad:?}: only {} can be cleared", CLEARABLE.join(", "))));
    }
    let mut planned = before.clone();
    let what;
    if let Some(to) = a.args.moveto {
        if !params.is_empty() || !clear.is_empty() {
            return Err(invalid("moveto moves the rule only; change its fields in a second call"));
        }
        params.insert("moveto".into(), json!(to));
        let moved = planned.remove(a.args.pos as usize);
        planned.insert((to as usize).min(planned.len()), moved);
        what = format!("move firewall rule {} to pos {to} in {}", a.args.pos, scope.label());
    } else {
        if params.is_empty() && clear.is_empty() {
            return Err(invalid("nothing to change: give fields to set, clear, or moveto"));
        }
        let mut changed = merged(Some(&rule), &params, a.args.pos);
        let mut v = serde_json::to_value(&changed).unwrap_or_default();
        for c in &clear {
            v.as_object_mut().map(|o| o.remove(c));
        }
        v["type"] = json!(changed.direction);
        v["enable"] = json!(u8::from(changed.enabled));
        changed = Rule::from_pve(&v);
        planned[a.args.pos as usize] = changed;
        if !clear.is_empty() {
            params.insert("delete".into(), json!(clear.join(",")));
        }
        what = format!("change firewall rule {} of {}", a.args.pos, scope.label());
    }
    params.insert("digest".into(), json!(digest_to_send(a.args.digest.as_ref(), &current)?));
    let sent = send(writes, Method::Put, &rules_path(&scope, Some(a.args.pos)), &params)?;
    finish(&scope, writes, sent, &what, &before, planned)
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct DeleteArgs {
    pos: u32,
    digest: Option<String>,
}

fn delete(a: InScope<DeleteArgs>, writes: &mut Writes) -> Done<Change> {
    let scope = a.resolve()?;
    let (before, current) = scope.rules()?;
    let rule = rule_at(&before, a.args.pos, &scope)?;
    let params: Map<String, Value> =
        [("digest".to_string(), json!(digest_to_send(a.args.digest.as_ref(), &current)?))].into_iter().collect();
    let mut planned = before.clone();
    planned.remove(a.args.pos as usize);
    let sent = send(writes, Method::Delete, &rules_path(&scope, Some(a.args.pos)), &params)?;
    let what = format!("delete firewall rule {} of {}", rule.line(), scope.label());
    finish(&scope, writes, sent, &what, &before, planned)
}

/// The options each scope has, as PVE names them.
fn option_keys(kind: ScopeKind) -> &'static [&'static str] {
    match kind {
        ScopeKind::Cluster => &["enable", "policy_in", "policy_out", "policy_forward", "log_ratelimit", "ebtables"],
        ScopeKind::Node => &[
            "enable",
            "log_level_in",
            "log_level_out",
            "log_level_forward",
            "nosmurfs",
            "smurf_log_level",
            "tcpflags",
            "tcp_flags_log_level",
            "ndp",
            "nftables",
            "log_nf_conntrack",
            "nf_conntrack_allow_invalid",
            "nf_conntrack_max",
            "protection_synflood",
        ],
        ScopeKind::Guest => &[
            "enable",
            "dhcp",
            "ipfilter",
            "macfilter",
            "ndp",
            "radv",
            "log_level_in",
            "log_level_out",
            "policy_in",
            "policy_out",
        ],
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct OptionsArgs {
    /// Options to set, e.g. {"enable": true, "policy_in": "DROP"}. Cluster: enable, policy_in/out/forward,
    /// log_ratelimit, ebtables. Node: enable, log_level_in/out/forward, nosmurfs, tcpflags, ndp, nftables, ...
    /// Guest: enable, dhcp, ipfilter, macfilter, ndp, radv, log_level_in/out, policy_in/out.
    set: Option<Map<String, Value>>,
    /// Options to reset to Proxmox's default.
    reset: Option<Vec<String>>,
    digest: Option<String>,
}

#[derive(Serialize, JsonSchema)]
struct OptionsChange {
    scope: String,
    before: Map<String, Value>,
    after: Map<String, Value>,
    effect: Effect,
}

fn set_options(a: InScope<OptionsArgs>, writes: &mut Writes) -> Done<OptionsChange> {
    let scope = a.resolve()?;
    let keys = option_keys(scope.kind);
    let set = a.args.set.clone().unwrap_or_default();
    let reset = a.args.reset.clone().unwrap_or_default();
    if let Some(bad) = set.keys().chain(reset.iter()).find(|k| !keys.contains(&k.as_str())) {
        return Err(invalid(format!(
            "{bad:?} is not a {:?} firewall option; these are: {}",
            scope.kind,
            keys.join(", ")
        )));
    }
    if set.is_empty() && reset.is_empty() {
        return Err(invalid("nothing to change: give set (options and values) or reset (names)"));
    }
    let mut before = scope.get(&["options"], &Value::Null)?.as_object().cloned().unwrap_or_default();
    let current = before.remove("digest").and_then(|d| d.as_str().map(str::to_string)).unwrap_or_default();
    let mut params = Map::new();
    for (k, v) in &set {
        let v = match v {
            Value::Bool(b) => json!(u8::from(*b)),
            Value::String(_) | Value::Number(_) => v.clone(),
            other => return Err(invalid(format!("option {k}: give a boolean, number or string, not {other}"))),
        };
        params.insert(k.clone(), v);
    }
    let mut after = before.clone();
    after.extend(params.clone());
    for r in &reset {
        after.remove(r);
    }
    if !reset.is_empty() {
        params.insert("delete".into(), json!(reset.join(",")));
    }
    params.insert("digest".into(), json!(digest_to_send(a.args.digest.as_ref(), &current)?));
    let sent = send(writes, Method::Put, &scope.at(&["options"]), &params)?;
    if sent.is_some() {
        after = scope.get(&["options"], &Value::Null)?.as_object().cloned().unwrap_or_default();
        after.remove("digest");
    }
    let what = format!("set firewall options of {}", scope.label());
    let change = OptionsChange { scope: scope.label(), before, after, effect: effect(&scope)? };
    writes.finish(scope.node.as_deref().unwrap_or(""), sent, &what, change)
}
