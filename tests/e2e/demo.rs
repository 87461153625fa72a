//! `proxmcp sim` standalone over HTTPS and `proxmcp demo` over stdio.

use std::process::Stdio;
use std::time::Duration;

use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::TokioChildProcess;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::support;

#[tokio::test]
async fn standalone_simulator_serves_https_and_prints_fingerprint_and_token() {
    let work = tempfile::tempdir().unwrap();
    let log = work.path().join("requests.jsonl");
    let mut child = tokio::process::Command::new(support::binary())
        .args(["sim", "--listen", "127.0.0.1:0", "--time-scale", "0", "--request-log"])
        .arg(&log)
        .current_dir(work.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut url, mut fingerprint, mut token) = (String::new(), String::new(), String::new());
    while let Ok(Ok(Some(line))) = tokio::time::timeout(Duration::from_secs(30), lines.next_line()).await {
        if let Some(rest) = line.strip_prefix("proxmcp simulator: a Proxmox VE API on ") {
            url = rest.trim_end_matches("/api2/json").to_string();
        } else if let Some(rest) = line.strip_prefix("certificate fingerprint (SHA-256): ") {
            fingerprint = rest.to_string();
        } else if let Some(rest) = line.strip_prefix("API token (admin): ") {
            token = rest.to_string();
        } else if line.starts_with("press Ctrl-C") {
            break;
        }
    }
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    let parts: Vec<&str> = fingerprint.split(':').collect();
    assert_eq!(parts.len(), 32, "{fingerprint}");
    assert!(parts.iter().all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_lowercase())));
    assert!(token.starts_with("root@pam!proxmcp=") && token.len() > 30, "{token}");

    proxmcp::pve::install_crypto_provider();
    // Self-signed: this test checks the server, not certificate pinning.
    let http = reqwest::Client::builder().tls_danger_accept_invalid_certs(true).build().unwrap();
    let r = http
        .get(format!("{url}/api2/json/version"))
        .header("Authorization", format!("PVEAPIToken={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["data"]["version"], "9.1.2");
    // The real binary trusts the self-signed node by its pinned fingerprint,
    // and without it says what to set, once, with no raw TLS log before.
    let (id, secret) = token.split_once('=').unwrap();
    let check_with = |pin: Option<&str>| {
        let mut cmd = tokio::process::Command::new(support::binary());
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("PROXMCP_CACHE_DIR", support::cache_dir())
            .env("PVE_BASE_URL", &url)
            .env("PVE_API_TOKEN_ID", id)
            .env("PVE_API_TOKEN_SECRET", secret)
            .current_dir(work.path())
            .args(["config", "check"]);
        if let Some(pin) = pin {
            cmd.env("PVE_FINGERPRINT", pin);
        }
        cmd.output()
    };
    let untrusted = check_with(None).await.unwrap();
    let said = String::from_utf8_lossy(&untrusted.stderr);
    assert!(!untrusted.status.success() && said.contains("PVE_FINGERPRINT"), "{said}");
    assert!(!said.contains("rustls"), "raw TLS log lines before the hint: {said}");
    let check = check_with(Some(&fingerprint)).await.unwrap();
    let out = String::from_utf8_lossy(&check.stdout);
    assert!(check.status.success(), "{out}{}", String::from_utf8_lossy(&check.stderr));
    assert!(out.contains("version 9.1.2"), "{out}");
    child.kill().await.unwrap();
    let logged = std::fs::read_to_string(&log).unwrap();
    let first: serde_json::Value = serde_json::from_str(logged.lines().next().unwrap()).unwrap();
    assert_eq!(first, json!({"method": "GET", "path": "/api2/json/version", "params": {}}));
}

#[tokio::test]
async fn demo_serves_every_tool_against_the_in_process_simulator() {
    let work = tempfile::tempdir().unwrap();
    let mut cmd = tokio::process::Command::new(support::binary());
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("PROXMCP_CACHE_DIR", support::cache_dir())
        .current_dir(work.path())
        .args(["demo", "--time-scale", "0"]);
    let (transport, stderr) = TokioChildProcess::builder(cmd).stderr(Stdio::piped()).spawn().unwrap();
    let client = ().serve(transport).await.unwrap();
    let tools = client.list_all_tools().await.unwrap();
    let names: std::collections::BTreeSet<String> = tools.iter().map(|t| t.name.to_string()).collect();
    let expected: std::collections::BTreeSet<String> =
        ["inventory", "lifecycle", "provisioning"].iter().flat_map(|p| support::first_cases(p).into_keys()).collect();
    assert_eq!(names, expected, "the demo offers exactly the default plugins' tools");
    // Each tool once, with its first succeeding case from calls.json; writes
    // as dry runs so that the cases do not depend on each other.
    let call = |name: String, args: Value| {
        client.call_tool(CallToolRequestParams::new(name).with_arguments(args.as_object().unwrap().clone()))
    };
    for tool in &tools {
        let case = support::first_case_of(&tool.name);
        let previous = match case.before {
            Some((name, args)) => call(name, args).await.unwrap().structured_content,
            None => None,
        };
        let mut args = proxmcp::testkit::resolve_references(&case.args, previous.as_ref()).unwrap();
        if tool.annotations.as_ref().and_then(|a| a.read_only_hint) != Some(true) {
            args.as_object_mut().unwrap().remove("confirm");
            args["dry_run"] = json!(true);
        }
        let r = call(tool.name.to_string(), args).await.unwrap();
        assert_ne!(r.is_error, Some(true), "{}: {}", tool.name, support::text(&r));
    }
    let r = client.call_tool(CallToolRequestParams::new("pve_list_vms")).await.unwrap();
    assert_eq!(r.structured_content.unwrap()["total"], 10);
    let _ = client.cancel().await;
    let mut text = String::new();
    let _ = tokio::io::AsyncReadExt::read_to_string(&mut stderr.unwrap(), &mut text).await;
    assert!(text.contains("npx @modelcontextprotocol/inspector"), "{text}");
    assert!(text.contains("claude mcp add proxmox-demo"), "{text}");
    assert!(!text.contains("travels unencrypted"), "the simulator on loopback is not worth a warning: {text}");
}
