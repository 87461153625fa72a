//! The whole API within reach, safely: the raw-API plugin finds, describes
//! and checks endpoints against the schema the cluster itself serves (the
//! simulator's `apidoc.js`), through the real binary and an rmcp client.

use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{self, Launch, Session, is_error, text, writes};

const RAW: &str = "[plugins]\nbuiltin = [\"inventory\", \"raw-api\"]\n";

fn launch(extra: &str) -> Launch {
    Launch { config: Some(format!("{RAW}{extra}")), ..Launch::default() }
}

#[tokio::test]
async fn a_model_finds_describes_and_sends_a_firewall_rule_and_nothing_invalid_is_sent() {
    let sim = support::sim().await;
    let session = Session::start(&sim.base_url(), launch("")).await;

    let found = session.ok("pve_api_search", json!({"query": "add a firewall rule to a VM"})).await;
    let best = &found["endpoints"][0];
    assert_eq!(best["path"], "/nodes/{node}/qemu/{vmid}/firewall/rules", "{found}");
    assert_eq!((best["method"].as_str(), best["writes"].as_bool()), (Some("POST"), Some(true)));

    let described = session
        .ok("pve_api_describe", json!({"path": "/nodes/{node}/qemu/{vmid}/firewall/rules", "method": "POST"}))
        .await;
    let endpoint = &described["endpoint"];
    let names: Vec<&str> =
        endpoint["parameters"].as_array().unwrap().iter().filter_map(|p| p["name"].as_str()).collect();
    assert!(names.contains(&"action") && names.contains(&"type") && names.contains(&"dport"), "{described}");
    assert!(endpoint["proxmcp"].as_str().unwrap().contains("confirm=true"), "{described}");
    assert_eq!(endpoint["privileges"], "VM.Config.Network on /vms/{vmid}");

    // A misspelt parameter: the error names the right one, nothing is sent.
    let before = writes(&sim).len();
    let rule = |key: &str| {
        json!({"method": "POST", "path": "/nodes/pve1/qemu/100/firewall/rules", "confirm": true,
               "params": {key: "ACCEPT", "type": "in", "proto": "tcp", "dport": "443", "enable": 1}})
    };
    let r = session.call("pve_api_request", rule("actoin")).await;
    assert!(is_error(&r), "{:?}", r.structured_content);
    let message = text(&r);
    assert!(message.contains("actoin: unknown parameter; did you mean action?"), "{message}");
    assert!(message.contains("action: required, but missing") && message.contains("not sent"), "{message}");
    assert_eq!(writes(&sim).len(), before, "an invalid request reached the simulator");

    // Spelt right and confirmed, it is sent and the rule exists.
    let sent = session.ok("pve_api_request", rule("action")).await;
    assert!(sent["checked"].as_str().unwrap().starts_with("checked against the PVE"), "{sent}");
    assert_eq!(writes(&sim).len(), before + 1);
    let rules =
        session.ok("pve_api_request", json!({"method": "GET", "path": "/nodes/pve1/qemu/100/firewall/rules"})).await;
    assert_eq!(rules["data"][0]["dport"], "443", "{rules}");
    assert_eq!(rules["data"][0]["action"], "ACCEPT");

    // One parameter in full; a property the path does not have; a typo'd path.
    session
        .err("pve_api_describe", json!({"path": "/nodes/pve1/qemu/100/firewall/rules", "method": "PUT"}), "has no PUT")
        .await;
    session.err("pve_api_describe", json!({"path": "/nodes/pve1/qemu/100/firewal/rules"}), "closest: /nodes/").await;
    session
        .err(
            "pve_api_request",
            json!({"method": "GET", "path": "/nodes/pve1/qemu/100/firewal/rules"}),
            "/nodes/{node}/qemu/{vmid}/firewall/rules",
        )
        .await;
    let all = session.ok("pve_api_describe", json!({"path": "/nodes/pve1/qemu/100/firewall/rules"})).await;
    let methods: Vec<&str> = all["endpoints"].as_array().unwrap().iter().filter_map(|e| e["method"].as_str()).collect();
    assert_eq!(methods, ["GET", "POST"], "{all}");

    let stderr = session.finish().await;
    assert!(stderr.contains("loaded the Proxmox API schema"), "{stderr}");
    if let Some(report) = support::validate_requests(&support::sim_request_log(&sim)) {
        assert!(report.contains("0 problems"), "{report}");
    }
}

