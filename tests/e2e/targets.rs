//! Several clusters behind one endpoint: `[targets.NAME]` sections, the
//! `target` argument the host adds to every tool and strips before the
//! plugin runs, `pve_list_targets`, and read-only mode, protection, audit
//! and readiness per target. Two simulators stand in for two clusters.

use serde_json::{Value, json};

use crate::support::{self, Launch, Session, TOKEN_ID, TOKEN_SECRET, writes};

fn target(name: &str, url: &str, extra: &str) -> String {
    format!(
        "[targets.{name}]\nbase_url = \"{url}\"\nallow_insecure_http = true\ntoken_id = \"{TOKEN_ID}\"\ntoken_secret = \"{TOKEN_SECRET}\"\n{extra}"
    )
}

/// `prod` read-only, `lab` the default with guest 100 protected; no
/// `PVE_*` target of its own.
fn two_targets(prod: &str, lab: &str, audit: &std::path::Path) -> Launch {
    let config = format!(
        "default_target = \"lab\"\n{}\n{}",
        target("prod", prod, "read_only = true\n"),
        target("lab", lab, "[targets.lab.protect]\nvmids = [100]\n")
    );
    Launch {
        config: Some(config),
        env: vec![("PROXMCP_AUDIT_LOG".into(), audit.display().to_string())],
        unset: vec!["PVE_BASE_URL", "PVE_API_TOKEN_ID", "PVE_API_TOKEN_SECRET", "PVE_ALLOW_INSECURE_HTTP"],
        ..Launch::default()
    }
}

#[tokio::test]
async fn one_session_reads_both_clusters_and_writes_only_where_the_target_allows() {
    let prod = support::sim().await;
    let lab = support::sim().await;
    lab.world().lock().guests.get_mut(&101).unwrap().name = "lab-web".into();
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.jsonl");
    let s = Session::start(&lab.base_url(), two_targets(&prod.base_url(), &lab.base_url(), &audit)).await;

    // Every tool takes `target`; the host answers pve_list_targets itself.
    let tools = s.client.list_all_tools().await.unwrap();
    let nodes = tools.iter().find(|t| t.name == "pve_list_nodes").unwrap();
    assert_eq!(nodes.input_schema["properties"]["target"]["enum"], json!(["lab", "prod"]));
    let v = s.ok("pve_list_targets", json!({})).await;
    let of = |name: &str| v["targets"].as_array().unwrap().iter().find(|t| t["name"] == name).unwrap().clone();
    assert_eq!((of("prod")["read_only"].as_bool(), of("prod")["reachable"].as_bool()), (Some(true), Some(true)));
    assert_eq!((of("lab")["default"].as_bool(), of("lab")["version"].as_str()), (Some(true), Some("9.1.2")), "{v}");
    let host_port = |url: String| url.split("://").nth(1).unwrap().trim_end_matches('/').to_string();
    assert_eq!(of("lab")["host"].as_str(), Some(host_port(lab.base_url()).as_str()), "{v}");

    // Reads reach the cluster the call names, the default one otherwise.
    let name_of_101 = |v: &Value| {
        v["vms"].as_array().unwrap().iter().find(|g| g["vmid"] == 101).unwrap()["name"].as_str().unwrap().to_string()
    };
    assert_eq!(name_of_101(&s.ok("pve_list_vms", json!({"target": "prod"})).await), "web-02");
    assert_eq!(name_of_101(&s.ok("pve_list_vms", json!({})).await), "lab-web");
    s.ok("pve_list_nodes", json!({"target": "prod"})).await;
    s.err("pve_list_nodes", json!({"target": "staging"}), "use one of: lab, prod").await;

    // prod refuses writes, naming its setting; lab takes them, and its own
    // protection holds.
    s.err("pve_start_vm", json!({"vmid": 103, "target": "prod", "confirm": true}), "[targets.prod] read_only = true")
        .await;
    s.ok("pve_start_vm", json!({"vmid": 103, "target": "lab", "confirm": true})).await;
    s.err("pve_stop_vm", json!({"vmid": 100, "confirm": true}), "protected").await;
    s.finish().await;
    assert!(writes(&prod).is_empty(), "prod is read-only: {:?}", writes(&prod));
    let lab_writes: Vec<String> = writes(&lab).iter().map(|w| w["path"].as_str().unwrap().to_string()).collect();
    assert_eq!(lab_writes, ["/api2/json/nodes/pve2/qemu/103/status/start"], "{lab_writes:?}");
    assert_eq!(lab.world().lock().guests[&103].status, "running");
    assert_eq!(prod.world().lock().guests[&103].status, "stopped");

    // The audit line names the target of each call.
    let lines: Vec<Value> =
        std::fs::read_to_string(&audit).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let targets: Vec<(&str, &str)> = lines
        .iter()
        .filter(|l| l["tool"] == "pve_start_vm")
        .map(|l| (l["target"].as_str().unwrap(), l["outcome"].as_str().unwrap()))
        .collect();
    assert_eq!(targets, [("prod", "denied"), ("lab", "ok")]);
    support::validate_requests(&support::sim_request_log(&prod));
    support::validate_requests(&support::sim_request_log(&lab));
}

