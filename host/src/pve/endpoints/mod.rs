//! The endpoint model: the one place that knows, for each Proxmox endpoint
//! proxmcp can send to, which guests a request acts on, what privilege it
//! needs, how to say it to a person, which values are secret, and which
//! tool it belongs to.
//!
//! Protection, 403 hints, confirmation texts, redaction and the client's
//! path classification all read it. A write it does not know, or whose
//! guests it cannot tell, is refused while protection is on: safety fails
//! closed. Rows live in [`table`]; the parsing of guest ids in [`ids`].

pub mod ids;
mod table;

use std::collections::BTreeSet;
use std::sync::LazyLock;

use serde_json::{Map, Value};

use super::Method;
pub use ids::Unreadable;

/// Which methods a row covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Methods {
    /// Only this one.
    One(Method),
    /// Any method but GET.
    Writes,
}

impl Methods {
    fn covers(self, method: Method) -> bool {
        match self {
            Methods::One(m) => m == method,
            Methods::Writes => method.is_write(),
        }
    }
}

/// One way a request names the guests it acts on. Names are parameters or
/// path variables (a path variable wins).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Touch {
    /// A vmid list (`pve-vmid-list`, arrays, numbers) in this parameter or
    /// path variable.
    Ids(&'static str),
    /// HA resource ids (`vm:100`, `ct:100`, `100`), one or a list.
    HaSid(&'static str),
    /// The task in this parameter or path variable (its UPID names the
    /// guest).
    Upid(&'static str),
    /// A replication job id (`100-0`).
    ReplicationId(&'static str),
    /// A storage volume, whose name may say which guest owns it.
    Volume(&'static str),
    /// A backup selection: `vmid` list, `all=1` but `exclude`, `pool`.
    BackupSelection,
    /// Every guest of the path's node, unless this parameter lists some.
    NodeUnless(&'static str),
    /// Every guest of the cluster, unless this parameter lists some.
    AllUnless(&'static str),
    /// Every guest of the path's node.
    Node,
    /// A node `execute` batch: each command is classified in turn.
    Batch(&'static str),
    /// The guests of the backup job in the path (read from Proxmox), and
    /// those the request's own parameters name.
    BackupJob,
    /// The guests cannot be told from the request (the reason).
    Unknowable(&'static str),
}

/// What proxmcp knows about one endpoint (or a family under `**`).
#[derive(Debug)]
pub struct Endpoint {
    /// The methods this row covers.
    pub methods: Methods,
    /// The path pattern: literals, `{var}`, `{var:a|b}`, a final `**`.
    pub path: &'static str,
    /// How the request names the guests it acts on; empty: none.
    pub guests: &'static [Touch],
    /// The privilege(s) Proxmox checks, in its words.
    pub privileges: &'static str,
    /// The ACL path, with `{var}`s from the request path.
    pub acl: &'static str,
    /// A built-in Proxmox role that grants the privilege.
    pub role: &'static str,
    /// What the request does, for people: `{var}`s from the path, and
    /// `{guest}` for the path's guest with its name.
    pub action: &'static str,
    /// Parameters of this endpoint that are secret besides the usual ones.
    pub secret_params: &'static [&'static str],
    /// Keys of its answer that are secret.
    pub secret_answer: &'static [&'static str],
    /// The built-in tools that do what this endpoint does.
    pub tools: &'static [&'static str],
}

impl Endpoint {
    /// The privileges, one of which Proxmox wants on [`acl`](Self::acl),
    /// read from the row's words: `A or B` gives both, the first of
    /// `A on the guest and B on the storage` (the guest's is the one a
    /// tool is refused for), nothing in parentheses; `VM.Config.*` stands
    /// for any of that family. Empty when none is needed.
    pub fn needed(&self) -> Vec<&'static str> {
        let text = self.privileges.split('(').next().unwrap_or_default();
        let text = text.split(" on ").next().unwrap_or_default();
        text.split(" or ")
            .map(str::trim)
            .filter(|p| p.contains('.') && p.chars().next().is_some_and(|c| c.is_ascii_uppercase()))
            .collect()
    }
}

/// Defaults for table rows: a write to an endpoint that acts on no guest.
pub(crate) const ROW: Endpoint = Endpoint {
    methods: Methods::Writes,
    path: "",
    guests: &[],
    privileges: "",
    acl: "/",
    role: "",
    action: "",
    secret_params: &[],
    secret_answer: &[],
    tools: &[],
};

#[derive(Debug)]
enum Seg {
    Literal(&'static str),
    Var(&'static str, Option<Vec<&'static str>>),
    Rest,
}

struct Compiled {
    endpoint: &'static Endpoint,
    segs: Vec<Seg>,
}

static COMPILED: LazyLock<Vec<Compiled>> = LazyLock::new(|| {
    table::ENDPOINTS.iter().map(|endpoint| Compiled { endpoint, segs: compile(endpoint.path) }).collect()
});

fn compile(path: &'static str) -> Vec<Seg> {
    path.trim_start_matches('/')
        .split('/')
        .map(|s| {
            if s == "**" {
                Seg::Rest
            } else if let Some(inner) = s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                match inner.split_once(':') {
                    Some((name, alts)) => Seg::Var(name, Some(alts.split('|').collect())),
                    None => Seg::Var(inner, None),
                }
            } else {
                Seg::Literal(s)
            }
        })
        .collect()
}

fn matches<'a>(segs: &[Seg], path: &'a [&'a str]) -> Option<Vec<(&'static str, &'a str)>> {
    let mut vars = Vec::new();
    for (i, seg) in segs.iter().enumerate() {
        match seg {
            Seg::Rest => return Some(vars),
            Seg::Literal(l) => {
                if path.get(i) != Some(l) {
                    return None;
                }
            }
            Seg::Var(name, alts) => {
                let v = path.get(i)?;
                if alts.as_ref().is_some_and(|a| !a.contains(v)) {
                    return None;
                }
                vars.push((*name, *v));
            }
        }
    }
    (segs.len() == path.len()).then_some(vars)
}

/// A request matched to its row, with the path's variables.
#[derive(Debug, Clone)]
pub struct Matched {
    /// The row.
    pub endpoint: &'static Endpoint,
    vars: Vec<(&'static str, String)>,
}

/// The row for `method` on `path`, if the model knows it. Rows are tried
/// in order; specific rows stand before the families that contain them.
pub fn lookup<S: AsRef<str>>(method: Method, path: &[S]) -> Option<Matched> {
    let segs: Vec<&str> = path.iter().map(AsRef::as_ref).collect();
    COMPILED.iter().filter(|c| c.endpoint.methods.covers(method)).find_map(|c| {
        matches(&c.segs, &segs).map(|vars| Matched {
            endpoint: c.endpoint,
            vars: vars.into_iter().map(|(k, v)| (k, v.to_string())).collect(),
        })
    })
}

/// Every row, for tests and documentation.
pub fn all() -> impl Iterator<Item = &'static Endpoint> {
    table::ENDPOINTS.iter().copied()
}

/// The guests a request acts on, before pools, nodes, jobs and "all" are
/// expanded against the cluster's guest list.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Targets {
    /// Guests named by id.
    pub ids: BTreeSet<u32>,
    /// Every guest of the cluster (but `exclude`).
    pub everything: bool,
    /// Guests `everything` leaves out.
    pub exclude: BTreeSet<u32>,
    /// Every guest of these nodes.
    pub nodes: BTreeSet<String>,
    /// Every member of these pools.
    pub pools: BTreeSet<String>,
    /// The guests of these backup jobs.
    pub backup_jobs: BTreeSet<String>,
    /// Why the guests could not be told, when they could not.
    pub unknowable: Option<String>,
}

impl Targets {
    /// Whether the request acts on no guest at all.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
            && !self.everything
            && self.nodes.is_empty()
            && self.pools.is_empty()
            && self.backup_jobs.is_empty()
            && self.unknowable.is_none()
    }

    /// Adds to `ids` the guests of `guests` the request reaches through
    /// its nodes and pools.
    pub fn add_node_and_pool_members(&mut self, guests: &[super::GuestInfo]) {
        for g in guests {
            if self.nodes.contains(&g.node) || g.pool.as_ref().is_some_and(|p| self.pools.contains(p)) {
                self.ids.insert(g.vmid);
            }
        }
    }

    fn unknowable(&mut self, why: impl Into<String>) {
        self.unknowable.get_or_insert_with(|| why.into());
    }

    /// Adds the guests a backup job's (or vzdump's) selection names:
    /// `vmid`, `all` with `exclude`, `pool`.
    pub fn add_backup_selection(&mut self, params: &Value) {
        self.add_ids("vmid", &params["vmid"]);
        if ids::truthy(&params["all"]) {
            self.everything = true;
            match ids::vmid_list("exclude", &params["exclude"]) {
                Ok(ex) => self.exclude.extend(ex),
                Err(Unreadable(why)) => self.unknowable(why),
            }
        }
        if let Some(pool) = params["pool"].as_str().filter(|p| !p.is_empty()) {
            self.pools.insert(pool.to_string());
        }
    }

    fn add_ids(&mut self, name: &str, value: &Value) {
        match ids::vmid_list(name, value) {
            Ok(list) => self.ids.extend(list),
            Err(Unreadable(why)) => self.unknowable(why),
        }
    }
}

impl Matched {
    /// The value of path variable `name`.
    pub fn var(&self, name: &str) -> Option<&str> {
        self.vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.as_str())
    }

    /// A path variable, else the parameter of that name.
    fn value(&self, name: &str, params: &Value) -> Value {
        match self.var(name) {
            Some(v) => Value::String(v.to_string()),
            None => params.get(name).cloned().unwrap_or(Value::Null),
        }
    }

    /// The guests this request acts on, as far as the request says.
    pub fn targets(&self, params: &Value) -> Targets {
        self.targets_at_depth(params, 0)
    }

    fn targets_at_depth(&self, params: &Value, depth: u8) -> Targets {
        let mut t = Targets::default();
        for touch in self.endpoint.guests {
            match *touch {
                Touch::Ids(name) => t.add_ids(name, &self.value(name, params)),
                Touch::HaSid(name) => match ids::ha_sids(name, &self.value(name, params)) {
                    Ok(list) => t.ids.extend(list),
                    Err(Unreadable(why)) => t.unknowable(why),
                },
                Touch::Upid(name) => match self.value(name, params).as_str().map(ids::upid_guest) {
                    Some(Ok(Some(id))) => {
                        t.ids.insert(id);
                    }
                    Some(Ok(None)) => {}
                    Some(Err(Unreadable(why))) => t.unknowable(why),
                    None => t.unknowable(format!("{name} names no task")),
                },
                Touch::ReplicationId(name) => match self.value(name, params) {
                    Value::Null => {}
                    v => match v.as_str().map(ids::replication_id) {
                        Some(Ok(id)) => {
                            t.ids.insert(id);
                        }
                        Some(Err(Unreadable(why))) => t.unknowable(why),
                        None => t.unknowable(format!("{name} is not a replication job id")),
                    },
                },
                Touch::Volume(name) => match self.value(name, params) {
                    Value::Null => {}
                    v => match v.as_str().map(ids::volume_owner) {
                        Some(Ok(Some(id))) => {
                            t.ids.insert(id);
                        }
                        Some(Ok(None)) => {}
                        Some(Err(Unreadable(why))) => t.unknowable(why),
                        None => t.unknowable(format!("{name} is not a volume id")),
                    },
                },
                Touch::BackupSelection => t.add_backup_selection(params),
                Touch::NodeUnless(name) | Touch::AllUnless(name) => {
                    let listed = self.value(name, params);
                    let empty = listed.is_null() || listed.as_str().is_some_and(|s| s.trim().is_empty());
                    if !empty {
                        t.add_ids(name, &listed);
                    } else if let Touch::NodeUnless(_) = touch {
                        t.nodes.insert(self.var("node").unwrap_or_default().to_string());
                    } else {
                        t.everything = true;
                    }
                }
                Touch::Node => {
                    t.nodes.insert(self.var("node").unwrap_or_default().to_string());
                }
                Touch::Batch(name) => self.batch(&mut t, &self.value(name, params), depth),
                Touch::BackupJob => {
                    if let Some(id) = self.var("id") {
                        t.backup_jobs.insert(id.to_string());
                    }
                    t.add_backup_selection(params);
                }
                Touch::Unknowable(why) => t.unknowable(why),
            }
        }
        t
    }

    /// A node `execute` batch: `[{"path": …, "method": …, "args": {…}}]`.
    fn batch(&self, t: &mut Targets, commands: &Value, depth: u8) {
        let parsed: Value = match commands {
            Value::String(s) => match serde_json::from_str(s) {
                Ok(v) => v,
                Err(_) => return t.unknowable("the execute batch is not JSON"),
            },
            Value::Null => return,
            other => other.clone(),
        };
        let Some(list) = parsed.as_array() else {
            return t.unknowable("the execute batch is not a list of commands");
        };
        if depth > 0 {
            return t.unknowable("an execute batch inside an execute batch");
        }
        let node = self.var("node").unwrap_or_default();
        for cmd in list {
            let method = cmd["method"].as_str().map_or(Some(Method::Get), Method::parse);
            let (Some(method), Some(path)) = (method, cmd["path"].as_str()) else {
                return t.unknowable("an execute command without a method or path");
            };
            let rel: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
            let full: Vec<&str> =
                if rel.first() == Some(&"nodes") { rel } else { ["nodes", node].into_iter().chain(rel).collect() };
            if !method.is_write() {
                continue;
            }
            match lookup(method, &full) {
                Some(inner) => {
                    let sub = inner.targets_at_depth(&cmd["args"], depth + 1);
                    t.merge(sub);
                }
                None => {
                    return t
                        .unknowable(format!("the execute batch holds {method} {path}, which proxmcp does not know"));
                }
            }
        }
    }

    /// The privilege requirement with the ACL path filled in.
    pub fn requirement(&self) -> Option<Requirement> {
        let e = self.endpoint;
        (!e.privileges.is_empty()).then(|| Requirement {
            acl_path: self.fill(e.acl),
            privileges: e.privileges,
            role: e.role,
        })
    }

    /// `{var}`s of `template` replaced by the path's values.
    pub fn fill(&self, template: &str) -> String {
        let mut out = template.to_string();
        for (k, v) in &self.vars {
            out = out.replace(&format!("{{{k}}}"), v);
        }
        out
    }

    /// Whether `key` of this endpoint's parameters is secret.
    pub fn is_secret_param(&self, key: &str) -> bool {
        is_secret_key(key) || self.endpoint.secret_params.contains(&key)
    }

    /// The request's parameters for people: `key=value`, sorted, secrets
    /// masked, long values shortened.
    pub fn shown_params(&self, params: &Value) -> String {
        show_params(params, &|k| self.is_secret_param(k))
    }

    /// Removes secret keys from an answer of this endpoint, at any depth.
    pub fn redact_answer(&self, data: &mut Value) {
        redact_in_place(data, &|k| is_secret_key(k) || self.endpoint.secret_answer.contains(&k));
    }
}

impl Targets {
    /// Adds the guests `other` names.
    pub fn merge(&mut self, other: Targets) {
        self.ids.extend(other.ids);
        self.everything |= other.everything;
        self.exclude.extend(other.exclude);
        self.nodes.extend(other.nodes);
        self.pools.extend(other.pools);
        self.backup_jobs.extend(other.backup_jobs);
        if let Some(why) = other.unknowable {
            self.unknowable(why);
        }
    }
}

/// What an endpoint requires of proxmcp's credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    /// The ACL path, e.g. `/vms/100`.
    pub acl_path: String,
    /// The privilege(s), e.g. `VM.PowerMgmt`.
    pub privileges: &'static str,
    /// A built-in role that grants it.
    pub role: &'static str,
}

