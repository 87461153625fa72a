//! The simulator's own API schema, served as
//! `/pve-docs/api-viewer/apidoc.js` the way a node serves its API viewer's
//! data, so the raw-API tools can search, describe and check against it.
//!
//! It is generated from the route table, in the simulator's own words (the
//! routes' texts), and the parameters come from the handlers themselves:
//! each route runs once against a throwaway cluster with a probe armed, and
//! the first parameter check it reaches reports its list instead of
//! checking. So the schema cannot drift from what the simulator accepts.

use std::cell::RefCell;
use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::*;
use crate::sim::params::Ty;
use crate::sim::seed::Seed;

thread_local! {
    /// Armed while a route is probed: collects the parameter list.
    static PROBE: RefCell<Option<Vec<P>>> = const { RefCell::new(None) };
}

/// Whether a probe is armed; if so, records `spec` as the route's
/// parameters.
pub(super) fn probed(spec: &[P]) -> bool {
    PROBE.with(|p| match p.borrow_mut().as_mut() {
        Some(list) => {
            list.extend_from_slice(spec);
            true
        }
        None => false,
    })
}

/// The error that ends a probed handler at its parameter check.
pub(super) fn probe_stop() -> ApiErr {
    fail(0, "probed")
}

/// What a probe found out about a route.
enum Probed {
    /// Its parameters.
    Params(Vec<P>),
    /// It does not exist for these values (PVE would answer 501).
    Absent,
    /// It checks no parameters.
    Unchecked,
}

/// The simulator's `apidoc.js`. It depends on the route table only (the
/// probe's throwaway cluster merely supplies values that reach each
/// check), so it is generated once per process, whatever cluster is served.
pub fn apidoc() -> &'static str {
    static TEXT: LazyLock<String> = LazyLock::new(generate);
    &TEXT
}

fn generate() -> String {
    let world = World::new(Seed::default(), 0.0);
    let mut infos: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    let routes: &'static [Compiled] = &ROUTES;
    for route in routes {
        for (doc_path, filled) in expansions(&route.segs) {
            let values = samples(&world, &route.segs, &filled);
            let (properties, additional) = match probe(&world, route, &values) {
                Probed::Absent => continue,
                Probed::Params(spec) => (properties(&route.segs, &spec), false),
                Probed::Unchecked => (properties(&route.segs, &[]), true),
            };
            let doc_segs: Vec<&str> = doc_path.trim_start_matches('/').split('/').collect();
            let info = json!({
                "method": route.method,
                "description": describe(&route.text, &filled),
                "parameters": {"additionalProperties": u8::from(additional), "properties": properties},
                "permissions": {"check": ["perm", acl_path(&doc_segs), [privilege_of(route.method, &doc_segs)]]},
            });
            infos.entry(doc_path).or_default().insert(route.method.to_string(), info);
        }
    }
    let tree = serde_json::to_string_pretty(&crate::pve::apischema::nest(&infos)).unwrap_or_else(|_| "[]".into());
    format!(
        "// The proxmcp simulator's API schema, generated from its route table.\nconst apiSchema = {tree};\n\nlet simulated = true;\n"
    )
}

/// Every literal form of a route: variables with alternatives
/// (`{kind:qemu|lxc}`) become each alternative, the others stay `{var}`.
fn expansions(segs: &[Seg]) -> Vec<(String, Vec<(String, String)>)> {
    let mut out: Vec<(String, Vec<(String, String)>)> = vec![(String::new(), Vec::new())];
    for seg in segs {
        out = out
            .into_iter()
            .flat_map(|(path, filled)| match seg {
                Seg::Literal(l) => vec![(format!("{path}/{l}"), filled)],
                Seg::Var(name, None) => vec![(format!("{path}/{{{name}}}"), filled)],
                Seg::Var(name, Some(alts)) => alts
                    .iter()
                    .map(|a| {
                        let mut f = filled.clone();
                        f.push((name.clone(), a.clone()));
                        (format!("{path}/{a}"), f)
                    })
                    .collect(),
            })
            .collect();
    }
    out
}

/// Values that reach a handler's parameter check: an existing node, guest
/// of the right kind, task and snapshot.
fn samples(world: &Arc<World>, segs: &[Seg], filled: &[(String, String)]) -> Vec<String> {
    let c = world.lock();
    let kind = kind_of(filled.iter().find(|(k, _)| k == "kind").map_or("qemu", |(_, v)| v));
    let guest = c.guests.values().find(|g| g.node == "pve1" && g.kind == kind && !g.template);
    segs.iter()
        .map(|seg| match seg {
            Seg::Literal(l) => l.clone(),
            Seg::Var(name, _) => match filled.iter().find(|(k, _)| k == name) {
                Some((_, v)) => v.clone(),
                None => match name.as_str() {
                    "node" => "pve1".into(),
                    "vmid" => guest.map_or("100".into(), |g| g.vmid.to_string()),
                    "upid" => c.tasks.iter().find(|t| t.node == "pve1").map_or(String::new(), |t| t.upid.clone()),
                    "snapname" => guest.and_then(|g| g.snapshots.first()).map_or("snap".into(), |s| s.name.clone()),
                    "storage" => "local".into(),
                    "pos" => "0".into(),
                    _ => "probe".into(),
                },
            },
        })
        .collect()
}

