//! Finding and describing endpoints for a model: small answers (a search
//! hit is one line; a description stays under 4 KB, its parameters in
//! pages), each saying how proxmcp treats the endpoint, from the endpoint
//! model.

use serde_json::{Map, Value, json};

use super::{ApiSchema, Endpoint, Param, PathEntry};
use crate::pve::endpoints::{self, Touch};
use crate::pve::{ApiError, Method};

/// Search hits at most (whatever the caller asks).
pub const MAX_HITS: usize = 25;
/// Bytes of parameter entries per page of a description.
const PAGE_BYTES: usize = 2_400;

/// Words that carry no meaning for the search.
const STOP_WORDS: &[&str] =
    &["a", "an", "the", "to", "of", "on", "in", "for", "and", "or", "with", "from", "my", "all"];

/// Everyday words and the API's words for them.
const SYNONYMS: &[(&str, &[&str])] = &[
    ("vm", &["qemu"]),
    ("vms", &["qemu"]),
    ("virtual", &["qemu"]),
    ("machine", &["qemu"]),
    ("container", &["lxc"]),
    ("containers", &["lxc"]),
    ("ct", &["lxc"]),
    ("guest", &["qemu", "lxc"]),
    ("disk", &["resize", "move_disk", "storage"]),
    ("backup", &["vzdump", "backup"]),
    ("user", &["users", "access"]),
    ("permission", &["acl", "permissions"]),
    ("ip", &["ipset", "network"]),
    ("port", &["firewall", "dport"]),
];

/// Verbs and the method they suggest.
const VERBS: &[(&str, Method)] = &[
    ("add", Method::Post),
    ("create", Method::Post),
    ("new", Method::Post),
    ("start", Method::Post),
    ("stop", Method::Post),
    ("run", Method::Post),
    ("update", Method::Put),
    ("change", Method::Put),
    ("set", Method::Put),
    ("modify", Method::Put),
    ("edit", Method::Put),
    ("delete", Method::Delete),
    ("remove", Method::Delete),
    ("destroy", Method::Delete),
    ("list", Method::Get),
    ("get", Method::Get),
    ("show", Method::Get),
    ("read", Method::Get),
];

/// The endpoints that match the words of `query`, best first.
pub fn search(schema: &ApiSchema, query: &str, method: Option<Method>, limit: usize) -> Value {
    let words: Vec<String> = query
        .split(|c: char| !c.is_alphanumeric() && c != '-' && c != '_')
        .map(str::to_lowercase)
        .filter(|w| !w.is_empty() && !STOP_WORDS.contains(&w.as_str()))
        .collect();
    let mut hits: Vec<(u32, &PathEntry, &Endpoint)> = Vec::new();
    for entry in schema.paths() {
        let literals: Vec<&str> = entry.literals().collect();
        for e in entry.endpoints.iter().filter(|e| method.is_none_or(|m| e.method == m)) {
            let score = score(&words, &literals, e);
            if score > 0 {
                hits.push((score, entry, e));
            }
        }
    }
    hits.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.path.len().cmp(&b.1.path.len())));
    let total = hits.len();
    let endpoints: Vec<Value> = hits
        .into_iter()
        .take(limit.clamp(1, MAX_HITS))
        .map(|(_, entry, e)| {
            json!({"method": e.method, "path": entry.path, "description": first_sentence(&e.description, 100),
                   "writes": e.method.is_write()})
        })
        .collect();
    json!({"version": schema.version, "matches": total, "endpoints": endpoints})
}

fn score(words: &[String], literals: &[&str], e: &Endpoint) -> u32 {
    let description = e.description.to_lowercase();
    let mut total = 0;
    let mut topical = false;
    for word in words {
        let mut best = 0;
        let alike = |a: &str, b: &str| a == b || stem(a) == stem(b);
        if literals.iter().any(|l| alike(l, word)) {
            best = 4;
        } else if let Some((_, api)) = SYNONYMS.iter().find(|(w, _)| w == word)
            && literals.iter().any(|l| api.contains(l))
        {
            best = 3;
        } else if description.split(|c: char| !c.is_alphanumeric()).any(|d| alike(d, word)) {
            best = 1;
        }
        topical |= best > 0;
        if let Some((_, m)) = VERBS.iter().find(|(v, _)| v == word)
            && *m == e.method
        {
            best += 2;
        }
        total += best;
    }
    if topical { total } else { 0 }
}

/// A word without a plural `s` (`rules` -> `rule`).
fn stem(word: &str) -> &str {
    word.strip_suffix('s').filter(|s| s.len() > 2).unwrap_or(word)
}

