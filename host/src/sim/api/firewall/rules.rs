//! Rule lists: an ordered list where `pos` is the index, as PVE keeps them
//! in a `.fw` file. Adding inserts at `pos` (the top by default), `moveto`
//! reorders, and the file's `digest` guards every change against a
//! concurrent one. Security groups are rule lists of their own.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::*;
use crate::sim::params::{P, Ty, first, opt, req};

const DIRECTION: Ty = Ty::Enum(&["in", "out", "forward", "group"]);
const POS: Ty = Ty::Int(0, i64::MAX);

/// The options a rule has besides `action` and `type`.
const RULE: &[P] = &[
    opt("comment", Ty::Str),
    opt("dest", Ty::Str),
    opt("dport", Ty::Str),
    opt("enable", POS),
    opt("icmp-type", Ty::Str),
    opt("iface", Ty::Str),
    opt("log", LOG),
    opt("macro", Ty::Str),
    opt("proto", Ty::Str),
    opt("source", Ty::Str),
    opt("sport", Ty::Str),
    opt("digest", Ty::Str),
];

fn answer_rule(pos: usize, rule: &BTreeMap<String, String>, digest: &str) -> Value {
    let mut out = Value::Object(typed(rule, RULE));
    // As PVE parses a .fw file: a rule is on unless written disabled.
    out.as_object_mut().map(|o| o.entry("enable").or_insert(json!(1)));
    out["pos"] = json!(pos);
    out["digest"] = json!(digest);
    out
}

/// A security group's rules exist only while the group does.
fn existing_group(x: &Ctx<'_>, scope: &str) -> Result<(), ApiErr> {
    match scope.strip_prefix("group/") {
        Some(name) if !x.c.firewall.options.contains_key(scope) => {
            Err(fail(500, format!("no such security group '{name}'")))
        }
        _ => Ok(()),
    }
}

fn rules_of(x: &Ctx<'_>, scope: &str) -> Vec<BTreeMap<String, String>> {
    x.c.firewall.rules.get(scope).cloned().unwrap_or_default()
}

pub(super) fn list(x: &mut Ctx<'_>) -> R {
    check(x.params, &[])?;
    let scope = scope(x);
    existing_group(x, &scope)?;
    let digest = file_digest(x, &scope);
    let rules = rules_of(x, &scope);
    Ok(json!(rules.iter().enumerate().map(|(i, r)| answer_rule(i, r, &digest)).collect::<Vec<_>>()).into())
}

/// The rule at the path's `pos`, as PVE says when there is none.
fn position(x: &Ctx<'_>, len: usize) -> Result<usize, ApiErr> {
    match x.var("pos").parse::<usize>() {
        Ok(p) if p < len => Ok(p),
        Ok(_) => Err(fail(500, "no rule at position")),
        Err(_) => Err(bad_param("pos", "type check ('integer') failed")),
    }
}

fn options(params: &Params) -> BTreeMap<String, String> {
    params
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "digest" | "pos" | "moveto" | "delete"))
        .filter_map(|(k, v)| v.first().map(|v| (k.clone(), v.clone())))
        .collect()
}

/// A `group` rule's action names an existing security group.
fn group_exists(x: &Ctx<'_>, rule: &BTreeMap<String, String>) -> Result<(), ApiErr> {
    match (rule.get("type").map(String::as_str), rule.get("action")) {
        (Some("group"), Some(g)) if !x.c.firewall.options.contains_key(&format!("group/{g}")) => {
            Err(bad_param("action", format!("security group '{g}' does not exist")))
        }
        (Some("in" | "out" | "forward"), Some(a)) if !matches!(a.as_str(), "ACCEPT" | "DROP" | "REJECT") => {
            Err(bad_param("action", format!("value '{a}' does not match the regex pattern")))
        }
        _ => Ok(()),
    }
}

pub(super) fn create(x: &mut Ctx<'_>) -> R {
    let spec: Vec<P> = [req("action", Ty::Str), req("type", DIRECTION), opt("pos", POS)]
        .into_iter()
        .chain(RULE.iter().copied())
        .collect();
    check(x.params, &spec)?;
    let scope = scope(x);
    existing_group(x, &scope)?;
    fresh(x, &scope)?;
    let rule = options(x.params);
    group_exists(x, &rule)?;
    let rules = x.c.firewall.rules.entry(scope).or_default();
    let at = first(x.params, "pos").and_then(|p| p.parse::<usize>().ok()).unwrap_or(0).min(rules.len());
    rules.insert(at, rule);
    Ok(Value::Null.into())
}

