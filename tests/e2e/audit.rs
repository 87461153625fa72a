//! The audit log through the real binary: one hash-chained JSON line per
//! call with outcome, redacted arguments and every Proxmox request, and
//! `proxmcp audit verify` finding an edited line.

use serde_json::{Value, json};

use crate::support::{self, Launch, Session};

#[tokio::test]
async fn every_call_is_audited_redacted_and_chained() {
    let sim = support::sim().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("audit.jsonl");
    let launch = Launch { env: vec![("PROXMCP_AUDIT_LOG".into(), file.display().to_string())], ..Launch::default() };
    let session = Session::start(&sim.base_url(), launch).await;
    session.call("pve_get_version", json!({})).await;
    session.call("pve_stop_vm", json!({"vmid": 100})).await;
    session.call("pve_list_vms", json!({"type": "vm"})).await;
    session.call("pve_set_vm_config", json!({"vmid": 100, "set": {"cipassword": "hunter2"}, "confirm": true})).await;
    session.finish().await;

    let text = std::fs::read_to_string(&file).unwrap();
    assert!(!text.contains("hunter2"), "a secret reached the audit log");
    let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 4, "{text}");
    let outcomes: Vec<&str> = lines.iter().map(|l| l["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes, ["ok", "denied", "error", "ok"]);
    assert_eq!((lines[0]["principal"].as_str(), lines[0]["plugin"].as_str()), (Some("local"), Some("inventory")));
    assert_eq!(lines[0]["requests"][0]["path"], "/version");
    assert_eq!(lines[0]["requests"][0]["status"], 200);
    assert_eq!(lines[1]["requests"][0]["method"], "POST");
    assert_eq!(lines[1]["requests"][0]["status"], 0, "refused before sending");
    assert_eq!(lines[3]["arguments"]["set"]["cipassword"], "[redacted]");
    assert_eq!(lines[1]["prev"], lines[0]["hash"]);

    let verify = |path: &std::path::Path| {
        std::process::Command::new(support::binary()).args(["audit", "verify"]).arg(path).output().unwrap()
    };
    let ok = verify(&file);
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    assert!(String::from_utf8_lossy(&ok.stdout).contains("4 lines, chain intact, head seq 4"));

    let edited = dir.path().join("edited.jsonl");
    std::fs::write(&edited, text.replacen("\"denied\"", "\"ok\"", 1)).unwrap();
    let key = dir.path().join("audit.jsonl.key");
    let bad = std::process::Command::new(support::binary())
        .args(["audit", "verify"])
        .arg(&edited)
        .arg("--key")
        .arg(&key)
        .output()
        .unwrap();
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("line 2") && err.contains("edited"), "{err}");
}

fn audit_lines(file: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(file).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[tokio::test]
async fn refused_and_unknown_tool_calls_are_audited_compactly_and_rate_limited() {
    let sim = support::sim().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("audit.jsonl");
    let launch = Launch {
        env: vec![("PROXMCP_AUDIT_LOG".into(), file.display().to_string())],
        config: Some("[rate_limit]\nper_minute = 1\nburst = 3\n[rbac]\nstdio_role = \"viewer\"\n".into()),
        ..Launch::default()
    };
    let session = Session::start(&sim.base_url(), launch).await;
    let big = "x".repeat(3 << 20);
    let call = |name: &'static str, args: Value| {
        let params = rmcp::model::CallToolRequestParams::new(name).with_arguments(args.as_object().unwrap().clone());
        session.client.call_tool(params)
    };
    // Role-refused, unknown, then over the limit: all audited, the last
    // two with 3 MB of arguments that must not reach the disk.
    assert!(call("pve_stop_vm", json!({"vmid": 100, "confirm": true})).await.is_err());
    assert!(call("pve_no_such_tool", json!({})).await.is_err());
    assert!(call("pve_delete_vm", json!({"vmid": 100, "blob": big})).await.is_err());
    let limited = call("pve_no_such_tool", json!({"blob": big})).await.unwrap_err();
    let rmcp::ServiceError::McpError(error) = &limited else { panic!("not an MCP error: {limited}") };
    assert_eq!(error.code.0, proxmcp::mcp::RATE_LIMITED, "a code outside the range MCP reserves");
    assert!(!(-32768..=-32000).contains(&error.code.0));
    let limited = limited.to_string();
    assert!(limited.contains("rate limit"), "unknown tools count against the limit too: {limited}");
    session.finish().await;
    let lines = audit_lines(&file);
    assert_eq!(lines.len(), 4, "{lines:#?}");
    assert!(lines.iter().all(|l| l["outcome"] == "denied"), "{lines:#?}");
    assert_eq!(lines[0]["tool"], "pve_stop_vm");
    assert_eq!(lines[1]["tool"], "pve_no_such_tool");
    let size = std::fs::metadata(&file).unwrap().len();
    assert!(size < 8192, "denied calls must be audited compactly, the log is {size} bytes");
    assert!(lines[3]["arguments"]["sha256"].is_string(), "{}", lines[3]);
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&file).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
}

#[tokio::test]
async fn the_audit_outcome_comes_from_the_gates_and_proxmox_not_the_plugin() {
    let sim = support::sim().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("audit.jsonl");
    let launch = Launch {
        env: vec![("PROXMCP_AUDIT_LOG".into(), file.display().to_string())],
        global_args: vec!["--plugin".into(), support::hostile_wasm().to_string()],
        config: Some("[grants]\nhostile = [\"POST /nodes/*/qemu/*/status/*\"]\n".into()),
        ..Launch::default()
    };
    let session = Session::start(&sim.base_url(), launch).await;
    let r = session.call("hostile_fake_denial", json!({"confirm": true})).await;
    assert!(crate::support::is_error(&r));
    session.finish().await;
    let lines = audit_lines(&file);
    assert_eq!(lines[0]["requests"][0]["status"], 200, "the stop was sent: {}", lines[0]);
    assert_ne!(lines[0]["outcome"], "denied", "the plugin's claim must not hide a write: {}", lines[0]);
    assert_eq!(lines[0]["approved_by"], "confirm argument");
}
