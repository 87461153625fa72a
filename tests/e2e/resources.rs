//! Resources and completions with rmcp's client over stdio and streamable
//! HTTP: offered by the inventory plugin through contract 0.1.1, read
//! through the gates (roles, grants, audit, never a write), with caching
//! hints; and a plugin built for contract 0.1.0 still loads and runs.

use rmcp::model::{
    ArgumentInfo, CacheScope, CompleteRequestParams, ReadResourceRequestParams, ReadResourceResult, Reference,
    ResourceContents,
};
use serde_json::{Value, json};

use crate::support::{self, Launch, Session};

pub(crate) fn read_params(uri: &str) -> ReadResourceRequestParams {
    ReadResourceRequestParams::new(uri)
}

/// The JSON text of a read's only content.
fn json_of(result: &ReadResourceResult) -> Value {
    assert_eq!(result.contents.len(), 1, "{result:?}");
    match &result.contents[0] {
        ResourceContents::TextResourceContents { text, mime_type, .. } => {
            assert_eq!(mime_type.as_deref(), Some("application/json"));
            serde_json::from_str(text).expect("JSON contents")
        }
        other => panic!("expected text contents, got {other:?}"),
    }
}

fn complete_params(reference: Reference, argument: &str, value: &str) -> CompleteRequestParams {
    CompleteRequestParams::new(reference, ArgumentInfo::new(argument, value))
}

#[tokio::test]
async fn resources_are_listed_read_and_completed_over_stdio() {
    let sim = support::sim().await;
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.jsonl");
    let launch = Launch { env: vec![("PROXMCP_AUDIT_LOG".into(), audit.display().to_string())], ..Launch::default() };
    let session = Session::start(&sim.base_url(), launch).await;
    let client = &session.client;

    let fixed: Vec<String> =
        client.list_all_resources().await.expect("resources/list").into_iter().map(|r| r.uri).collect();
    assert_eq!(fixed, ["pve://cluster/status", "pve://nodes", "pve://guests"]);
    let templates: Vec<String> = client
        .list_all_resource_templates()
        .await
        .expect("resources/templates/list")
        .into_iter()
        .map(|t| t.uri_template)
        .collect();
    assert_eq!(
        templates,
        [
            "pve://guest/{vmid}/config",
            "pve://guest/{vmid}/status",
            "pve://node/{node}/status",
            "pve://task/{node}/{upid}/log"
        ]
    );

    let config = client.read_resource(read_params("pve://guest/100/config")).await.expect("read config");
    let data = json_of(&config);
    assert_eq!(data["vmid"], 100, "{data}");
    assert_eq!(data["config"]["name"], "web-01", "{data}");
    assert_eq!((config.ttl_ms, config.cache_scope), (Some(30_000), Some(CacheScope::Private)));
    let nodes = json_of(&client.read_resource(read_params("pve://nodes")).await.expect("read nodes"));
    assert_eq!(nodes["nodes"].as_array().map(Vec::len), Some(3), "{nodes}");
    let status = json_of(&client.read_resource(read_params("pve://node/pve1/status")).await.expect("node status"));
    assert_eq!(status["node"], "pve1", "{status}");

    // A task's log, by the UPID a real start returned.
    let started = session.ok("pve_start_vm", json!({"vmid": 103, "confirm": true})).await;
    let upid = started["upid"].as_str().expect("upid").to_string();
    let log =
        json_of(&client.read_resource(read_params(&format!("pve://task/pve2/{upid}/log"))).await.expect("task log"));
    assert!(log["lines"].as_array().is_some_and(|l| !l.is_empty()), "{log}");

    // Wrong URIs: not found, or the variable's problem, each saying what to do.
    let unknown = client.read_resource(read_params("pve://guest/100")).await.unwrap_err().to_string();
    assert!(unknown.contains("resources/list"), "{unknown}");
    let missing = client.read_resource(read_params("pve://guest/999/config")).await.unwrap_err().to_string();
    assert!(missing.contains("999"), "{missing}");
    let bad = client.read_resource(read_params("pve://guest/abc/config")).await.unwrap_err().to_string();
    assert!(bad.contains("vmid"), "{bad}");

    // Completions for the templates' vmid and node, and for prompt arguments
    // of the same names.
    let vmids = client
        .complete(complete_params(Reference::for_resource("pve://guest/{vmid}/config"), "vmid", "10"))
        .await
        .expect("complete vmid");
    assert_eq!(vmids.completion.values, ["100", "101", "102", "103", "104", "105"]);
    let nodes = client
        .complete(complete_params(Reference::for_resource("pve://node/{node}/status"), "node", "pve"))
        .await
        .expect("complete node");
    assert_eq!(nodes.completion.values, ["pve1", "pve2", "pve3"]);
    let prompt = client.complete(complete_params(Reference::for_prompt("safe-change"), "vmid", "20")).await;
    assert_eq!(prompt.expect("complete prompt arg").completion.values, ["200", "201", "202"]);
    let nothing = client.complete(complete_params(Reference::for_prompt("safe-change"), "change", "mem")).await;
    assert!(nothing.expect("no completion is an empty list").completion.values.is_empty());
    session.finish().await;

    // Each read and completion is audited like a tool call.
    let lines: Vec<Value> =
        std::fs::read_to_string(&audit).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let reads: Vec<&Value> = lines.iter().filter(|l| l["tool"] == "resources/read").collect();
    assert!(reads.iter().any(|l| l["arguments"]["uri"] == "pve://guest/100/config" && l["outcome"] == "ok"));
    assert!(reads.iter().any(|l| l["requests"][0]["path"] == "/nodes/pve1/qemu/100/config"), "{reads:?}");
    assert!(lines.iter().any(|l| l["tool"] == "completion/complete" && l["arguments"]["argument"] == "vmid"));
}