/// Parameter and answer keys that hold secrets wherever they appear.
pub const SECRET_KEYS: &[&str] = &[
    "password",
    "cipassword",
    "confirmation-password",
    "new-password",
    "secret",
    "ticket",
    "vncticket",
    "CSRFPreventionToken",
    "certkey",
    "client-key",
    "eab-hmac-key",
    "encryption-key",
    "keyring",
    "private-key",
];

/// Fragments that make any key secret (`api_token`, `root_password`, ...).
pub const SECRET_FRAGMENTS: &[&str] = &["password", "passwd", "secret", "ticket", "token"];

/// Whether `key` holds a secret wherever it appears: the names in
/// [`SECRET_KEYS`], or any key containing one of [`SECRET_FRAGMENTS`]
/// (case-insensitive). `tokenid` and `tokens` name tokens, not secrets.
pub fn is_secret_key(key: &str) -> bool {
    let lower = key.to_ascii_lowercase();
    if SECRET_KEYS.iter().any(|k| k.eq_ignore_ascii_case(key)) {
        return true;
    }
    if lower.ends_with("tokenid") || matches!(lower.as_str(), "tokens" | "token-coefficient") {
        return false;
    }
    SECRET_FRAGMENTS.iter().any(|f| lower.contains(f))
}

/// Parameters for people: `key=value`, sorted, the values of keys `secret`
/// names masked, long values shortened.
pub fn show_params(params: &Value, secret: &dyn Fn(&str) -> bool) -> String {
    let Some(map) = params.as_object() else {
        return String::new();
    };
    let mut parts: Vec<String> = map
        .iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| {
            let shown = if secret(k) {
                "[redacted]".to_string()
            } else {
                let text = match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                shorten(&text, 80)
            };
            format!("{k}={shown}")
        })
        .collect();
    parts.sort();
    parts.join(" ")
}

