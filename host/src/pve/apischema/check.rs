//! Checking a request against the schema before it is sent, as PVE's own
//! parameter verification would: unknown parameters (with the closest valid
//! names), missing required ones, types, enumerations, ranges, lengths,
//! patterns and the keys of property strings. Each complaint names the
//! parameter and the rule, so a model can correct itself without a
//! round trip to Proxmox.

use serde_json::Value;

use super::ApiSchema;
use super::Param;
use crate::pve::{ApiError, Method, wire_scalar};

/// Checks `method` on `segments` with `params` (a JSON object or null).
/// `Ok` holds the schema's path of the endpoint.
pub fn check<S: AsRef<str>>(
    schema: &ApiSchema,
    method: Method,
    segments: &[S],
    params: &Value,
) -> Result<String, ApiError> {
    let shown = format!("/{}", segments.iter().map(AsRef::as_ref).collect::<Vec<_>>().join("/"));
    let version = &schema.version;
    let Some(found) = schema.find(segments) else {
        let closest = schema.closest_paths(segments, 3).join(", ");
        return Err(ApiError::InvalidRequest(format!(
            "not sent: PVE {version} has no endpoint {shown}; closest: {closest}. pve_api_search finds endpoints by words"
        )));
    };
    let entry = found.entry;
    let Some(endpoint) = entry.endpoint(method) else {
        return Err(ApiError::InvalidRequest(format!(
            "not sent: {} has no {method} in PVE {version}; it has {}",
            entry.path,
            entry.methods()
        )));
    };
    let mut problems: Vec<(String, String)> = Vec::new();
    let given = match params {
        Value::Null => serde_json::Map::new(),
        Value::Object(map) => map.clone(),
        _ => return Err(ApiError::InvalidRequest("not sent: params must be a JSON object".into())),
    };
    for (key, value) in &given {
        if let Some((_, Some(in_path))) = found.vars.iter().find(|(name, _)| name == key) {
            if wire_text(value) != *in_path {
                problems.push((key.clone(), format!("conflicts with the path, which says {in_path:?}")));
            }
            continue;
        }
        match endpoint.params.iter().find(|p| p.names(key)) {
            Some(p) => {
                if let Some(why) = value_problem(p, value) {
                    problems.push((key.clone(), why));
                }
            }
            None if endpoint.additional => {}
            None => {
                let names: Vec<&str> = entry.own_params(endpoint).map(|p| p.name.as_str()).collect();
                problems.push((key.clone(), unknown(key, &names)));
            }
        }
    }
    let missing: Vec<&str> = entry
        .own_params(endpoint)
        .filter(|p| p.required && !given.keys().any(|k| p.names(k)))
        .map(|p| p.name.as_str())
        .collect();
    for name in missing {
        problems.push((name.to_string(), "required, but missing".into()));
    }
    if problems.is_empty() {
        return Ok(entry.path.clone());
    }
    let list: Vec<String> = problems.iter().map(|(k, why)| format!("{k}: {why}")).collect();
    Err(ApiError::InvalidRequest(format!(
        "not sent: {method} {} does not accept these parameters (PVE {version} API schema): {}. pve_api_describe path={} method={method} lists them",
        entry.path,
        list.join("; "),
        entry.path
    )))
}

/// How a request fares against a cluster's schema, or `Unchecked` (with
/// the reason) when there is none; `Err` when the schema refuses it.
pub fn verdict<S: AsRef<str>>(
    schema: Result<std::sync::Arc<ApiSchema>, String>,
    method: Method,
    segments: &[S],
    params: &Value,
) -> Result<super::Checked, ApiError> {
    match schema {
        Ok(schema) => {
            check(&schema, method, segments, params)?;
            Ok(super::Checked::Valid(schema.version.clone()))
        }
        Err(why) => Ok(super::Checked::Unchecked(why)),
    }
}

/// A value as the client sends it (booleans as 1 and 0); other values as
/// JSON text, for messages.
fn wire_text(value: &Value) -> String {
    wire_scalar(value).unwrap_or_else(|| value.to_string())
}

/// "unknown parameter", with the closest valid names among `names`.
fn unknown(key: &str, names: &[&str]) -> String {
    if let Some(hint) = did_you_mean(key, names) {
        return format!("unknown parameter; {hint}");
    }
    if names.is_empty() {
        return "unknown parameter; this endpoint takes no parameters besides its path".into();
    }
    let shown: Vec<&str> = names.iter().take(12).copied().collect();
    let more = if names.len() > shown.len() { format!(", … ({} in all)", names.len()) } else { String::new() };
    format!("unknown parameter; valid: {}{more}", shown.join(", "))
}