/// One path's endpoints (or only `method`'s); with `param`, that parameter
/// in full. Answers stay under 4 KB: parameters come in pages.
pub fn describe(
    schema: &ApiSchema,
    path: &str,
    method: Option<Method>,
    param: Option<&str>,
    page: usize,
) -> Result<Value, ApiError> {
    let segments = segments_of(path);
    let Some(found) = schema.find(&segments) else {
        return Err(ApiError::NotFound(format!(
            "PVE {} has no path {path}; closest: {}. pve_api_search finds endpoints by words",
            schema.version,
            schema.closest_paths(&segments, 3).join(", ")
        )));
    };
    let entry = found.entry;
    let chosen: Vec<&Endpoint> = match method {
        Some(m) => vec![entry.endpoint(m).ok_or_else(|| {
            ApiError::InvalidRequest(format!("{} has no {m}; it has {}", entry.path, entry.methods()))
        })?],
        None => entry.endpoints.iter().collect(),
    };
    let mut out = Map::new();
    out.insert("version".into(), json!(schema.version));
    out.insert("path".into(), json!(entry.path));
    let vars: Vec<&str> = entry.var_names().collect();
    if !vars.is_empty() {
        out.insert("path_vars".into(), json!(vars));
    }
    if let [e] = chosen[..] {
        let own: Vec<&Param> = entry.own_params(e).collect();
        let mut d = overview(entry, e, 600);
        match param {
            Some(name) => {
                let p = own.iter().find(|p| p.names(name) || p.name == name).ok_or_else(|| {
                    let names: Vec<&str> = own.iter().map(|p| p.name.as_str()).collect();
                    let hint = super::check::did_you_mean(name, &names).map(|h| format!("; {h}")).unwrap_or_default();
                    ApiError::InvalidRequest(format!("{} {} has no parameter {name:?}{hint}", e.method, entry.path))
                })?;
                let (keys, next) = paged(&p.keys, page, key_entry)?;
                let mut full = param_entry(p, 600);
                if !keys.is_empty() {
                    full.insert("keys".into(), Value::Array(keys));
                }
                d.insert("parameter".into(), Value::Object(full));
                pagination(&mut d, page, next);
            }
            None => {
                let (entries, next) = paged(&own, page, |p| Value::Object(param_entry(p, 100)))?;
                d.insert("parameters".into(), Value::Array(entries));
                d.insert("returns".into(), json!(returns_summary(&e.returns)));
                pagination(&mut d, page, next);
            }
        }
        out.insert("endpoint".into(), Value::Object(d));
    } else {
        let list: Vec<Value> = chosen
            .iter()
            .map(|e| {
                let mut d = overview(entry, e, 200);
                let required: Vec<&str> = entry.own_params(e).filter(|p| p.required).map(|p| p.name.as_str()).collect();
                d.insert("required".into(), json!(required));
                d.insert("parameter_count".into(), json!(entry.own_params(e).count()));
                Value::Object(d)
            })
            .collect();
        out.insert("endpoints".into(), Value::Array(list));
        out.insert("next".into(), json!("give method to see an endpoint's parameters"));
    }
    Ok(Value::Object(out))
}

fn pagination(d: &mut Map<String, Value>, page: usize, next: Option<usize>) {
    if page > 0 {
        d.insert("page".into(), json!(page));
    }
    if let Some(n) = next {
        d.insert("next_page".into(), json!(n));
    }
}

/// `path` as segments: `/api2/json` and slashes at the ends dropped.
pub fn segments_of(path: &str) -> Vec<&str> {
    let path = path.trim().trim_start_matches('/');
    let path = path.strip_prefix("api2/json").unwrap_or(path);
    path.split('/').filter(|s| !s.is_empty()).collect()
}

/// Method, description, whether it writes, privileges and treatment.
fn overview(entry: &PathEntry, e: &Endpoint, max: usize) -> Map<String, Value> {
    let mut d = Map::new();
    d.insert("method".into(), json!(e.method));
    d.insert("description".into(), json!(first_sentence(&e.description, max)));
    if let Some(p) = privileges(entry, e) {
        d.insert("privileges".into(), json!(p));
    }
    d.insert("proxmcp".into(), json!(treatment(entry, e.method)));
    d
}

/// Page `page` of `items`, each rendered by `render`, cut by size; and the
/// next page's number when there is one. A page past the last is an error
/// naming how many there are.
fn paged<T>(items: &[T], page: usize, render: impl Fn(&T) -> Value) -> Result<(Vec<Value>, Option<usize>), ApiError> {
    let mut pages: Vec<Vec<Value>> = vec![Vec::new()];
    let mut size = 0;
    for item in items {
        let v = render(item);
        let bytes = v.to_string().len() + 1;
        if size + bytes > PAGE_BYTES && !pages.last().is_some_and(Vec::is_empty) {
            pages.push(Vec::new());
            size = 0;
        }
        size += bytes;
        if let Some(last) = pages.last_mut() {
            last.push(v);
        }
    }
    let count = pages.len();
    let next = (page + 1 < count).then_some(page + 1);
    match pages.into_iter().nth(page) {
        Some(items) => Ok((items, next)),
        None => Err(ApiError::InvalidRequest(format!(
            "page {page} does not exist: there {} (0 to {})",
            if count == 1 { "is 1 page".to_string() } else { format!("are {count} pages") },
            count - 1
        ))),
    }
}