#[tokio::test]
async fn the_three_tools_cost_under_4_kb_of_tools_list() {
    let sim = support::sim().await;
    let session = Session::start(
        &sim.base_url(),
        Launch { config: Some("[plugins]\nbuiltin = [\"raw-api\"]\n".into()), ..Launch::default() },
    )
    .await;
    let tools = session.client.list_all_tools().await.unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    assert_eq!(names, ["pve_api_describe", "pve_api_request", "pve_api_search"]);
    let bytes = serde_json::to_vec(&json!({"tools": tools})).unwrap().len();
    eprintln!("raw-api share of tools/list: {bytes} bytes");
    assert!(bytes < 4 * 1024, "the raw-API tools' tools/list is {bytes} bytes, over 4 KB");
    let read_only =
        |name: &str| tools.iter().find(|t| t.name == name).unwrap().annotations.as_ref().unwrap().read_only_hint;
    assert_eq!((read_only("pve_api_search"), read_only("pve_api_describe")), (Some(true), Some(true)));
    session.finish().await;
}

#[tokio::test]
async fn a_grant_narrows_the_request_tool_and_search_needs_none() {
    let sim = support::sim().await;
    let session = Session::start(&sim.base_url(), launch("[grants]\nraw-api = [\"GET /**\"]\n")).await;
    session.ok("pve_api_search", json!({"query": "storage content", "method": "GET", "limit": 3})).await;
    let action = json!({"path": "/nodes/{node}/qemu/{vmid}/firewall/rules", "method": "POST", "param": "action"});
    let described = session.ok("pve_api_describe", action).await;
    assert_eq!(described["endpoint"]["parameter"]["required"], true, "{described}");
    session.ok("pve_api_request", json!({"method": "GET", "path": "/nodes/pve1/qemu/100/firewall/rules"})).await;
    let before = writes(&sim).len();
    let r = session
        .call(
            "pve_api_request",
            json!({"method": "POST", "path": "/nodes/pve1/qemu/100/firewall/rules", "confirm": true,
                   "params": {"action": "DROP", "type": "in"}}),
        )
        .await;
    assert!(is_error(&r) && text(&r).contains("grant"), "{}", text(&r));
    assert_eq!(writes(&sim).len(), before);
    session.err("pve_api_search", json!({"query": " "}), "query is empty").await;
    session.err("pve_api_search", json!({"query": "vm", "limit": 90}), "between 1 and 25").await;
    session.err("pve_api_describe", json!({"path": "/version", "param": "x"}), "param needs method").await;
    session.finish().await;

    // Search and describe alone, without the request tool.
    let session = Session::start(
        &sim.base_url(),
        launch("[tools]\nallow = [\"pve_api_search\", \"pve_api_describe\", \"pve_list_nodes\"]\n"),
    )
    .await;
    let tools = session.client.list_all_tools().await.unwrap();
    assert!(tools.iter().all(|t| t.name != "pve_api_request"), "{tools:?}");
    session.ok("pve_api_describe", json!({"path": "/cluster/resources"})).await;
    session.finish().await;
}

#[tokio::test]
async fn the_schema_is_cached_privately_per_version_on_disk() {
    let sim = support::sim().await;
    let cache = tempfile::tempdir().unwrap();
    let dir = cache.path().join("c");
    let mut l = launch("");
    l.env.push(("PROXMCP_CACHE_DIR".into(), dir.display().to_string()));
    let session = Session::start(&sim.base_url(), l).await;
    session.ok("pve_api_search", json!({"query": "snapshot"})).await;
    session.finish().await;
    let files: Vec<_> = std::fs::read_dir(dir.join("api-schema")).unwrap().flatten().collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let name = files[0].file_name().to_string_lossy().into_owned();
    assert!(name.starts_with("apidoc-") && name.ends_with(".js"), "{name}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(files[0].metadata().unwrap().permissions().mode() & 0o777, 0o600);
    }
}

/// A node that does not serve its schema: the raw tools say so and the
/// request tool still works, unchecked.
#[tokio::test]
async fn without_a_schema_requests_go_unchecked_and_say_so() {
    let server = MockServer::start().await;
    let version = json!({"data": {"version": "9.2.1", "release": "9.2", "repoid": "abc"}});
    Mock::given(method("GET"))
        .and(path("/api2/json/version"))
        .respond_with(ResponseTemplate::new(200).set_body_json(&version))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/pve-docs/api-viewer/apidoc.js"))
        .respond_with(ResponseTemplate::new(404))
        .mount(&server)
        .await;
    let session = Session::start(&server.uri(), launch("")).await;
    let answered = session.ok("pve_api_request", json!({"method": "GET", "path": "/version"})).await;
    let checked = answered["checked"].as_str().unwrap();
    assert!(checked.starts_with("not checked:") && checked.contains("apidoc.js"), "{answered}");
    assert_eq!(answered["data"]["version"], Value::from("9.2.1"));
    session.err("pve_api_search", json!({"query": "firewall"}), "API schema is not available").await;
    session.finish().await;
}
