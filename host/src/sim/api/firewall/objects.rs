//! A scope's firewall options, its aliases and IP sets, and the log.

use serde_json::{Value, json};

use super::*;
use crate::sim::params::{P, Ty, first, opt};

const POLICY: Ty = Ty::Enum(&["ACCEPT", "REJECT", "DROP"]);

const CLUSTER: &[P] = &[
    opt("enable", Ty::Int(0, i64::MAX)),
    opt("policy_in", POLICY),
    opt("policy_out", POLICY),
    opt("policy_forward", Ty::Enum(&["ACCEPT", "DROP"])),
    opt("log_ratelimit", Ty::Str),
    opt("ebtables", Ty::Bool),
];

const NODE: &[P] = &[
    opt("enable", Ty::Bool),
    opt("log_level_in", LOG),
    opt("log_level_out", LOG),
    opt("log_level_forward", LOG),
    opt("nosmurfs", Ty::Bool),
    opt("smurf_log_level", LOG),
    opt("tcpflags", Ty::Bool),
    opt("tcp_flags_log_level", LOG),
    opt("ndp", Ty::Bool),
    opt("nftables", Ty::Bool),
    opt("log_nf_conntrack", Ty::Bool),
    opt("nf_conntrack_allow_invalid", Ty::Bool),
    opt("nf_conntrack_max", Ty::Int(32_768, i64::MAX)),
    opt("protection_synflood", Ty::Bool),
];

const GUEST: &[P] = &[
    opt("enable", Ty::Bool),
    opt("dhcp", Ty::Bool),
    opt("ipfilter", Ty::Bool),
    opt("macfilter", Ty::Bool),
    opt("ndp", Ty::Bool),
    opt("radv", Ty::Bool),
    opt("log_level_in", LOG),
    opt("log_level_out", LOG),
    opt("policy_in", POLICY),
    opt("policy_out", POLICY),
];

fn spec_of(scope: &str) -> &'static [P] {
    match scope.split('/').next() {
        Some("cluster") => CLUSTER,
        Some("node") => NODE,
        _ => GUEST,
    }
}

pub(super) fn options(x: &mut Ctx<'_>) -> R {
    check(x.params, &[])?;
    let scope = scope(x);
    let spec = spec_of(&scope);
    let mut out = typed(&x.c.firewall.options.get(&scope).cloned().unwrap_or_default(), spec);
    out.insert("digest".into(), json!(file_digest(x, &scope)));
    Ok(Value::Object(out).into())
}

pub(super) fn set_options(x: &mut Ctx<'_>) -> R {
    let scope = scope(x);
    let mut spec = spec_of(&scope).to_vec();
    spec.extend([opt("digest", Ty::Str), opt("delete", Ty::Str)]);
    check(x.params, &spec)?;
    fresh(x, &scope)?;
    let delete = first(x.params, "delete").unwrap_or_default().to_string();
    let set = x.c.firewall.options.entry(scope).or_default();
    for name in delete.split([',', ' ', ';']).filter(|s| !s.is_empty()) {
        if !spec.iter().any(|p| p.name == name) {
            return Err(bad_param("delete", format!("invalid configuration ID '{name}'")));
        }
        set.remove(name);
    }
    for (k, v) in x.params.iter().filter(|(k, _)| !matches!(k.as_str(), "digest" | "delete")) {
        if let Some(v) = v.first() {
            set.insert(k.clone(), v.clone());
        }
    }
    Ok(Value::Null.into())
}

pub(super) fn aliases(x: &mut Ctx<'_>) -> R {
    check(x.params, &[])?;
    let scope = scope(x);
    let digest = file_digest(x, &scope);
    let list: Vec<Value> =
        x.c.firewall
            .aliases
            .get(&scope)
            .into_iter()
            .flatten()
            .map(|(name, a)| {
                let mut v = json!({"name": name, "cidr": a.get("cidr").cloned().unwrap_or_default(), "digest": digest});
                if let Some(c) = a.get("comment") {
                    v["comment"] = json!(c);
                }
                v
            })
            .collect();
    Ok(json!(list).into())
}

pub(super) fn ipsets(x: &mut Ctx<'_>) -> R {
    check(x.params, &[])?;
    let scope = scope(x);
    let digest = file_digest(x, &scope);
    let sets = x.c.firewall.ipsets.get(&scope).cloned().unwrap_or_default();
    let list: Vec<Value> = sets
        .iter()
        .map(|(name, set)| {
            let mut v = json!({"name": name, "digest": digest});
            if !set.comment.is_empty() {
                v["comment"] = json!(set.comment);
            }
            v
        })
        .collect();
    Ok(json!(list).into())
}

pub(super) fn ipset(x: &mut Ctx<'_>) -> R {
    check(x.params, &[])?;
    let scope = scope(x);
    let name = x.var("name");
    let digest = file_digest(x, &scope);
    let set =
        x.c.firewall
            .ipsets
            .get(&scope)
            .and_then(|s| s.get(name))
            .ok_or_else(|| fail(500, format!("no such IPSet '{name}'")))?;
    let list: Vec<Value> = set
        .members
        .iter()
        .map(|m| {
            let mut v = Value::Object(typed(m, &[opt("nomatch", Ty::Bool)]));
            v["digest"] = json!(digest);
            v
        })
        .collect();
    Ok(json!(list).into())
}

/// The log as PVE serves it: numbered lines `n`/`t`, `start`/`limit`
/// paging over the lines `since`/`until` select, and the `total`.
pub(super) fn log(x: &mut Ctx<'_>) -> R {
    let count = Ty::Int(0, i64::MAX);
    check(x.params, &[opt("limit", count), opt("start", count), opt("since", count), opt("until", count)])?;
    let scope = scope(x);
    let number = |name| first(x.params, name).and_then(|v| v.parse::<u64>().ok());
    let (since, until) = (number("since").unwrap_or(0), number("until").unwrap_or(u64::MAX));
    let (start, limit) = (number("start").unwrap_or(0), number("limit").unwrap_or(50));
    let started = x.c.started;
    let lines: Vec<String> =
        x.c.firewall
            .log
            .iter()
            .filter(|l| l.scope == scope)
            .map(|l| (started.saturating_sub(l.ago), &l.text))
            .filter(|(t, _)| *t >= since && *t <= until)
            .map(|(t, text)| {
                let u = crate::clock::utc(t);
                let id = scope.rsplit('/').next().unwrap_or_default();
                format!(
                    "{id} 4 {:02}/{:02}/{:04}:{:02}:{:02}:{:02} +0000 {text}",
                    u.day, u.month, u.year, u.hour, u.minute, u.second
                )
            })
            .collect();
    let total = lines.len();
    let page: Vec<Value> = lines
        .into_iter()
        .enumerate()
        .skip(usize::try_from(start).unwrap_or(usize::MAX))
        .take(usize::try_from(limit).unwrap_or(usize::MAX))
        .map(|(i, t)| json!({"n": i + 1, "t": t}))
        .collect();
    Ok(Answer { data: json!(page), extra: Some(("total", json!(total))) })
}