fn param_entry(p: &Param, max_description: usize) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("name".into(), json!(p.name));
    m.insert("type".into(), json!(p.ty));
    if p.required {
        m.insert("required".into(), json!(true));
    }
    if let Some(d) = &p.description {
        m.insert("description".into(), json!(first_sentence(d, max_description)));
    }
    rules(p, &mut m);
    if let Some(f) = &p.format_name {
        m.insert("format".into(), json!(f));
    }
    if !p.keys.is_empty() && max_description <= 100 {
        let names: Vec<&str> = p.keys.iter().map(|k| k.name.as_str()).collect();
        m.insert("keys".into(), json!(shorten_list(&names, 12)));
    }
    m
}

fn key_entry(k: &Param) -> Value {
    let mut m = Map::new();
    m.insert("name".into(), json!(k.name));
    m.insert("type".into(), json!(k.ty));
    if k.default_key {
        m.insert("default_key".into(), json!(true));
    }
    if let Some(a) = &k.alias {
        m.insert("alias".into(), json!(a));
    }
    if let Some(d) = &k.description {
        m.insert("description".into(), json!(first_sentence(d, 120)));
    }
    rules(k, &mut m);
    if let Some(f) = &k.format_name {
        m.insert("format".into(), json!(f));
    }
    Value::Object(m)
}

/// Default, enumeration, pattern, range and length.
fn rules(p: &Param, m: &mut Map<String, Value>) {
    if let Some(d) = &p.default {
        m.insert("default".into(), d.clone());
    }
    if let Some(e) = &p.enumeration {
        let runs = numbered_runs(e);
        let names: Vec<&str> = runs.iter().map(String::as_str).collect();
        m.insert("enum".into(), json!(shorten_list(&names, 24)));
    }
    if let Some(pat) = &p.pattern {
        m.insert("pattern".into(), json!(pat.chars().take(160).collect::<String>()));
    }
    if p.minimum.is_some() || p.maximum.is_some() {
        m.insert("range".into(), json!(format!("{}..{}", bound(p.minimum), bound(p.maximum))));
    }
    if p.min_length.is_some() || p.max_length.is_some() {
        let b = |v: Option<u64>| v.map(|v| v.to_string()).unwrap_or_default();
        m.insert("length".into(), json!(format!("{}..{}", b(p.min_length), b(p.max_length))));
    }
}

/// `mp0, mp1, …, mp255` written as `mp0…mp255`: runs of one stem with
/// consecutive numbers become one entry.
fn numbered_runs(values: &[String]) -> Vec<String> {
    let split = |v: &str| {
        let stem = v.trim_end_matches(|c: char| c.is_ascii_digit());
        let n = v[stem.len()..].parse::<u64>().ok();
        (stem.to_string(), n)
    };
    let mut out: Vec<String> = Vec::new();
    let mut run: Option<(String, u64, u64)> = None;
    let flush = |run: &mut Option<(String, u64, u64)>, out: &mut Vec<String>| {
        if let Some((stem, first, last)) = run.take() {
            match last - first {
                0 => out.push(format!("{stem}{first}")),
                1 => out.extend([format!("{stem}{first}"), format!("{stem}{last}")]),
                _ => out.push(format!("{stem}{first}…{stem}{last}")),
            }
        }
    };
    for v in values {
        match split(v) {
            (stem, Some(n)) if !stem.is_empty() => match &mut run {
                Some((s, _, last)) if *s == stem && *last + 1 == n => *last = n,
                _ => {
                    flush(&mut run, &mut out);
                    run = Some((stem, n, n));
                }
            },
            _ => {
                flush(&mut run, &mut out);
                out.push(v.clone());
            }
        }
    }
    flush(&mut run, &mut out);
    out
}

fn bound(v: Option<f64>) -> String {
    v.map(|v| if v.fract() == 0.0 { format!("{}", v as i64) } else { v.to_string() }).unwrap_or_default()
}

fn shorten_list(names: &[&str], max: usize) -> Vec<String> {
    let mut out: Vec<String> = names.iter().take(max).map(|n| n.to_string()).collect();
    if names.len() > max {
        out.push(format!("… {} more", names.len() - max));
    }
    out
}