#[tokio::test]
async fn a_config_with_a_bad_target_is_refused_with_what_to_fix() {
    let sim = support::sim().await;
    for (config, hint) in [
        ("default_target = \"nope\"\n".to_string(), "default_target = \"nope\" is not a configured target"),
        (target("Prod", &sim.base_url(), ""), "lowercase letters"),
        ("[targets.lab]\nread_only = true\n".to_string(), "[targets.lab] needs base_url"),
        (target("default", &sim.base_url(), ""), "both define the target `default`"),
    ] {
        let launch = Launch { config: Some(config), ..Launch::default() };
        let stderr = support::refused_start(&sim.base_url(), &launch).await;
        assert!(stderr.contains(hint), "{hint}: {stderr}");
    }
}

#[tokio::test]
async fn readiness_names_the_targets_that_are_ready_and_keeps_the_reasons_in_the_log() {
    let prod = support::sim().await;
    let lab = support::sim().await;
    let config = format!(
        "default_target = \"lab\"\n{}\n{}",
        target("prod", &prod.base_url(), "").replace(TOKEN_SECRET, "not-the-secret"),
        target("lab", &lab.base_url(), "")
    );
    let launch = Launch {
        config: Some(config),
        unset: vec!["PVE_BASE_URL", "PVE_API_TOKEN_ID", "PVE_API_TOKEN_SECRET", "PVE_ALLOW_INSECURE_HTTP"],
        ..Launch::default()
    };
    let server = crate::http::HttpProxmcp::start(&lab.base_url(), "streamable-http", launch).await;
    proxmcp::pve::install_crypto_provider();
    let resp = reqwest::get(format!("{}/readyz", server.base)).await.unwrap();
    assert_eq!(resp.status(), 503);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["targets"], json!({"lab": true, "prod": false}), "{body}");
    assert!(!body.to_string().contains("401") && !body.to_string().contains(&prod.base_url()), "{body}");
    let (_, stderr) = server.terminate().await;
    assert!(stderr.contains("not ready") && stderr.contains("prod"), "the log says which and why: {stderr}");
}

#[tokio::test]
async fn config_check_and_doctor_look_at_every_target() {
    let prod = support::sim().await;
    let lab = support::sim().await;
    let dir = tempfile::tempdir().unwrap();
    let launch = two_targets(&prod.base_url(), &lab.base_url(), &dir.path().join("audit.jsonl"));
    let work = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let mut cmd = support::command_for(&lab.base_url(), &launch, work.path(), args);
        async move { cmd.output().await.unwrap() }
    };
    let out = run(&["config", "check"]).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("(target lab)") && text.contains("(target prod, read-only)"), "{text}");
    let out = run(&["doctor", "--json"]).await;
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> =
        report["targets"].as_array().unwrap().iter().map(|t| t["target"].as_str().unwrap()).collect();
    assert_eq!(names, ["lab", "prod"], "{report}");
    assert_eq!(report["targets"][1]["target_read_only"], true);
}