/// "did you mean a or b?" when names close to `key` exist.
pub fn did_you_mean(key: &str, names: &[&str]) -> Option<String> {
    let close = closest(key, names);
    (!close.is_empty()).then(|| format!("did you mean {}?", close.join(" or ")))
}

/// Names within a small edit distance of `key` (typos, transpositions),
/// closest first; `net[n]` is compared as `net`.
pub fn closest<'a>(key: &str, names: &[&'a str]) -> Vec<&'a str> {
    let key = key.to_ascii_lowercase();
    let mut scored: Vec<(usize, &str)> = names
        .iter()
        .map(|n| {
            let stem = n.trim_end_matches("[n]").to_ascii_lowercase();
            let bare = key.trim_end_matches(|c: char| c.is_ascii_digit());
            let d = strsim::damerau_levenshtein(&key, &stem).min(strsim::damerau_levenshtein(bare, &stem));
            (d, *n)
        })
        .filter(|(d, n)| *d <= (n.len() / 3).max(1) || (key.len() > 3 && n.starts_with(&key)))
        .collect();
    scored.sort();
    scored.into_iter().take(3).map(|(_, n)| n).collect()
}

/// What is wrong with `value` for `p`, in the order PVE checks.
fn value_problem(p: &Param, value: &Value) -> Option<String> {
    match value {
        Value::Null => return Some("null is not a value; leave the parameter out instead".into()),
        Value::Array(items) if p.ty == "array" => {
            return items.iter().find_map(|v| value_problem(&Param { ty: "string".into(), ..p.clone() }, v));
        }
        Value::Array(_) => return Some(format!("a list, but the parameter is a single {}", p.ty)),
        Value::Object(_) => return Some(format!("an object, but the parameter is a {}; send it as text", p.ty)),
        _ => {}
    }
    let text = wire_text(value);
    match p.ty.as_str() {
        "boolean" if !matches!(text.as_str(), "0" | "1") => {
            return Some(format!("a boolean is 0 or 1, not {text:?}"));
        }
        "integer" => {
            let digits = text.strip_prefix(['+', '-']).unwrap_or(&text);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Some(format!("must be an integer, not {text:?}"));
            }
        }
        "number" if text.parse::<f64>().is_err() => return Some(format!("must be a number, not {text:?}")),
        _ => {}
    }
    if !p.keys.is_empty()
        && let Some(why) = property_string_problem(p, &text)
    {
        return Some(why);
    }
    if let Some(pattern) = &p.pattern
        && let Some(re) = perl_regex(pattern)
        && !re.is_match(&text)
    {
        return Some(format!("{text:?} does not match the pattern {pattern}"));
    }
    let len = text.chars().count() as u64;
    if let Some(min) = p.min_length.filter(|m| len < *m) {
        return Some(format!("at least {min} characters"));
    }
    if let Some(max) = p.max_length.filter(|m| len > *m) {
        return Some(format!("at most {max} characters"));
    }
    if let Ok(n) = text.parse::<f64>()
        && matches!(p.ty.as_str(), "integer" | "number")
    {
        if let Some(min) = p.minimum.filter(|m| n < *m) {
            return Some(format!("must be at least {min}"));
        }
        if let Some(max) = p.maximum.filter(|m| n > *m) {
            return Some(format!("must be at most {max}"));
        }
    }
    if let Some(values) = &p.enumeration
        && !values.contains(&text)
    {
        let shown: Vec<&str> = values.iter().take(24).map(String::as_str).collect();
        let more = if values.len() > shown.len() { ", …" } else { "" };
        return Some(format!("{text:?} is not one of {}{more}", shown.join(", ")));
    }
    None
}

