//! The firewall at each of its scopes — cluster, node, guest, and the
//! security groups — served from one store: ordered rule lists, options,
//! aliases, IP sets and the log. Every path family is built from the
//! scopes' bases, so a scope is one row of [`BASES`].

mod objects;
mod rules;

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::*;
use crate::sim::params::{P, Ty};

pub(super) const LOG: Ty = Ty::Enum(&["emerg", "alert", "crit", "err", "warning", "notice", "info", "debug", "nolog"]);

/// Where a scope's endpoints live, and what it is called.
struct Base {
    path: &'static str,
    what: &'static str,
    /// Node and guest firewalls keep a log.
    log: bool,
    /// Cluster and guest firewalls have their own aliases and IP sets.
    objects: bool,
}

const BASES: &[Base] = &[
    Base { path: "/cluster/firewall", what: "the cluster", log: false, objects: true },
    Base { path: "/nodes/{node}/firewall", what: "the node", log: true, objects: false },
    Base { path: "/nodes/{node}/{kind:qemu|lxc}/{vmid}/firewall", what: "the {kind}", log: true, objects: true },
];

/// Every firewall route.
pub(super) fn routes() -> Vec<(&'static str, String, String, Handler)> {
    let mut out: Vec<(&'static str, String, String, Handler)> = Vec::new();
    let mut add = |m, path: String, text: String, h: Handler| out.push((m, path, text, h));
    for b in BASES {
        let (p, w) = (b.path, b.what);
        add("GET", format!("{p}/rules"), format!("The firewall rules of {w}, in order."), rules::list);
        add("POST", format!("{p}/rules"), format!("Add a firewall rule to {w} (at pos, else on top)."), rules::create);
        add("GET", format!("{p}/rules/{{pos}}"), format!("One firewall rule of {w}."), rules::get);
        add(
            "PUT",
            format!("{p}/rules/{{pos}}"),
            format!("Change or move (moveto) a firewall rule of {w}."),
            rules::update,
        );
        add("DELETE", format!("{p}/rules/{{pos}}"), format!("Remove a firewall rule of {w}."), rules::remove);
        add("GET", format!("{p}/options"), format!("The firewall options of {w}."), objects::options);
        add("PUT", format!("{p}/options"), format!("Change the firewall options of {w}."), objects::set_options);
        if b.log {
            add("GET", format!("{p}/log"), format!("The firewall log of {w}."), objects::log);
        }
        if b.objects {
            add("GET", format!("{p}/aliases"), format!("The firewall aliases of {w}."), objects::aliases);
            add("GET", format!("{p}/ipset"), format!("The IP sets of {w}."), objects::ipsets);
            add("GET", format!("{p}/ipset/{{name}}"), format!("The members of an IP set of {w}."), objects::ipset);
        }
    }
    let g = "/cluster/firewall/groups";
    add("GET", g.into(), "The security groups.".into(), rules::groups);
    add("POST", g.into(), "Create a security group.".into(), rules::create_group);
    add("GET", format!("{g}/{{group}}"), "A security group's rules, in order.".into(), rules::list);
    add("POST", format!("{g}/{{group}}"), "Add a rule to a security group.".into(), rules::create);
    add("DELETE", format!("{g}/{{group}}"), "Delete a security group no rule uses.".into(), rules::delete_group);
    add("GET", format!("{g}/{{group}}/{{pos}}"), "One rule of a security group.".into(), rules::get);
    add("PUT", format!("{g}/{{group}}/{{pos}}"), "Change or move a rule of a security group.".into(), rules::update);
    add("DELETE", format!("{g}/{{group}}/{{pos}}"), "Remove a rule of a security group.".into(), rules::remove);
    out
}

/// The scope a path names: `group/NAME`, `vm/ID`, `ct/ID`, `node/NAME` or
/// `cluster`.
fn scope(x: &Ctx<'_>) -> String {
    if !x.var("group").is_empty() {
        format!("group/{}", x.var("group"))
    } else if !x.var("vmid").is_empty() {
        format!("{}/{}", if x.kind() == GuestType::Lxc { "ct" } else { "vm" }, x.vmid())
    } else if !x.var("node").is_empty() {
        format!("node/{}", x.var("node"))
    } else {
        "cluster".into()
    }
}

/// PVE's digest of a firewall file: a hash of its content.
fn file_digest(x: &Ctx<'_>, scope: &str) -> String {
    let fw = &x.c.firewall;
    let text = json!([
        fw.rules.get(scope),
        fw.options.get(scope),
        fw.aliases.get(scope),
        fw.ipsets
            .get(scope)
            .map(|sets| sets.iter().map(|(k, v)| (k.clone(), v.members.clone())).collect::<BTreeMap<_, _>>())
    ]);
    digest(&text.to_string())
}

/// Refuses a change made against another version of the file.
fn fresh(x: &Ctx<'_>, scope: &str) -> Result<(), ApiErr> {
    match crate::sim::params::first(x.params, "digest") {
        Some(d) if d != file_digest(x, scope) => {
            Err(fail(500, "detected modified configuration - file changed by other user? Try again."))
        }
        _ => Ok(()),
    }
}

/// Options typed as their spec says (booleans and integers as numbers).
fn typed(options: &BTreeMap<String, String>, spec: &[P]) -> serde_json::Map<String, Value> {
    options
        .iter()
        .map(|(k, v)| {
            let value = match spec.iter().find(|p| p.name == k).map(|p| p.ty) {
                Some(Ty::Bool | Ty::Int(..)) => v.parse::<i64>().map_or_else(|_| json!(v), |n| json!(n)),
                _ => json!(v),
            };
            (k.clone(), value)
        })
        .collect()
}
