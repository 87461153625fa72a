//! The parser, the check and the descriptions against the official PVE
//! schema in `../shared/pve-api/` (read by tests, never embedded), turned
//! back into the tree an `apidoc.js` holds.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::describe::{describe, search};
use super::*;
use crate::pve::ApiError;

/// The official schema as the text of an `apidoc.js`, or `None` (outside
/// CI) when the shared folder is absent.
fn official_apidoc() -> Option<String> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/pve-api/schema.json");
    let Ok(text) = std::fs::read_to_string(&path) else {
        assert!(std::env::var("CI").is_err(), "CI must have ../shared/pve-api/schema.json");
        eprintln!("skipped: {} is absent", path.display());
        return None;
    };
    let flat: Map<String, Value> = serde_json::from_str(&text).unwrap();
    // Every path and its methods, in apidoc's shape: parameters under
    // `properties`, `optional` as 1/0, children nested under parents.
    let mut infos: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    for (key, spec) in &flat {
        let (method, path) = key.split_once(' ').unwrap();
        let mut info = spec.as_object().unwrap().clone();
        let params = info.remove("parameters").unwrap_or(json!({}));
        let props: Map<String, Value> = params
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| {
                let mut v = v.as_object().unwrap().clone();
                let optional = v.remove("optional").and_then(|o| o.as_bool()).unwrap_or(false);
                v.insert("optional".into(), json!(u8::from(optional)));
                (k.clone(), Value::Object(v))
            })
            .collect();
        let additional = info.remove("additional_parameters").is_some();
        info.insert("parameters".into(), json!({"additionalProperties": u8::from(additional), "properties": props}));
        info.insert("method".into(), json!(method));
        infos.entry(path.to_string()).or_default().insert(method.to_string(), Value::Object(info));
    }
    let roots = nest(&infos);
    let tree = serde_json::to_string_pretty(&roots).unwrap();
    Some(format!(
        "// generated\nconst apiSchema = {tree};\n\nExt.onReady(function() {{ var x = {{a: 1}}; x.b = [1, 2]; }});\n"
    ))
}

fn official() -> Option<(ApiSchema, Map<String, Value>)> {
    let text = official_apidoc()?;
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/pve-api/schema.json");
    let flat = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    Some((ApiSchema::parse(&text, "9.2").unwrap(), flat))
}

#[test]
fn every_official_endpoint_is_parsed_with_its_parameters() {
    let Some((schema, flat)) = official() else { return };
    assert_eq!(schema.endpoint_count(), flat.len());
    for (key, spec) in &flat {
        let (method, path) = key.split_once(' ').unwrap();
        let segs = describe::segments_of(path);
        let found = schema.find(&segs).unwrap_or_else(|| panic!("{key} not found"));
        assert_eq!(found.entry.path, path, "{key} matched another path");
        let e = found.entry.endpoint(Method::parse(method).unwrap()).unwrap_or_else(|| panic!("{key}: no method"));
        let want: Vec<&String> = spec["parameters"].as_object().unwrap().keys().collect();
        let got: Vec<&String> = e.params.iter().map(|p| &p.name).collect();
        assert_eq!(got, want, "{key}");
        for p in &e.params {
            let optional = spec["parameters"][&p.name]["optional"].as_bool().unwrap_or(false);
            assert_eq!(p.required, !optional, "{key} {}", p.name);
        }
    }
}

#[test]
fn concrete_paths_match_as_pves_router_does() {
    let Some((schema, _)) = official() else { return };
    let found = schema.find(&["nodes", "pve1", "storage", "local", "content", "local:iso", "debian.iso"]).unwrap();
    assert_eq!(found.entry.path, "/nodes/{node}/storage/{storage}/content/{volume}");
    assert!(found.vars.contains(&("volume", Some("local:iso/debian.iso".into()))));
    let found = schema.find(&["nodes", "{node}", "qemu", "100", "firewall", "rules"]).unwrap();
    assert_eq!(found.vars, [("node", None), ("vmid", Some("100".into()))]);
    assert!(schema.find(&["nodes", "pve1", "qemu", "100", "firewal", "rules"]).is_none());
}

#[test]
fn a_request_is_checked_before_sending() {
    let Some((schema, _)) = official() else { return };
    let path = ["nodes", "pve1", "qemu", "100", "firewall", "rules"];
    let ok = check::check(
        &schema,
        Method::Post,
        &path,
        &json!({"action": "ACCEPT", "type": "in", "dport": "443", "enable": 1}),
    );
    assert_eq!(ok.unwrap(), "/nodes/{node}/qemu/{vmid}/firewall/rules");
    let err = check::check(&schema, Method::Post, &path, &json!({"actoin": "ACCEPT", "type": "in"})).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, ApiError::InvalidRequest(_)), "{text}");
    assert!(text.contains("actoin: unknown parameter; did you mean action?"), "{text}");
    assert!(text.contains("action: required, but missing"), "{text}");
    assert!(text.starts_with("not sent"), "{text}");
    let err = check::check(&schema, Method::Post, &path, &json!({"action": "ACCEPT", "type": "sideways", "pos": -1}))
        .unwrap_err()
        .to_string();
    assert!(err.contains("type: \"sideways\" is not one of in, out, forward, group"), "{err}");
    assert!(err.contains("pos: must be at least 0"), "{err}");
    let err = check::check(&schema, Method::Post, &path, &json!({"action": "ACCEPT", "type": "in", "vmid": 101}))
        .unwrap_err()
        .to_string();
    assert!(err.contains("vmid: conflicts with the path"), "{err}");
    let err = check::check(&schema, Method::Put, &path, &json!({})).unwrap_err().to_string();
    assert!(err.contains("has no PUT") && err.contains("GET, POST"), "{err}");
    let err = check::check(&schema, Method::Get, &["nodes", "pve1", "qemu", "100", "firewal", "rules"], &Value::Null)
        .unwrap_err();
    assert!(
        matches!(&err, ApiError::InvalidRequest(m) if m.contains("/nodes/{node}/qemu/{vmid}/firewall/rules")),
        "{err}"
    );
    // Property strings: `net[n]` keys and their values.
    let config = ["nodes", "pve1", "qemu", "100", "config"];
    assert!(check::check(&schema, Method::Put, &config, &json!({"net0": "virtio,bridge=vmbr0,firewall=1"})).is_ok());
    let err = check::check(&schema, Method::Put, &config, &json!({"net0": "virtio,brigde=vmbr0"})).unwrap_err();
    assert!(err.to_string().contains("did you mean bridge"), "{err}");
    let err = check::check(&schema, Method::Put, &config, &json!({"memroy": 2048})).unwrap_err();
    assert!(err.to_string().contains("did you mean memory"), "{err}");
}