pub(super) fn get(x: &mut Ctx<'_>) -> R {
    check(x.params, &[])?;
    let scope = scope(x);
    existing_group(x, &scope)?;
    let rules = rules_of(x, &scope);
    let pos = position(x, rules.len())?;
    Ok(answer_rule(pos, &rules[pos], &file_digest(x, &scope)).into())
}

pub(super) fn update(x: &mut Ctx<'_>) -> R {
    let spec: Vec<P> = [opt("action", Ty::Str), opt("type", DIRECTION), opt("moveto", POS), opt("delete", Ty::Str)]
        .into_iter()
        .chain(RULE.iter().copied())
        .collect();
    check(x.params, &spec)?;
    let scope = scope(x);
    existing_group(x, &scope)?;
    let mut rules = rules_of(x, &scope);
    let pos = position(x, rules.len())?;
    fresh(x, &scope)?;
    if let Some(to) = first(x.params, "moveto").and_then(|p| p.parse::<usize>().ok()) {
        let rule = rules.remove(pos);
        rules.insert(to.min(rules.len()), rule);
    } else {
        let rule = &mut rules[pos];
        for name in first(x.params, "delete").unwrap_or_default().split([',', ' ', ';']).filter(|s| !s.is_empty()) {
            rule.remove(name);
        }
        rule.extend(options(x.params));
        let rule = rule.clone();
        group_exists(x, &rule)?;
    }
    x.c.firewall.rules.insert(scope, rules);
    Ok(Value::Null.into())
}

pub(super) fn remove(x: &mut Ctx<'_>) -> R {
    check(x.params, &[opt("digest", Ty::Str)])?;
    let scope = scope(x);
    existing_group(x, &scope)?;
    let mut rules = rules_of(x, &scope);
    let pos = position(x, rules.len())?;
    fresh(x, &scope)?;
    rules.remove(pos);
    x.c.firewall.rules.insert(scope, rules);
    Ok(Value::Null.into())
}

pub(super) fn groups(x: &mut Ctx<'_>) -> R {
    check(x.params, &[])?;
    let fw = &x.c.firewall;
    let list: Vec<Value> = fw
        .options
        .iter()
        .filter_map(|(scope, o)| scope.strip_prefix("group/").map(|name| (scope, name, o)))
        .map(|(scope, name, o)| {
            let mut v = json!({"group": name, "digest": file_digest(x, scope)});
            if let Some(c) = o.get("comment") {
                v["comment"] = json!(c);
            }
            v
        })
        .collect();
    Ok(json!(list).into())
}

pub(super) fn create_group(x: &mut Ctx<'_>) -> R {
    check(x.params, &[req("group", Ty::Str), opt("comment", Ty::Str), opt("digest", Ty::Str), opt("rename", Ty::Str)])?;
    let name = first(x.params, "group").unwrap_or_default().to_string();
    let valid = name.len() >= 2
        && name.len() <= 18
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !valid {
        return Err(bad_param("group", format!("value '{name}' does not match the regex pattern")));
    }
    let key = format!("group/{name}");
    if x.c.firewall.options.contains_key(&key) {
        return Err(fail(500, format!("security group '{name}' already exists")));
    }
    let comment = first(x.params, "comment").map(|c| ("comment".to_string(), c.to_string()));
    x.c.firewall.options.insert(key, comment.into_iter().collect());
    Ok(Value::Null.into())
}

pub(super) fn delete_group(x: &mut Ctx<'_>) -> R {
    check(x.params, &[])?;
    let name = x.var("group").to_string();
    let scope = format!("group/{name}");
    existing_group(x, &scope)?;
    if x.c.firewall.rules.get(&scope).is_some_and(|r| !r.is_empty()) {
        return Err(fail(500, "security group is not empty"));
    }
    let used =
        x.c.firewall
            .rules
            .values()
            .flatten()
            .any(|r| r.get("type").map(String::as_str) == Some("group") && r.get("action") == Some(&name));
    if used {
        return Err(fail(500, format!("security group '{name}' is used by a rule")));
    }
    x.c.firewall.options.remove(&scope);
    x.c.firewall.rules.remove(&scope);
    Ok(Value::Null.into())
}