/// The keys of a property string (`virtio,bridge=vmbr0,firewall=1`): each
/// known (a bare value goes to the default key), not repeated, and each
/// value of its key's type and enumeration.
fn property_string_problem(p: &Param, text: &str) -> Option<String> {
    let mut seen: Vec<&str> = Vec::new();
    for part in text.split(',').filter(|s| !s.is_empty()) {
        let (key, value) = match part.split_once('=') {
            Some((k, v)) => (k.trim(), v),
            None => match p.keys.iter().find(|k| k.default_key) {
                Some(k) => (k.name.as_str(), part),
                None => return Some(format!("{part:?} has no key; write KEY=VALUE")),
            },
        };
        let Some(spec) = p.keys.iter().find(|k| k.name == key) else {
            let names: Vec<&str> = p.keys.iter().map(|k| k.name.as_str()).collect();
            let hint = did_you_mean(key, &names).unwrap_or_else(|| format!("keys: {}", names.join(", ")));
            return Some(format!("unknown key {key:?} in the property string; {hint}"));
        };
        let name = spec.alias.as_deref().unwrap_or(key);
        if seen.contains(&name) {
            return Some(format!("key {key:?} is given twice"));
        }
        seen.push(name);
        let spec = Param { keys: Vec::new(), ..spec.clone() };
        if let Some(why) = value_problem(&spec, &Value::String(value.to_string())) {
            return Some(format!("key {key}: {why}"));
        }
    }
    None
}

/// A Perl pattern as PVE applies it (`m/^$pattern$/`), when the regex crate
/// can express it; patterns it cannot are not checked (Proxmox still is).
fn perl_regex(pattern: &str) -> Option<regex::Regex> {
    let translated = pattern.replace("(?^i:", "(?i:").replace("(?^:", "(?:");
    regex::Regex::new(&format!("^(?:{translated})$")).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closest_names_catch_typos_and_transpositions() {
        let names = ["action", "comment", "dport", "enable", "type", "net[n]"];
        assert_eq!(closest("actoin", &names), ["action"]);
        assert_eq!(closest("dprot", &names), ["dport"]);
        assert_eq!(closest("nte0", &names), ["net[n]"]);
        assert!(closest("frobnicate", &names).is_empty());
    }

    #[test]
    fn values_are_checked_in_pves_order() {
        let int = Param { name: "n".into(), ty: "integer".into(), minimum: Some(100.0), ..Param::default() };
        assert!(value_problem(&int, &serde_json::json!("12a")).unwrap().contains("integer"));
        assert!(value_problem(&int, &serde_json::json!(50)).unwrap().contains("at least 100"));
        assert!(value_problem(&int, &serde_json::json!("150")).is_none());
        let flag = Param { ty: "boolean".into(), ..Param::default() };
        assert!(value_problem(&flag, &serde_json::json!("yes")).is_some());
        assert!(value_problem(&flag, &serde_json::json!(true)).is_none());
        // JSON booleans are sent as 1/0, which an integer flag takes.
        let enable = Param { ty: "integer".into(), minimum: Some(0.0), ..Param::default() };
        assert!(value_problem(&enable, &serde_json::json!(true)).is_none());
        let pat = Param { ty: "string".into(), pattern: Some("(?^i:[a-z][a-z0-9]*)".into()), ..Param::default() };
        assert!(value_problem(&pat, &serde_json::json!("Web1")).is_none());
        assert!(value_problem(&pat, &serde_json::json!("1web")).unwrap().contains("pattern"));
        let e = Param { ty: "string".into(), enumeration: Some(vec!["in".into(), "out".into()]), ..Param::default() };
        assert!(value_problem(&e, &serde_json::json!("sideways")).unwrap().contains("in, out"));
        assert!(value_problem(&e, &Value::Null).unwrap().contains("leave the parameter out"));
    }

    #[test]
    fn property_strings_know_their_keys() {
        let key = |name: &str, default_key: bool| Param {
            name: name.into(),
            ty: "string".into(),
            default_key,
            ..Param::default()
        };
        let firewall = Param { name: "firewall".into(), ty: "boolean".into(), ..Param::default() };
        let net = Param {
            name: "net[n]".into(),
            keys: vec![key("model", true), key("bridge", false), firewall],
            ..Param::default()
        };
        assert!(value_problem(&net, &serde_json::json!("virtio,bridge=vmbr0,firewall=1")).is_none());
        assert!(
            value_problem(&net, &serde_json::json!("virtio,brdige=vmbr0")).unwrap().contains("did you mean bridge")
        );
        assert!(value_problem(&net, &serde_json::json!("virtio,firewall=yes")).unwrap().contains("key firewall"));
        assert!(value_problem(&net, &serde_json::json!("model=e1000,model=virtio")).unwrap().contains("twice"));
    }
}
