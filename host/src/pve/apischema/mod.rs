//! The Proxmox API's own schema, read from the cluster at run time.
//!
//! Every PVE node serves the data behind its API viewer as
//! `/pve-docs/api-viewer/apidoc.js`: a JavaScript file holding one JSON tree
//! of paths, methods and parameters. It is parsed here as data (the JSON
//! value after the first `= [`), never evaluated, into an index that the
//! raw-API tools use to find endpoints ([`search`]), describe them
//! ([`describe`]) and check a request before it is sent ([`check`]).
//! Proxmox's schema is Proxmox's data: nothing of it lives in this
//! repository; [`source`] fetches and caches it per PVE version.

pub mod check;
pub mod describe;
pub mod source;

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::Method;

/// Why an `apidoc.js` could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// No `= [` starts a JSON array in the file.
    #[error("the file holds no API schema (no `= [` with a JSON tree); is this a Proxmox VE node's apidoc.js?")]
    NoTree,
    /// The tree is not valid JSON.
    #[error("the API schema is not valid JSON: {0}")]
    Json(String),
    /// The tree has no endpoint.
    #[error("the API schema lists no endpoint")]
    Empty,
}

/// How a request fared against a cluster's schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checked {
    /// It matches the schema of this PVE version.
    Valid(String),
    /// There is no schema (the reason); the request was not checked.
    Unchecked(String),
}

/// The schema of one PVE version.
#[derive(Debug)]
pub struct ApiSchema {
    /// The PVE version it belongs to (e.g. `9.2.1`).
    pub version: String,
    paths: Vec<PathEntry>,
}

/// One path and its methods.
#[derive(Debug)]
pub struct PathEntry {
    /// As the schema writes it: `/nodes/{node}/qemu/{vmid}/config`.
    pub path: String,
    segs: Vec<Seg>,
    /// Its methods, in GET, POST, PUT, DELETE order.
    pub endpoints: Vec<Endpoint>,
}

#[derive(Debug, PartialEq)]
enum Seg {
    Literal(String),
    Var(String),
    /// A last variable that takes the rest of the path (volume ids and
    /// IP-set CIDRs hold `/`; PVE mounts them with `fragmentDelimiter`).
    Rest(String),
}

/// One method on one path.
#[derive(Debug)]
pub struct Endpoint {
    /// The method.
    pub method: Method,
    /// The schema's description.
    pub description: String,
    /// Its parameters, path variables included, sorted by name.
    pub params: Vec<Param>,
    /// Whether parameters the schema does not list are accepted.
    pub additional: bool,
    /// The return schema, as given.
    pub returns: Value,
    /// The permission rule, as given.
    pub permissions: Value,
}

/// One parameter (or one key of a property string).
#[derive(Debug, Clone, Default)]
pub struct Param {
    /// Its name; `net[n]` stands for `net0`, `net1`, ….
    pub name: String,
    /// JSON-schema type: `string`, `integer`, `number`, `boolean`, `array`, …
    pub ty: String,
    /// Whether it must be given.
    pub required: bool,
    /// The schema's description (absent in some copies).
    pub description: Option<String>,
    /// The default value.
    pub default: Option<Value>,
    /// The allowed values.
    pub enumeration: Option<Vec<String>>,
    /// A Perl regex the value must match, anchored as PVE anchors it.
    pub pattern: Option<String>,
    /// Lower bound for numbers.
    pub minimum: Option<f64>,
    /// Upper bound for numbers.
    pub maximum: Option<f64>,
    /// Shortest length for strings.
    pub min_length: Option<u64>,
    /// Longest length for strings.
    pub max_length: Option<u64>,
    /// A named format (`pve-node`, `pve-fw-addr-spec`).
    pub format_name: Option<String>,
    /// The keys of a property string (`model=virtio,bridge=vmbr0`).
    pub keys: Vec<Param>,
    /// For a key: a bare value goes to it.
    pub default_key: bool,
    /// For a key: another name for it.
    pub alias: Option<String>,
}

impl Param {
    /// Whether `key` names this parameter (`net3` for `net[n]`).
    pub fn names(&self, key: &str) -> bool {
        match self.name.strip_suffix("[n]") {
            Some(stem) => {
                key.strip_prefix(stem).is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            }
            None => self.name == key,
        }
    }
}

/// What a path given by a user matched.
#[derive(Debug)]
pub struct Found<'a> {
    /// The path entry.
    pub entry: &'a PathEntry,
    /// Its variables and their values (a `{var}` given as such has no value).
    pub vars: Vec<(&'a str, Option<String>)>,
}

impl ApiSchema {
    /// Parses the text of an `apidoc.js` for PVE `version`.
    pub fn parse(text: &str, version: &str) -> Result<ApiSchema, SchemaError> {
        let tree = tree_of(text)?;
        let mut paths = Vec::new();
        let Value::Array(roots) = tree else {
            return Err(SchemaError::NoTree);
        };
        for node in &roots {
            walk(node, &mut paths);
        }
        if paths.is_empty() {
            return Err(SchemaError::Empty);
        }
        paths.sort_by(|a: &PathEntry, b| a.path.cmp(&b.path));
        Ok(ApiSchema { version: version.to_string(), paths })
    }