#[test]
fn search_finds_an_endpoint_from_everyday_words() {
    let Some((schema, _)) = official() else { return };
    let hits = search(&schema, "add a firewall rule to a VM", None, 5);
    assert_eq!(hits["endpoints"][0]["path"], "/nodes/{node}/qemu/{vmid}/firewall/rules", "{hits}");
    assert_eq!(hits["endpoints"][0]["method"], "POST");
    assert_eq!(hits["endpoints"][0]["writes"], true);
    let hits = search(&schema, "container snapshots", Some(Method::Get), 3);
    assert_eq!(hits["endpoints"][0]["path"], "/nodes/{node}/lxc/{vmid}/snapshot", "{hits}");
    assert!(hits.to_string().len() < 1_500);
    assert_eq!(search(&schema, "zzzz qqqq", None, 5)["endpoints"], json!([]));
}

#[test]
fn every_description_stays_under_4_kb() {
    let Some((schema, _)) = official() else { return };
    let mut pages = 0;
    for entry in schema.paths() {
        let size = |v: Value| v.to_string().len();
        let all = describe(&schema, &entry.path, None, None, 0).unwrap();
        assert!(size(all) < 4_096, "{}", entry.path);
        for e in &entry.endpoints {
            let mut page = 0;
            loop {
                let d = describe(&schema, &entry.path, Some(e.method), None, page).unwrap();
                assert!(size(d.clone()) < 4_096, "{} {} page {page}: {d}", e.method, entry.path);
                pages += 1;
                match d["endpoint"]["next_page"].as_u64() {
                    Some(n) => page = n as usize,
                    None => break,
                }
            }
            for p in e.params.iter().filter(|p| !p.keys.is_empty()) {
                let mut page = 0;
                loop {
                    let d = describe(&schema, &entry.path, Some(e.method), Some(&p.name), page).unwrap();
                    assert!(size(d.clone()) < 4_096, "{} {} {} page {page}", e.method, entry.path, p.name);
                    match d["endpoint"]["next_page"].as_u64() {
                        Some(n) => page = n as usize,
                        None => break,
                    }
                }
            }
        }
    }
    assert!(pages > 680, "large endpoints are paged ({pages} pages)");
}

#[test]
fn a_description_says_what_proxmcp_does_with_the_endpoint() {
    let Some((schema, _)) = official() else { return };
    let d = describe(&schema, "/nodes/pve1/qemu/100/firewall/rules", Some(Method::Post), None, 0).unwrap();
    let e = &d["endpoint"];
    assert_eq!(d["path_vars"], json!(["node", "vmid"]));
    assert_eq!(e["privileges"], "VM.Config.Network on /vms/{vmid}");
    let treatment = e["proxmcp"].as_str().unwrap();
    assert!(treatment.contains("confirm=true") && treatment.contains("vmid") && treatment.contains("protected"), "{d}");
    let names: Vec<&str> = e["parameters"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"action") && !names.contains(&"vmid"), "{names:?}");
    let net = describe(&schema, "/nodes/{node}/qemu/{vmid}/config", Some(Method::Put), Some("net[n]"), 0).unwrap();
    let keys = net["endpoint"]["parameter"]["keys"].as_array().unwrap();
    assert!(keys.iter().any(|k| k["name"] == "bridge"), "{net}");
    let read = describe(&schema, "/cluster/resources", Some(Method::Get), None, 0).unwrap();
    assert!(read["endpoint"]["proxmcp"].as_str().unwrap().starts_with("read"));
    let err = describe(&schema, "/cluster/resources", Some(Method::Get), None, 3).unwrap_err();
    assert!(err.to_string().contains("page 3 does not exist: there is 1 page (0 to 0)"), "{err}");
    let err = describe(&schema, "/nodes/pve1/qemu/100/firewal/rules", None, None, 0).unwrap_err();
    assert!(err.to_string().contains("closest: /nodes/{node}/qemu/{vmid}/firewall/rules"), "{err}");
}

#[test]
fn an_apidoc_without_a_tree_is_refused_clearly() {
    assert!(matches!(ApiSchema::parse("var x = 1;", "9"), Err(SchemaError::NoTree)));
    assert!(matches!(ApiSchema::parse("var x = [ {\"path\": ", "9"), Err(SchemaError::Json(_))));
    assert!(matches!(ApiSchema::parse("var pveapi = [];", "9"), Err(SchemaError::Empty)));
    let tiny = r#"var pveapi = [{"path": "/version", "info": {"GET": {"description": "Version.", "parameters": {"additionalProperties": 0}}}}];"#;
    let schema = ApiSchema::parse(tiny, "8.4").unwrap();
    assert_eq!(schema.endpoint_count(), 1);
}