/// An rmcp client over streamable HTTP that sends `token` as the caller's
/// own Proxmox credentials.
async fn client_with_token(url: &str, token: &str) -> rmcp::service::RunningService<rmcp::RoleClient, ()> {
    use rmcp::ServiceExt;
    use rmcp::transport::StreamableHttpClientTransport;
    use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
    proxmcp::pve::install_crypto_provider();
    let headers = [(
        reqwest::header::HeaderName::from_static("x-proxmox-token"),
        reqwest::header::HeaderValue::from_str(token).unwrap(),
    )]
    .into_iter()
    .collect();
    let config = StreamableHttpClientTransportConfig::with_uri(url.to_string()).custom_headers(headers);
    ().serve(StreamableHttpClientTransport::from_config(config)).await.expect("MCP initialize over HTTP")
}

async fn call(client: &rmcp::service::RunningService<rmcp::RoleClient, ()>, tool: &str, args: Value) -> (bool, String) {
    let params = rmcp::model::CallToolRequestParams::new(tool.to_string())
        .with_arguments(args.as_object().cloned().unwrap_or_default());
    let r = client.call_tool(params).await.unwrap();
    (r.is_error == Some(true), support::text(&r))
}

/// An MCP ping posted straight to `url` with `token` as X-Proxmox-Token.
async fn ping_with_token(url: &str, token: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(url)
        .header("x-proxmox-token", token)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_caller_credentials_target_uses_each_callers_token_and_keeps_it_out_of_every_log() {
    use support::{READONLY_TOKEN_ID, READONLY_TOKEN_SECRET};
    let sim = support::sim().await;
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.jsonl");
    let config = format!(
        "[targets.team]\nbase_url = \"{}\"\nallow_insecure_http = true\ncredentials = \"caller\"\n",
        sim.base_url()
    );
    let launch = Launch {
        config: Some(config.clone()),
        env: vec![("PROXMCP_AUDIT_LOG".into(), audit.display().to_string())],
        unset: vec!["PVE_BASE_URL", "PVE_API_TOKEN_ID", "PVE_API_TOKEN_SECRET", "PVE_ALLOW_INSECURE_HTTP"],
        ..Launch::default()
    };
    let server = crate::http::HttpProxmcp::start(&sim.base_url(), "streamable-http", launch.clone()).await;

    // The auditor's own token: Proxmox sees it, and its ACLs apply.
    let auditor = client_with_token(&server.url, &format!("{READONLY_TOKEN_ID}={READONLY_TOKEN_SECRET}")).await;
    let (failed, text) = call(&auditor, "pve_list_nodes", json!({})).await;
    assert!(!failed, "{text}");
    let (failed, text) = call(&auditor, "pve_start_vm", json!({"vmid": 103, "confirm": true})).await;
    assert!(
        failed && text.contains("Permission check failed") && text.contains(READONLY_TOKEN_ID),
        "the auditor may not start guests, and the hint names its own token: {text}"
    );
    // Resources have no target argument; they too go with the caller's token.
    let nodes = auditor.read_resource(crate::resources::read_params("pve://nodes")).await.expect("read pve://nodes");
    assert!(format!("{nodes:?}").contains("pve1"), "{nodes:?}");
    let seen = sim.callers();
    assert!(!seen.is_empty() && seen.iter().all(|id| id == READONLY_TOKEN_ID), "{seen:?}");
    let _ = auditor.cancel().await;

    // Without the header, the call says what to send.
    let anonymous = server.client(None).await;
    let (failed, text) = call(&anonymous, "pve_list_nodes", json!({})).await;
    assert!(failed && text.contains("X-Proxmox-Token") && text.contains("USER@REALM!NAME=SECRET"), "{text}");
    let _ = anonymous.cancel().await;

    // A malformed header is refused at the door, without echoing it.
    let resp = ping_with_token(&server.url, "auditor-without-secret").await;
    assert_eq!(resp.status(), 400);
    let body = resp.text().await.unwrap();
    assert!(body.contains("USER@REALM!NAME=SECRET") && !body.contains("auditor-without-secret"), "{body}");

    let (_, stderr) = server.terminate().await;
    let audit_text = std::fs::read_to_string(&audit).unwrap();
    for (what, text) in [("server log", &stderr), ("audit log", &audit_text)] {
        assert!(!text.contains(READONLY_TOKEN_SECRET), "the caller's secret reached the {what}");
    }

    // Off loopback, proxmcp speaks plain HTTP: the token is refused there.
    let mut open = launch;
    open.env.push(("MCP_HOST".into(), "0.0.0.0".into()));
    open.env.push(("MCP_ALLOW_UNAUTHENTICATED".into(), "true".into()));
    let server = crate::http::HttpProxmcp::start(&sim.base_url(), "streamable-http", open).await;
    let url = server.url.replace("0.0.0.0", "127.0.0.1");
    let resp = ping_with_token(&url, &format!("{READONLY_TOKEN_ID}={READONLY_TOKEN_SECRET}")).await;
    assert_eq!(resp.status(), 400);
    assert!(resp.text().await.unwrap().contains("in clear"));
    server.terminate().await;
}

#[tokio::test]
async fn a_role_scoped_to_pool_dev_sees_only_dev_guests_and_cannot_touch_others() {
    let sim = support::sim().await;
    {
        let mut c = sim.world().lock();
        for id in [103, 202] {
            c.guests.get_mut(&id).unwrap().pool = Some("dev".into());
        }
    }
    let config = "[rbac]\nstdio_role = \"dev\"\n[rbac.roles.dev]\npools = [\"dev\"]\n\
                  [plugins]\nbuiltin = [\"inventory\", \"lifecycle\", \"provisioning\"]\n";
    let s = Session::start(&sim.base_url(), Launch { config: Some(config.into()), ..Launch::default() }).await;

    // Lists hold only the dev guests; one guest outside is as good as absent.
    let v = s.ok("pve_list_vms", json!({})).await;
    let ids: Vec<u64> = v["vms"].as_array().unwrap().iter().filter_map(|g| g["vmid"].as_u64()).collect();
    assert_eq!(ids, [103, 202], "{v}");
    s.err("pve_get_vm_status", json!({"vmid": 100}), "not among the guests role \"dev\" may reach").await;

    // Writes outside are refused before sending; inside they go through.
    s.err("pve_stop_vm", json!({"vmid": 100, "node": "pve1", "type": "qemu", "confirm": true}), "scoped to pools dev")
        .await;
    s.ok("pve_start_vm", json!({"vmid": 103, "confirm": true})).await;
    // A new guest goes into the scope's pool, or not at all.
    s.err(
        "pve_create_qemu_vm",
        json!({"name": "scratch", "node": "pve1", "vmid": 150, "confirm": true}),
        "add pool = dev",
    )
    .await;
    s.ok("pve_create_qemu_vm", json!({"name": "scratch", "node": "pve1", "vmid": 150, "pool": "dev", "confirm": true}))
        .await;
    s.finish().await;
    let sent: Vec<String> = writes(&sim).iter().map(|w| w["path"].as_str().unwrap().to_string()).collect();
    assert_eq!(sent, ["/api2/json/nodes/pve2/qemu/103/status/start", "/api2/json/nodes/pve1/qemu"], "{sent:?}");
    support::validate_requests(&support::sim_request_log(&sim));
}

#[tokio::test]
async fn a_role_limited_to_one_target_is_offered_only_that_one_and_refused_the_other() {
    let prod = support::sim().await;
    let lab = support::sim().await;
    let dir = tempfile::tempdir().unwrap();
    let mut launch = two_targets(&prod.base_url(), &lab.base_url(), &dir.path().join("audit.jsonl"));
    if let Some(config) = &mut launch.config {
        config.push_str("\n[rbac]\nstdio_role = \"labonly\"\n[rbac.roles.labonly]\ntargets = [\"lab\"]\n");
    }
    let s = Session::start(&lab.base_url(), launch).await;
    let tools = s.client.list_all_tools().await.unwrap();
    let nodes = tools.iter().find(|t| t.name == "pve_list_nodes").unwrap();
    assert_eq!(nodes.input_schema["properties"]["target"]["enum"], json!(["lab"]));
    s.ok("pve_list_nodes", json!({"target": "lab"})).await;
    s.err("pve_list_nodes", json!({"target": "prod"}), "may use the targets lab only").await;
    s.finish().await;
    // Only the start-up check reached prod.
    let reached: Vec<Value> = prod.requests().into_iter().filter(|r| r["path"] != "/api2/json/version").collect();
    assert!(reached.is_empty(), "nothing of the call may reach prod: {reached:?}");
}