    /// Every path, sorted.
    pub fn paths(&self) -> &[PathEntry] {
        &self.paths
    }

    /// How many method-and-path endpoints the schema has.
    pub fn endpoint_count(&self) -> usize {
        self.paths.iter().map(|p| p.endpoints.len()).sum()
    }

    /// The path `segments` name: concrete values (`pve1`, `100`) or
    /// `{var}`s, as PVE's router matches them (literal segments and
    /// variables never share a level).
    pub fn find<S: AsRef<str>>(&self, segments: &[S]) -> Option<Found<'_>> {
        let given: Vec<&str> = segments.iter().map(AsRef::as_ref).collect();
        self.paths.iter().find_map(|entry| {
            let mut vars = Vec::new();
            for (i, seg) in entry.segs.iter().enumerate() {
                let value = given.get(i)?;
                let placeholder = value.starts_with('{') && value.ends_with('}');
                match seg {
                    Seg::Literal(l) if l == value => {}
                    Seg::Literal(_) => return None,
                    Seg::Var(name) => vars.push((name.as_str(), (!placeholder).then(|| value.to_string()))),
                    Seg::Rest(name) => {
                        let rest = given[i..].join("/");
                        vars.push((name.as_str(), (!placeholder).then_some(rest)));
                        return Some(Found { entry, vars });
                    }
                }
            }
            (entry.segs.len() == given.len()).then_some(Found { entry, vars })
        })
    }

    /// The paths closest to `segments`, for "did you mean": segment by
    /// segment, a variable takes any value and literals are compared by
    /// similarity.
    pub fn closest_paths<S: AsRef<str>>(&self, segments: &[S], n: usize) -> Vec<&str> {
        let given: Vec<&str> = segments.iter().map(AsRef::as_ref).collect();
        let mut scored: Vec<(f64, &str)> = self
            .paths
            .iter()
            .map(|p| {
                let aligned: f64 = p
                    .segs
                    .iter()
                    .zip(&given)
                    .map(|(seg, value)| match seg {
                        Seg::Literal(l) => strsim::jaro_winkler(l, value),
                        Seg::Var(_) | Seg::Rest(_) => 1.0,
                    })
                    .sum();
                (aligned / p.segs.len().max(given.len()) as f64, p.path.as_str())
            })
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.len().cmp(&b.1.len())));
        scored.into_iter().take(n).map(|(_, p)| p).collect()
    }
}

impl PathEntry {
    /// The endpoint of `method` on this path.
    pub fn endpoint(&self, method: Method) -> Option<&Endpoint> {
        self.endpoints.iter().find(|e| e.method == method)
    }

    /// The methods this path has, e.g. `GET, POST`.
    pub fn methods(&self) -> String {
        self.endpoints.iter().map(|e| e.method.as_str()).collect::<Vec<_>>().join(", ")
    }

    /// The path's variable names.
    pub fn var_names(&self) -> impl Iterator<Item = &str> {
        self.segs.iter().filter_map(|s| match s {
            Seg::Var(n) | Seg::Rest(n) => Some(n.as_str()),
            Seg::Literal(_) => None,
        })
    }

    /// The parameters of `endpoint` (one of this path's) that are not path
    /// variables: what a request body or query carries.
    pub fn own_params<'a>(&'a self, endpoint: &'a Endpoint) -> impl Iterator<Item = &'a Param> {
        endpoint.params.iter().filter(|p| !self.var_names().any(|v| v == p.name))
    }

    /// The literal words of the path (`nodes`, `qemu`, `firewall`, `rules`).
    pub fn literals(&self) -> impl Iterator<Item = &str> {
        self.segs.iter().filter_map(|s| match s {
            Seg::Literal(l) => Some(l.as_str()),
            _ => None,
        })
    }
}

/// The JSON array after the first `= [` (the file is `const apiSchema = [...];`
/// followed by the viewer's code, which is ignored).
fn tree_of(text: &str) -> Result<Value, SchemaError> {
    let mut from = 0;
    while let Some(at) = text[from..].find('=') {
        let start = from + at + 1;
        let rest = text[start..].trim_start();
        if rest.starts_with('[') {
            let mut stream = serde_json::Deserializer::from_str(rest).into_iter::<Value>();
            return match stream.next() {
                Some(Ok(v)) => Ok(v),
                Some(Err(e)) => Err(SchemaError::Json(e.to_string())),
                None => Err(SchemaError::NoTree),
            };
        }
        from = start;
    }
    Err(SchemaError::NoTree)
}

