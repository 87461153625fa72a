//! Every built-in tool proven: each plugin's `plugins/NAME/calls.json` is
//! run by `proxmcp plugin test` (the real binary, the real component, the
//! embedded simulator), every case must end as it says, every tool of the
//! plugin must have at least one case, and every request the cases send
//! must pass validate.py against the official schema and be known to the
//! endpoint model, whose rows name the tools that need their privilege
//! (the permissions doctor reads them).

use std::collections::BTreeSet;

use serde_json::Value;

use crate::support;

const BUILTINS: &[(&str, &str)] = &[
    ("inventory", env!("PROXMCP_WASM_INVENTORY")),
    ("lifecycle", env!("PROXMCP_WASM_LIFECYCLE")),
    ("provisioning", env!("PROXMCP_WASM_PROVISIONING")),
    ("guest-exec", env!("PROXMCP_WASM_GUEST_EXEC")),
    ("raw-api", env!("PROXMCP_WASM_RAW_API")),
    ("firewall-ha-read", env!("PROXMCP_WASM_FIREWALL_HA_READ")),
    ("firewall-ha", env!("PROXMCP_WASM_FIREWALL_HA")),
    ("backups-read", env!("PROXMCP_WASM_BACKUPS_READ")),
    ("backups", env!("PROXMCP_WASM_BACKUPS")),
    ("provisioning-read", env!("PROXMCP_WASM_PROVISIONING_READ")),
    ("storage-disks", env!("PROXMCP_WASM_STORAGE_DISKS")),
    ("node-maintenance", env!("PROXMCP_WASM_NODE_MAINTENANCE")),
];

fn run(name: &str, wasm: &str) -> Value {
    let calls = support::root().join("plugins").join(name).join("calls.json");
    assert!(calls.exists(), "built-in plugin {name} has no {}", calls.display());
    let work = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(support::binary())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("PROXMCP_CACHE_DIR", support::cache_dir())
        .current_dir(work.path())
        .args(["plugin", "test", wasm, "--json", "--calls"])
        .arg(&calls)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    support::assert_no_secrets(&format!("plugin test {name}"), &stdout);
    serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!("plugin test {name} printed no report ({e}): {stdout}\n{}", String::from_utf8_lossy(&out.stderr))
    })
}

#[test]
fn every_built_in_tool_has_cases_and_every_case_passes() {
    for (name, wasm) in BUILTINS {
        let report = run(name, wasm);
        let calls = report["calls"].as_array().unwrap();
        let failed: Vec<String> = calls
            .iter()
            .filter(|c| c["passed"] != true)
            .map(|c| format!("{} {} -> {}: {}", c["tool"], c["arguments"], c["failure"], c["text"]))
            .collect();
        assert!(failed.is_empty(), "plugins/{name}/calls.json cases failed:\n{}", failed.join("\n"));
        let covered: BTreeSet<&str> = calls.iter().filter_map(|c| c["tool"].as_str()).collect();
        let tools: BTreeSet<&str> = report["tools"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
        let missing: Vec<&&str> = tools.difference(&covered).collect();
        assert!(missing.is_empty(), "tools of {name} without a case in plugins/{name}/calls.json: {missing:?}");
        let sent: String = calls
            .iter()
            .flat_map(|c| c["requests"].as_array().cloned().unwrap_or_default())
            .map(|r| format!("{r}\n"))
            .collect();
        support::validate_requests(&sent);
        assert_every_request_is_modelled(name, calls);
        // Cases that claim an error must have one that succeeds beside them.
        for tool in &tools {
            assert!(
                calls.iter().any(|c| c["tool"] == *tool && c["ok"] == true),
                "{name}: {tool} has no case that succeeds"
            );
        }
    }
}

/// Every request a case sent has a row in the endpoint model, and a row
/// that needs a privilege names the tool (the raw API excepted: it may
/// send anything).
fn assert_every_request_is_modelled(plugin: &str, calls: &[Value]) {
    let mut missing = BTreeSet::new();
    for case in calls {
        let tool = case["tool"].as_str().unwrap_or_default();
        for r in case["requests"].as_array().into_iter().flatten() {
            let method = proxmcp::pve::Method::parse(r["method"].as_str().unwrap()).unwrap();
            let path = r["path"].as_str().unwrap().trim_start_matches("/api2/json/");
            let segs: Vec<String> = path
                .split('/')
                .map(|s| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned())
                .collect();
            match proxmcp::pve::endpoints::lookup(method, &segs) {
                None => {
                    missing.insert(format!("{method:?} /{path}: no row in the endpoint model"));
                }
                Some(m)
                    if m.requirement().is_some() && !m.endpoint.tools.contains(&tool) && tool != "pve_api_request" =>
                {
                    missing.insert(format!("{method:?} {} (row {}) does not name {tool}", r["path"], m.endpoint.path));
                }
                Some(_) => {}
            }
        }
    }
    assert!(
        missing.is_empty(),
        "{plugin}: requests the endpoint model does not cover:\n{}",
        missing.into_iter().collect::<Vec<_>>().join("\n")
    );
}