/// Whether the JSON text `data` could hold a secret key (cheap: a
/// substring search, case-insensitive in the first letter); when not, the
/// answer needs no parse to be redacted.
pub fn may_hold_secrets(data: &str, answer_keys: &[&str]) -> bool {
    static NEEDLES: LazyLock<Vec<String>> = LazyLock::new(|| {
        SECRET_KEYS.iter().chain(SECRET_FRAGMENTS).flat_map(|n| [n.to_string(), capitalized(n)]).collect()
    });
    NEEDLES.iter().any(|n| data.contains(n.as_str()))
        || answer_keys.iter().any(|k| data.contains(k) || data.contains(&capitalized(k)))
}

fn capitalized(word: &str) -> String {
    let mut out = word.to_string();
    if let Some(first) = out.get_mut(0..1) {
        first.make_ascii_uppercase();
    }
    out
}

/// Replaces the values of keys `secret` says are secret by `[redacted]`.
pub fn redact_in_place(value: &mut Value, secret: &dyn Fn(&str) -> bool) {
    match value {
        Value::Object(map) => redact_map(map, secret),
        Value::Array(items) => items.iter_mut().for_each(|v| redact_in_place(v, secret)),
        _ => {}
    }
}

fn redact_map(map: &mut Map<String, Value>, secret: &dyn Fn(&str) -> bool) {
    for (k, v) in map.iter_mut() {
        if secret(k) && !v.is_null() {
            *v = Value::String("[redacted]".into());
        } else {
            redact_in_place(v, secret);
        }
    }
}

/// `text` cut to `max` characters with an ellipsis, control characters
/// escaped.
pub fn shorten(text: &str, max: usize) -> String {
    let escaped: String = text.chars().flat_map(char::escape_default).collect();
    if escaped.chars().count() <= max {
        escaped
    } else {
        let cut: String = escaped.chars().take(max).collect();
        format!("{cut}…")
    }
}

#[cfg(test)]
mod tests;
