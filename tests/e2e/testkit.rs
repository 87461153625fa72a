//! The plugin test kit: `proxmcp plugin test` through the real binary, and
//! `proxmcp::testkit::run` from a Rust test, both against the embedded
//! simulator with real components.

use serde_json::json;

use crate::support;

fn plugin_test(args: &[&str]) -> std::process::Output {
    let work = tempfile::tempdir().unwrap();
    std::process::Command::new(support::binary())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("PROXMCP_CACHE_DIR", support::cache_dir())
        .current_dir(work.path())
        .args(["plugin", "test"])
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn plugin_test_runs_the_listed_calls_and_shows_every_request() {
    let dir = tempfile::tempdir().unwrap();
    let calls = dir.path().join("calls.json");
    std::fs::write(
        &calls,
        json!([
            {"tool": "pve_list_vms", "arguments": {"type": "lxc"}},
            {"tool": "pve_get_vm_status", "arguments": {"vmid": 100}},
            {"tool": "pve_get_vm_status", "arguments": {"vmid": 99999}, "expect": "error"}
        ])
        .to_string(),
    )
    .unwrap();
    let wasm = env!("PROXMCP_WASM_INVENTORY");
    let out = plugin_test(&[wasm, "--calls", calls.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("plugin inventory"), "{stdout}");
    assert!(stdout.contains("PASS pve_list_vms {\"type\":\"lxc\"} -> ok: 3 guests"), "{stdout}");
    assert!(stdout.contains("GET /api2/json/cluster/resources"), "{stdout}");
    assert!(stdout.contains("GET /api2/json/nodes/pve1/qemu/100/status/current"), "{stdout}");
    assert!(
        stdout.contains("PASS pve_get_vm_status {\"vmid\":99999} -> error: ") && stdout.contains("nearest"),
        "{stdout}"
    );
    assert!(stdout.contains("3 calls, 0 failed"), "{stdout}");

    // An unmet expectation fails the run; a bad calls file says how to fix it.
    std::fs::write(&calls, json!([{"tool": "pve_get_vm_status", "arguments": {"vmid": 99999}}]).to_string()).unwrap();
    let out = plugin_test(&[wasm, "--calls", calls.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("FAIL pve_get_vm_status"));
    std::fs::write(&calls, r#"{"tool": "x"}"#).unwrap();
    let out = plugin_test(&[wasm, "--calls", calls.to_str().unwrap()]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("write a JSON list"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn the_test_kit_runs_a_plugin_from_a_rust_test_under_its_own_grants() {
    let source = proxmcp::plugins::read_file(std::path::Path::new(support::hostile_wasm())).unwrap();
    let calls = proxmcp::testkit::parse_calls(
        &json!([
            {"tool": "hostile_echo", "arguments": {"hello": "kit"}},
            {"tool": "hostile_sneaky_write", "expect": "error"}
        ])
        .to_string(),
    )
    .unwrap();
    let report = proxmcp::testkit::run(source, Some(calls), None).await.unwrap();
    assert!(report.passed(), "{report:#?}");
    assert_eq!(report.grants, ["POST /nodes/*/qemu/*/status/*"]);
    assert_eq!(report.calls[0].structured, Some(json!({"hello": "kit"})));
    // The write is refused by the host (no confirm): nothing reached Proxmox.
    assert!(report.calls[1].text.contains("confirm=true"), "{}", report.calls[1].text);
    assert!(report.calls[1].requests.iter().all(|r| r["method"] == "GET"), "{:?}", report.calls[1].requests);
}
