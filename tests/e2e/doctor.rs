//! The permissions doctor through the real binary and the simulator's
//! ACLs: a read-only token is told which write tools will fail and the
//! `pveum` line that fixes them (applied as `pveum` would, the tools then
//! work), `proxmcp doctor` exits non-zero while a loaded tool cannot work,
//! and `hide_unauthorized` leaves such tools out of `tools/list`.

use proxmcp::sim::Simulator;
use serde_json::{Value, json};

use crate::support::{self, Launch, READONLY_TOKEN_ID, READONLY_TOKEN_SECRET, Session, TOKEN_ID, TOKEN_SECRET};

fn read_only_token() -> Vec<(String, String)> {
    vec![
        ("PVE_API_TOKEN_ID".into(), READONLY_TOKEN_ID.into()),
        ("PVE_API_TOKEN_SECRET".into(), READONLY_TOKEN_SECRET.into()),
    ]
}

fn tools_of(list: &Value) -> Vec<&str> {
    list.as_array().unwrap().iter().filter_map(|t| t["tool"].as_str().or_else(|| t.as_str())).collect()
}

/// Runs `pveum acl modify PATH --tokens 'ID' --roles ROLE` as Proxmox's
/// `pveum` does: a PUT of /access/acl, here with the admin token.
async fn pveum(sim: &Simulator, command: &str) {
    let words: Vec<&str> = command.split_whitespace().collect();
    assert_eq!(&words[..3], ["pveum", "acl", "modify"], "{command}");
    let value = |flag: &str| words.iter().position(|w| *w == flag).map(|i| words[i + 1].trim_matches('\''));
    let form = [("path", words[3]), ("tokens", value("--tokens").unwrap()), ("roles", value("--roles").unwrap())];
    proxmcp::pve::install_crypto_provider();
    let r = reqwest::Client::new()
        .put(format!("{}/api2/json/access/acl", sim.base_url()))
        .header("Authorization", format!("PVEAPIToken={TOKEN_ID}={TOKEN_SECRET}"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "{command}: {}", r.text().await.unwrap_or_default());
}

#[tokio::test]
async fn a_read_only_token_learns_which_tools_fail_and_the_pveum_line_that_makes_them_work() {
    let sim = support::sim().await;
    let launch = Launch { env: read_only_token(), ..Launch::default() };
    let s = Session::start(&sim.base_url(), launch.clone()).await;
    let report = s.ok("pve_check_permissions", json!({})).await;
    let fails = tools_of(&report["fails"]);
    for write in ["pve_start_vm", "pve_stop_vm", "pve_create_snapshot", "pve_clone_vm", "pve_set_vm_config"] {
        assert!(fails.contains(&write), "{write} should fail for a read-only token: {report}");
    }
    let works = tools_of(&report["works"]);
    assert!(works.contains(&"pve_list_vms") && works.contains(&"pve_get_vm_config"), "{report}");
    let command = report["grant"][0]["command"].as_str().unwrap().to_string();
    assert_eq!(command, format!("pveum acl modify /vms --tokens '{READONLY_TOKEN_ID}' --roles PVEVMAdmin"));
    // Before the grant Proxmox refuses the write.
    let r = s.call("pve_start_vm", json!({"vmid": 103, "confirm": true})).await;
    let refusal = support::text(&r);
    assert!(support::is_error(&r) && refusal.contains(&format!("--tokens '{READONLY_TOKEN_ID}'")), "{refusal}");
    s.finish().await;

    // A role on one guest only: the power tools work there and nowhere else.
    pveum(&sim, &format!("pveum acl modify /vms/103 --tokens '{READONLY_TOKEN_ID}' --roles PVEVMUser")).await;
    let s = Session::start(&sim.base_url(), launch.clone()).await;
    let report = s.ok("pve_check_permissions", json!({})).await;
    let start = report["partly"].as_array().unwrap().iter().find(|p| p["tool"] == "pve_start_vm");
    assert_eq!(start.map(|p| p["only"][0].clone()), Some(json!("VM.PowerMgmt only on /vms/103")), "{report}");
    assert!(tools_of(&report["fails"]).contains(&"pve_clone_vm"), "{report}");
    s.finish().await;

    pveum(&sim, &command).await;
    let s = Session::start(&sim.base_url(), launch).await;
    let report = s.ok("pve_check_permissions", json!({})).await;
    assert_eq!(report["fails"], json!([]), "{report}");
    s.ok("pve_start_vm", json!({"vmid": 103, "confirm": true})).await;
    s.finish().await;
    support::validate_requests(&support::sim_request_log(&sim));
}

#[tokio::test]
async fn proxmcp_doctor_reports_trust_version_quorum_clock_and_fails_while_a_tool_cannot_work() {
    let sim = support::sim().await;
    let work = tempfile::tempdir().unwrap();
    let launch = Launch { env: read_only_token(), ..Launch::default() };
    let out = support::command_for(&sim.base_url(), &launch, work.path(), &["doctor"]).output().await.unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    for line in [
        "tls:",
        "version:     PVE 9.1.2",
        "quorum:      quorate",
        "clock:",
        "plugin:      inventory",
        "FAILS (403): pve_stop_vm",
    ] {
        assert!(stdout.contains(line), "{line:?} missing:\n{stdout}");
    }
    assert!(
        stdout
            .contains(&format!("grant:       pveum acl modify /vms --tokens '{READONLY_TOKEN_ID}' --roles PVEVMAdmin"))
    );
    assert!(stderr.contains("will fail with 403") && stderr.contains("hide_unauthorized"), "{stderr}");
    support::assert_no_secrets("proxmcp doctor", &format!("{stdout}{stderr}"));

    // The admin token can use every loaded tool: exit 0, and --json says so.
    let out = support::command_for(&sim.base_url(), &Launch::default(), work.path(), &["doctor", "--json"])
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["permissions"]["fails"], json!([]));
    assert_eq!(v["version"], "9.1.2");
    assert!(v["clock_skew_secs"].as_i64().unwrap().abs() <= 5, "{v}");
}

#[tokio::test]
async fn hide_unauthorized_leaves_out_the_tools_the_credentials_cannot_use() {
    let sim = support::sim().await;
    let config = "[tools]\nhide_unauthorized = true\n".to_string();
    let launch = Launch { env: read_only_token(), config: Some(config.clone()), ..Launch::default() };
    let s = Session::start(&sim.base_url(), launch).await;
    let names: Vec<String> = s.client.list_all_tools().await.unwrap().into_iter().map(|t| t.name.to_string()).collect();
    assert!(names.iter().any(|n| n == "pve_list_vms") && names.iter().any(|n| n == "pve_check_permissions"));
    assert!(!names.iter().any(|n| n == "pve_stop_vm" || n == "pve_create_snapshot"), "{names:?}");
    let mut params = rmcp::model::CallToolRequestParams::new("pve_stop_vm");
    params = params.with_arguments(json!({"vmid": 100, "confirm": true}).as_object().unwrap().clone());
    let refused = s.client.call_tool(params).await.expect_err("a hidden tool cannot be called");
    assert!(refused.to_string().contains("no tool named"), "{refused}");
    s.finish().await;
    // The admin token keeps every tool.
    let s = Session::start(&sim.base_url(), Launch { config: Some(config), ..Launch::default() }).await;
    let names: Vec<String> = s.client.list_all_tools().await.unwrap().into_iter().map(|t| t.name.to_string()).collect();
    assert!(names.iter().any(|n| n == "pve_stop_vm"), "{names:?}");
    s.finish().await;
    assert!(support::writes(&sim).is_empty());
}