#[tokio::test]
async fn a_role_without_read_tools_sees_no_resources_and_resource_reads_never_write() {
    let sim = support::sim().await;
    // stdio as a role that may only stop guests: no inventory read tool, so
    // no inventory resource either.
    let config = "[rbac]\nstdio_role = \"stopper\"\n[rbac.roles.stopper]\ntools = [\"pve_stop_vm\"]\n";
    let launch = Launch { config: Some(config.into()), ..Launch::default() };
    let session = Session::start(&sim.base_url(), launch).await;
    assert!(session.client.list_all_resources().await.expect("resources/list").is_empty());
    let refused = session.client.read_resource(read_params("pve://nodes")).await.unwrap_err().to_string();
    assert!(refused.contains("not available to \"local\" (role \"stopper\")"), "{refused}");
    let none = session
        .client
        .complete(complete_params(Reference::for_resource("pve://guest/{vmid}/config"), "vmid", "1"))
        .await
        .expect("complete");
    assert!(none.completion.values.is_empty());
    session.finish().await;

    // A plugin whose resource tries to stop a VM, granted that very write:
    // the read is refused before anything is sent.
    let launch = Launch {
        global_args: vec!["--plugin".into(), support::hostile_wasm().into()],
        config: Some("[grants]\nhostile = [\"POST /nodes/*/qemu/*/status/*\"]\n".into()),
        ..Launch::default()
    };
    let session = Session::start(&sim.base_url(), launch).await;
    let sneaky = session.client.read_resource(read_params("hostile://stop/100")).await.unwrap_err().to_string();
    assert!(sneaky.contains("resources/read only reads") && sneaky.contains("nothing was sent"), "{sneaky}");
    session.finish().await;
    assert!(support::writes(&sim).is_empty(), "a resource read wrote: {:?}", support::writes(&sim));
}

#[tokio::test]
async fn resources_work_over_streamable_http() {
    let sim = support::sim().await;
    let server = crate::http::HttpProxmcp::start(&sim.base_url(), "streamable-http", Launch::default()).await;
    let client = server.client(None).await;
    let status = client.read_resource(read_params("pve://guest/200/status")).await.expect("read over HTTP");
    let data = json_of(&status);
    assert_eq!((data["vmid"].as_u64(), data["status"].as_str()), (Some(200), Some("running")), "{data}");
    assert_eq!(status.ttl_ms, Some(5_000));
    let config = json_of(&client.read_resource(read_params("pve://guest/100/config")).await.expect("config"));
    assert_eq!(config["config"]["name"], "web-01", "{config}");
    let guests = json_of(&client.read_resource(read_params("pve://guests")).await.expect("guests"));
    assert!(guests["vms"].as_array().is_some_and(|v| v.len() >= 10), "{guests}");
    let _ = client.cancel().await;
}

#[tokio::test]
async fn a_plugin_built_for_contract_0_1_0_loads_and_runs() {
    let sim = support::sim().await;
    let wasm = env!("PROXMCP_TEST_WASM_CONTRACT_0_1_0");
    let inspect = std::process::Command::new(support::binary()).args(["plugins", "inspect", wasm]).output().unwrap();
    let out = String::from_utf8_lossy(&inspect.stdout);
    assert!(inspect.status.success() && out.contains("proxmcp:plugin@0.1.0"), "{out}");
    let launch = Launch {
        global_args: vec!["--plugin".into(), wasm.into()],
        config: Some("[grants]\nlegacy = [\"GET /version\"]\n".into()),
        ..Launch::default()
    };
    let session = Session::start(&sim.base_url(), launch).await;
    let version = session.ok("legacy_version", json!({})).await;
    assert_eq!(version["version"], "9.1.2", "{version}");
    // It offers no resources; the built-ins' are still there.
    let uris: Vec<String> =
        session.client.list_all_resources().await.expect("resources/list").into_iter().map(|r| r.uri).collect();
    assert_eq!(uris.len(), 3, "{uris:?}");
    session.finish().await;
}
