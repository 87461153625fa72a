//! A guest's firewall rules: an ordered list where `pos` is the index, as
//! PVE keeps them in the guest's `.fw` file. Adding inserts at `pos` (the
//! top by default), `moveto` reorders, and a `digest` of the list guards
//! every change against a concurrent one.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::*;
use crate::sim::params::{P, Ty, first, opt, req};

pub(super) static ROUTES: &[Route] = &[
    ("GET", "/nodes/{node}/{kind:qemu|lxc}/{vmid}/firewall/rules", "The {kind}'s firewall rules, in order.", list),
    (
        "POST",
        "/nodes/{node}/{kind:qemu|lxc}/{vmid}/firewall/rules",
        "Add a firewall rule to the {kind} (at pos, else on top).",
        create,
    ),
    ("GET", "/nodes/{node}/{kind:qemu|lxc}/{vmid}/firewall/rules/{pos}", "One firewall rule of the {kind}.", get),
    (
        "PUT",
        "/nodes/{node}/{kind:qemu|lxc}/{vmid}/firewall/rules/{pos}",
        "Change a firewall rule of the {kind}, or move it (moveto).",
        update,
    ),
    (
        "DELETE",
        "/nodes/{node}/{kind:qemu|lxc}/{vmid}/firewall/rules/{pos}",
        "Remove a firewall rule of the {kind}.",
        remove,
    ),
];

const LOG: Ty = Ty::Enum(&["emerg", "alert", "crit", "err", "warning", "notice", "info", "debug", "nolog"]);
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

fn scope(x: &Ctx<'_>) -> String {
    format!("{}/{}", if x.kind() == GuestType::Lxc { "ct" } else { "vm" }, x.vmid())
}

fn rules_digest(rules: &[BTreeMap<String, String>]) -> String {
    digest(&serde_json::to_string(rules).unwrap_or_default())
}

fn answer_rule(pos: usize, rule: &BTreeMap<String, String>) -> Value {
    let mut out = json!({"pos": pos});
    for (k, v) in rule {
        out[k] = if k == "enable" { json!(v.parse::<u64>().unwrap_or(0)) } else { json!(v) };
    }
    out
}

fn list(x: &mut Ctx<'_>) -> R {
    check(x.params, &[])?;
    let rules = x.c.firewall.get(&scope(x)).cloned().unwrap_or_default();
    Ok(json!(rules.iter().enumerate().map(|(i, r)| answer_rule(i, r)).collect::<Vec<_>>()).into())
}

/// The rule at the path's `pos`, as PVE says when there is none.
fn position(x: &Ctx<'_>, len: usize) -> Result<usize, ApiErr> {
    match x.var("pos").parse::<usize>() {
        Ok(p) if p < len => Ok(p),
        Ok(_) => Err(fail(500, "no rule at position")),
        Err(_) => Err(bad_param("pos", "type check ('integer') failed")),
    }
}

/// Refuses a change made against another version of the list.
fn fresh(params: &Params, rules: &[BTreeMap<String, String>]) -> Result<(), ApiErr> {
    match first(params, "digest") {
        Some(d) if d != rules_digest(rules) => {
            Err(fail(500, "detected modified configuration - file changed by other user? Try again."))
        }
        _ => Ok(()),
    }
}

fn options(params: &Params) -> BTreeMap<String, String> {
    params
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "digest" | "pos" | "moveto" | "delete"))
        .filter_map(|(k, v)| v.first().map(|v| (k.clone(), v.clone())))
        .collect()
}

fn create(x: &mut Ctx<'_>) -> R {
    let spec: Vec<P> = [req("action", Ty::Str), req("type", DIRECTION), opt("pos", POS)]
        .into_iter()
        .chain(RULE.iter().copied())
        .collect();
    check(x.params, &spec)?;
    let key = scope(x);
    let rules = x.c.firewall.entry(key).or_default();
    fresh(x.params, rules)?;
    let at = first(x.params, "pos").and_then(|p| p.parse::<usize>().ok()).unwrap_or(0).min(rules.len());
    rules.insert(at, options(x.params));
    Ok(Value::Null.into())
}

fn get(x: &mut Ctx<'_>) -> R {
    check(x.params, &[])?;
    let rules = x.c.firewall.get(&scope(x)).cloned().unwrap_or_default();
    let pos = position(x, rules.len())?;
    Ok(answer_rule(pos, &rules[pos]).into())
}

fn update(x: &mut Ctx<'_>) -> R {
    let spec: Vec<P> = [opt("action", Ty::Str), opt("type", DIRECTION), opt("moveto", POS), opt("delete", Ty::Str)]
        .into_iter()
        .chain(RULE.iter().copied())
        .collect();
    check(x.params, &spec)?;
    let mut rules = x.c.firewall.get(&scope(x)).cloned().unwrap_or_default();
    let pos = position(x, rules.len())?;
    fresh(x.params, &rules)?;
    if let Some(to) = first(x.params, "moveto").and_then(|p| p.parse::<usize>().ok()) {
        let rule = rules.remove(pos);
        rules.insert(to.min(rules.len()), rule);
    } else {
        let rule = &mut rules[pos];
        for name in first(x.params, "delete").unwrap_or_default().split([',', ' ', ';']).filter(|s| !s.is_empty()) {
            rule.remove(name);
        }
        rule.extend(options(x.params));
    }
    x.c.firewall.insert(scope(x), rules);
    Ok(Value::Null.into())
}

fn remove(x: &mut Ctx<'_>) -> R {
    check(x.params, &[opt("digest", Ty::Str)])?;
    let mut rules = x.c.firewall.get(&scope(x)).cloned().unwrap_or_default();
    let pos = position(x, rules.len())?;
    fresh(x.params, &rules)?;
    rules.remove(pos);
    x.c.firewall.insert(scope(x), rules);
    Ok(Value::Null.into())
}