fn probe(world: &Arc<World>, route: &'static Compiled, values: &[String]) -> Probed {
    let segs: Vec<&str> = values.iter().map(String::as_str).collect();
    let vars: Vec<(&str, &str)> = route
        .segs
        .iter()
        .zip(&segs)
        .filter_map(|(seg, v)| match seg {
            Seg::Var(name, _) => Some((name.as_str(), *v)),
            Seg::Literal(_) => None,
        })
        .collect();
    let caller = Caller { user: "root@pam".into(), auth_id: "root@pam".into() };
    let params = Params::new();
    let mut c = world.lock();
    let mut ctx = Ctx { world, c: &mut c, method: route.method, params: &params, caller: &caller, path: &segs, vars };
    PROBE.with(|p| *p.borrow_mut() = Some(Vec::new()));
    let result = (route.handler)(&mut ctx);
    let spec = PROBE.with(|p| p.borrow_mut().take()).unwrap_or_default();
    match result {
        Err(e) if e.status == 0 => Probed::Params(spec),
        Err(e) if e.status == 501 => Probed::Absent,
        _ => Probed::Unchecked,
    }
}

/// A route's parameters in apidoc's shape, path variables included (as PVE
/// lists them).
fn properties(segs: &[Seg], spec: &[P]) -> Map<String, Value> {
    let mut props = Map::new();
    for seg in segs {
        if let Seg::Var(name, None) = seg {
            let p = match name.as_str() {
                "vmid" => json!({"type": "integer", "format": "pve-vmid", "minimum": 100, "maximum": 999_999_999}),
                "node" => json!({"type": "string", "format": "pve-node"}),
                "pos" => json!({"type": "integer", "minimum": 0}),
                _ => json!({"type": "string"}),
            };
            props.insert(name.clone(), json!(merge(p, json!({"optional": 0}))));
        }
    }
    for p in spec {
        let mut v = match p.ty {
            Ty::Str => json!({"type": "string"}),
            Ty::Int(min, max) => {
                let mut v = json!({"type": "integer"});
                if min > i64::MIN {
                    v["minimum"] = json!(min);
                }
                if max < i64::MAX {
                    v["maximum"] = json!(max);
                }
                v
            }
            Ty::Num => json!({"type": "number"}),
            Ty::Bool => json!({"type": "boolean"}),
            Ty::Enum(values) => json!({"type": "string", "enum": values}),
        };
        v["optional"] = json!(u8::from(!p.required));
        props.insert(p.name.to_string(), v);
    }
    props
}

fn merge(mut a: Value, b: Value) -> Value {
    if let (Some(a), Some(b)) = (a.as_object_mut(), b.as_object()) {
        a.extend(b.clone());
    }
    a
}

/// The route's text with `{kind}` and other filled variables in words.
fn describe(text: &str, filled: &[(String, String)]) -> String {
    let mut out = text.to_string();
    for (name, value) in filled {
        let word = match (name.as_str(), value.as_str()) {
            ("kind", "qemu") => "virtual machine",
            ("kind", "lxc") => "container",
            (_, v) => v,
        };
        out = out.replace(&format!("{{{name}}}"), word);
    }
    let mut chars = out.chars();
    chars.next().map_or(out.clone(), |f| f.to_uppercase().chain(chars).collect())
}

/// What a read needs (Audit) or a write needs (the route's privilege).
fn privilege_of(method: &str, segs: &[&str]) -> &'static str {
    match (method, segs) {
        ("GET", ["nodes", _, "qemu" | "lxc", ..] | ["cluster", "backup", ..] | ["pools", ..]) => "VM.Audit",
        ("GET", _) => "Sys.Audit",
        (_, ["nodes", _, "qemu" | "lxc", _, "firewall", ..]) => "VM.Config.Network",
        _ => privilege(segs),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pve::Method;
    use crate::pve::apischema::ApiSchema;

    #[test]
    fn the_simulators_schema_holds_every_route_with_the_parameters_it_checks() {
        let schema = ApiSchema::parse(apidoc(), "sim").unwrap();
        let rules = schema.find(&["nodes", "pve1", "qemu", "100", "firewall", "rules"]).unwrap();
        let post = rules.entry.endpoint(Method::Post).unwrap();
        let names: Vec<&str> = post.params.iter().map(|p| p.name.as_str()).collect();
        assert!(names.contains(&"action") && names.contains(&"dport") && names.contains(&"vmid"), "{names:?}");
        assert!(post.params.iter().any(|p| p.name == "type" && p.required));
        assert!(!post.additional);
        assert!(post.description.contains("firewall rule to the virtual machine"), "{}", post.description);
        // Alternatives become paths of their own; what PVE lacks is absent.
        assert!(schema.find(&["nodes", "pve1", "lxc", "200", "status", "start"]).is_some());
        assert!(schema.find(&["nodes", "pve1", "lxc", "200", "status", "reset"]).is_none());
        assert!(schema.find(&["nodes", "pve1", "qemu", "100", "status", "reset"]).is_some());
        // Every route's parameters were found by its own check.
        let unchecked: Vec<String> = schema
            .paths()
            .iter()
            .flat_map(|p| p.endpoints.iter().filter(|e| e.additional).map(move |e| format!("{} {}", e.method, p.path)))
            .collect();
        assert!(unchecked.is_empty(), "routes whose parameters the probe did not reach: {unchecked:?}");
    }
}