/// The first sentence (or paragraph) of `text`, at most `max` characters.
fn first_sentence(text: &str, max: usize) -> String {
    let para = text.split("\n\n").next().unwrap_or(text).replace('\n', " ");
    if para.chars().count() <= max {
        return para;
    }
    let cut: String = para.chars().take(max).collect();
    format!("{}…", cut.trim_end())
}

/// What the endpoint returns, in a line: `array of {cpu, maxmem, …}`.
fn returns_summary(returns: &Value) -> String {
    fn of(v: &Value, depth: u8) -> String {
        let ty = v["type"].as_str().unwrap_or("any");
        match ty {
            "array" if depth < 2 => format!("array of {}", of(&v["items"], depth + 1)),
            "object" => match v["properties"].as_object() {
                Some(props) if !props.is_empty() => {
                    let names: Vec<&str> = props.keys().map(String::as_str).collect();
                    format!("{{{}}}", shorten_list(&names, 16).join(", "))
                }
                _ => "object".into(),
            },
            other => other.to_string(),
        }
    }
    first_sentence(&of(returns, 0), 400)
}

/// The privileges the schema's permission rule asks for, in a line.
fn privileges(entry: &PathEntry, e: &Endpoint) -> Option<String> {
    let perms = &e.permissions;
    if let Some(check) = perms.get("check").filter(|c| !c.is_null()) {
        return Some(first_sentence(&check_text(check), 240));
    }
    if perms["user"].as_str() == Some("all") {
        return Some("any authenticated user".into());
    }
    if let Some(d) = perms["description"].as_str() {
        return Some(first_sentence(d, 240));
    }
    let segs: Vec<&str> = segments_of(&entry.path);
    endpoints::lookup(e.method, &segs)
        .filter(|m| !m.endpoint.privileges.is_empty())
        .map(|m| format!("{} on {}", m.endpoint.privileges, m.endpoint.acl))
}

/// `["perm", "/vms/{vmid}", ["VM.Config.Network"]]` -> `VM.Config.Network on /vms/{vmid}`.
fn check_text(check: &Value) -> String {
    let Some(items) = check.as_array() else {
        return check.to_string();
    };
    match items.first().and_then(Value::as_str) {
        Some("perm") => {
            let path = items.get(1).and_then(Value::as_str).unwrap_or("/");
            let privs: Vec<String> = items
                .get(2)
                .and_then(Value::as_array)
                .map(|p| p.iter().map(super::scalar_text).collect())
                .unwrap_or_default();
            let any = items.iter().any(|i| i.as_str() == Some("any"));
            format!("{} on {path}", privs.join(if any { " or " } else { ", " }))
        }
        Some(op @ ("and" | "or")) => items[1..].iter().map(check_text).collect::<Vec<_>>().join(&format!(" {op} ")),
        Some("userid-group" | "userid-param") => format!("{} (user-specific)", items[0].as_str().unwrap_or_default()),
        _ => check.to_string(),
    }
}

/// How proxmcp treats `method` on this path, from the endpoint model.
fn treatment(entry: &PathEntry, method: Method) -> String {
    if !method.is_write() {
        return "read: no confirmation needed; secrets in answers are redacted".into();
    }
    let segs = segments_of(&entry.path);
    let Some(row) = endpoints::lookup(method, &segs) else {
        return "write unknown to proxmcp's endpoint model: refused while guests are protected ([protect] unknown_writes = \"allow\" lets it through); needs confirm=true".into();
    };
    let guests: Vec<String> = row.endpoint.guests.iter().map(|t| touch_text(*t)).collect();
    if guests.is_empty() {
        "write: needs confirm=true (dry_run=true shows the request first); acts on no guest".into()
    } else {
        format!(
            "write: needs confirm=true (dry_run=true shows the request first); acts on {}; refused for protected guests",
            guests.join(" and ")
        )
    }
}

fn touch_text(t: Touch) -> String {
    match t {
        Touch::Ids(n) => format!("the guest(s) in {n}"),
        Touch::HaSid(n) => format!("the guest of HA resource {n}"),
        Touch::Upid(n) => format!("the guest of task {n}"),
        Touch::ReplicationId(n) => format!("the guest of replication job {n}"),
        Touch::Volume(n) => format!("the guest owning volume {n}"),
        Touch::BackupSelection => "the guests of the backup selection (vmid, all, pool)".into(),
        Touch::NodeUnless(n) => format!("every guest of the node unless {n} lists some"),
        Touch::AllUnless(n) => format!("every guest unless {n} lists some"),
        Touch::Node => "every guest of the node".into(),
        Touch::Batch(n) => format!("the guests each command in {n} acts on"),
        Touch::BackupJob => "the guests of the backup job".into(),
        Touch::Unknowable(why) => format!("guests it cannot tell ({why}), so protection refuses it"),
    }
}