fn walk(node: &Value, out: &mut Vec<PathEntry>) {
    if let (Some(path), Some(info)) = (node["path"].as_str(), node["info"].as_object()) {
        let endpoints: Vec<Endpoint> = [Method::Get, Method::Post, Method::Put, Method::Delete]
            .into_iter()
            .filter_map(|m| info.get(m.as_str()).map(|i| endpoint(m, i)))
            .collect();
        if !endpoints.is_empty() {
            out.push(PathEntry { path: path.to_string(), segs: segments(path), endpoints });
        }
    }
    if let Some(children) = node["children"].as_array() {
        for child in children {
            walk(child, out);
        }
    }
}

fn segments(path: &str) -> Vec<Seg> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').filter(|s| !s.is_empty()).collect();
    let last = parts.len().saturating_sub(1);
    parts
        .iter()
        .enumerate()
        .map(|(i, s)| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some(name) if i == last && takes_rest(path, name) => Seg::Rest(name.to_string()),
            Some(name) => Seg::Var(name.to_string()),
            None => Seg::Literal(s.to_string()),
        })
        .collect()
}

/// PVE mounts storage volumes and IP-set CIDRs with `fragmentDelimiter =>
/// ''`, so the rest of the URI is that variable.
fn takes_rest(path: &str, var: &str) -> bool {
    (var == "volume" && path.contains("/storage/{storage}/content/"))
        || (var == "cidr" && path.contains("/firewall/ipset/"))
}

fn endpoint(method: Method, info: &Value) -> Endpoint {
    let parameters = &info["parameters"];
    let mut params: Vec<Param> = parameters["properties"]
        .as_object()
        .map(|props| props.iter().map(|(name, spec)| param(name, spec)).collect())
        .unwrap_or_default();
    params.sort_by(|a, b| a.name.cmp(&b.name));
    Endpoint {
        method,
        description: info["description"].as_str().unwrap_or_default().trim().to_string(),
        params,
        additional: truthy(&parameters["additionalProperties"]),
        returns: info.get("returns").cloned().unwrap_or(Value::Null),
        permissions: info.get("permissions").cloned().unwrap_or(Value::Null),
    }
}

fn param(name: &str, spec: &Value) -> Param {
    let text = |k: &str| spec[k].as_str().map(str::to_string);
    let number = |k: &str| spec[k].as_f64().or_else(|| spec[k].as_str().and_then(|s| s.parse().ok()));
    let keys = match spec["format"].as_object() {
        Some(keys) => {
            let mut keys: Vec<Param> = keys.iter().filter(|(_, v)| v.is_object()).map(|(k, v)| param(k, v)).collect();
            keys.sort_by(|a, b| b.default_key.cmp(&a.default_key).then_with(|| a.name.cmp(&b.name)));
            keys
        }
        None => Vec::new(),
    };
    Param {
        name: name.to_string(),
        ty: text("type").unwrap_or_else(|| "string".into()),
        required: !truthy(&spec["optional"]),
        description: text("description").map(|d| d.trim().to_string()).filter(|d| !d.is_empty()),
        default: spec.get("default").filter(|d| !d.is_null()).cloned(),
        enumeration: spec["enum"].as_array().map(|values| values.iter().map(scalar_text).collect()),
        pattern: text("pattern"),
        minimum: number("minimum"),
        maximum: number("maximum"),
        min_length: spec["minLength"].as_u64(),
        max_length: spec["maxLength"].as_u64(),
        format_name: text("format"),
        keys,
        default_key: truthy(&spec["default_key"]),
        alias: text("alias"),
    }
}

/// PVE writes flags as `1`, `"1"` or `true`.
fn truthy(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|n| n != 0.0),
        Value::String(s) => s == "1" || s == "true",
        _ => false,
    }
}

/// The inverse of parsing: each path's `info` (method -> its schema) laid
/// out as the API viewer's tree, paths nested by prefix (a path without
/// methods of its own still holds its children).
pub fn nest(infos: &BTreeMap<String, Map<String, Value>>) -> Vec<Value> {
    let all: std::collections::BTreeSet<String> = infos
        .keys()
        .flat_map(|p| {
            let parts: Vec<&str> = p.split('/').collect();
            (2..=parts.len()).map(move |n| parts[..n].join("/"))
        })
        .collect();
    fn node(
        path: &str,
        all: &std::collections::BTreeSet<String>,
        infos: &BTreeMap<String, Map<String, Value>>,
    ) -> Value {
        let depth = path.matches('/').count();
        let children: Vec<Value> = all
            .iter()
            .filter(|p| p.starts_with(&format!("{path}/")) && p.matches('/').count() == depth + 1)
            .map(|p| node(p, all, infos))
            .collect();
        let mut n =
            serde_json::json!({"path": path, "text": path.rsplit('/').next(), "leaf": u8::from(children.is_empty())});
        if let Some(info) = infos.get(path) {
            n["info"] = Value::Object(info.clone());
        }
        if !children.is_empty() {
            n["children"] = Value::Array(children);
        }
        n
    }
    all.iter().filter(|p| p.matches('/').count() == 1).map(|p| node(p, &all, infos)).collect()
}

/// A scalar as PVE's form encoding writes it.
pub fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests;
