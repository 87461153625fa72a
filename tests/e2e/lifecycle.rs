//! The lifecycle plugin through the real binary against the simulator:
//! each tool's success path, host-enforced confirmation and dry-run with
//! proof that nothing was sent, task failure and timeout, and MCP progress
//! notifications received by an rmcp client.

use std::process::Stdio;

use proxmcp::sim::{SimOptions, SimToken, Simulator};
use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::TokioChildProcess;
use serde_json::json;

use crate::support::{self, Launch, ProgressRecorder, Session, TOKEN_ID, TOKEN_SECRET, is_error, text, writes};

pub const LIFECYCLE_TOOLS: &[&str] = &[
    "pve_backup_vm",
    "pve_create_snapshot",
    "pve_delete_snapshot",
    "pve_migrate_vm",
    "pve_reboot_vm",
    "pve_resume_vm",
    "pve_rollback_snapshot",
    "pve_shutdown_vm",
    "pve_start_vm",
    "pve_stop_vm",
    "pve_suspend_vm",
];

fn status(sim: &Simulator, vmid: u32) -> (String, String) {
    let c = sim.world().lock();
    let g = &c.guests[&vmid];
    (g.node.clone(), g.status.clone())
}

#[tokio::test]
async fn writes_without_confirm_are_refused_and_nothing_is_sent() {
    let sim = support::sim().await;
    let session = Session::start(&sim.base_url(), Launch::default()).await;
    let r = session.call("pve_stop_vm", json!({"vmid": 100})).await;
    assert!(is_error(&r));
    assert!(text(&r).contains("would stop VM 100 \"web-01\" on pve1"), "{}", text(&r));
    assert!(text(&r).contains("confirm=true"), "{}", text(&r));
    let r =
        session.call("pve_delete_snapshot", json!({"vmid": 100, "snapname": "pre-upgrade", "confirm": false})).await;
    assert!(text(&r).contains("would delete snapshot \"pre-upgrade\" of VM 100"), "{}", text(&r));
    session.finish().await;
    assert!(writes(&sim).is_empty(), "a write reached Proxmox: {:?}", writes(&sim));
    assert_eq!(status(&sim, 100).1, "running");
}

#[tokio::test]
async fn dry_run_lists_the_exact_requests_and_sends_nothing() {
    let sim = support::sim().await;
    let session = Session::start(&sim.base_url(), Launch::default()).await;
    let v = session.ok("pve_stop_vm", json!({"vmid": 100, "dry_run": true, "confirm": true})).await;
    assert_eq!(v["dry_run"], true);
    assert_eq!(v["requests"], json!([{"method": "POST", "path": "/nodes/pve1/qemu/100/status/stop", "params": {}}]));
    let v = session
        .ok("pve_backup_vm", json!({"vmid": 200, "storage": "backup-nfs", "mode": "stop", "dry_run": true}))
        .await;
    assert_eq!(v["requests"][0]["params"], json!({"vmid": "200", "storage": "backup-nfs", "mode": "stop"}));
    let v = session.ok("pve_migrate_vm", json!({"vmid": 101, "target": "pve1", "online": true, "dry_run": true})).await;
    assert_eq!(v["preflight"]["running"], true);
    assert_eq!(v["requests"][0]["params"], json!({"target": "pve1", "online": true}));
    session.finish().await;
    assert!(writes(&sim).is_empty(), "a dry run reached Proxmox: {:?}", writes(&sim));
}

#[tokio::test]
async fn each_lifecycle_tool_changes_the_cluster() {
    let sim = support::sim().await;
    let session = Session::start(&sim.base_url(), Launch::default()).await;
    let tools = session.client.list_all_tools().await.unwrap();
    for name in LIFECYCLE_TOOLS {
        let t = tools.iter().find(|t| t.name == *name).unwrap_or_else(|| panic!("{name} not listed"));
        let (read_only, destructive, _, _) = support::hints(t);
        assert!(!read_only, "{name}");
        let expected = ["pve_stop_vm", "pve_delete_snapshot", "pve_rollback_snapshot"].contains(name);
        assert_eq!(destructive, expected, "{name}");
    }

    let v = session.ok("pve_start_vm", json!({"vmid": 103, "confirm": true})).await;
    assert_eq!(v["status"], "ok");
    assert_eq!(status(&sim, 103).1, "running");
    session.ok("pve_shutdown_vm", json!({"vmid": 103, "timeout": 30, "force_stop": true, "confirm": true})).await;
    assert_eq!(status(&sim, 103).1, "stopped");
    session.ok("pve_reboot_vm", json!({"vmid": 201, "confirm": true})).await;
    session.ok("pve_suspend_vm", json!({"vmid": 100, "confirm": true})).await;
    assert_eq!(status(&sim, 100).1, "paused");
    session.ok("pve_resume_vm", json!({"vmid": 100, "confirm": true})).await;
    assert_eq!(status(&sim, 100).1, "running");
    session.ok("pve_stop_vm", json!({"vmid": 200, "confirm": true})).await;
    assert_eq!(status(&sim, 200).1, "stopped");
    session
        .ok(
            "pve_create_snapshot",
            json!({"vmid": 100, "snapname": "e2e", "description": "test", "vmstate": true, "confirm": true}),
        )
        .await;
    assert!(sim.world().lock().guests[&100].snapshots.iter().any(|s| s.name == "e2e" && s.vmstate));
    session.ok("pve_delete_snapshot", json!({"vmid": 100, "snapname": "e2e", "confirm": true})).await;
    assert!(sim.world().lock().guests[&100].snapshots.iter().all(|s| s.name != "e2e"));
    session.ok("pve_rollback_snapshot", json!({"vmid": 201, "snapname": "clean", "confirm": true})).await;
    assert_eq!(status(&sim, 201).1, "stopped");
    session.ok("pve_migrate_vm", json!({"vmid": 101, "target": "pve1", "online": true, "confirm": true})).await;
    assert_eq!(status(&sim, 101).0, "pve1");
    let v = session
        .ok("pve_backup_vm", json!({"vmid": 200, "storage": "backup-nfs", "notes": "e2e", "confirm": true}))
        .await;
    assert!(
        v["log_tail"].as_array().unwrap().iter().any(|l| l.as_str().unwrap().contains("Finished Backup of VM 200"))
    );

    // Impossible operations answer with PVE's reason.
    let r = session.call("pve_start_vm", json!({"vmid": 100, "confirm": true})).await;
    assert!(is_error(&r) && text(&r).contains("VM 100 already running"), "{}", text(&r));
    let r = session.call("pve_migrate_vm", json!({"vmid": 102, "target": "pve3", "confirm": true})).await;
    assert!(is_error(&r) && text(&r).contains("allowed targets: pve2"), "{}", text(&r));
    let r = session.call("pve_suspend_vm", json!({"vmid": 200, "to_disk": true, "confirm": true})).await;
    assert!(is_error(&r) && text(&r).contains("QEMU VMs only"), "{}", text(&r));
    session.finish().await;
    support::validate_requests(&support::sim_request_log(&sim));
}

pub async fn slow_sim(time_scale: f64, tiny_local: bool) -> Simulator {
    let mut options = SimOptions::demo();
    options.time_scale = time_scale;
    options.tokens =
        vec![SimToken { id: TOKEN_ID.into(), secret: proxmcp::secret::Secret::new(TOKEN_SECRET), read_only: false }];
    if tiny_local {
        let local = options.seed.storages.iter_mut().find(|s| s.storage == "local").unwrap();
        local.total = local.base_used + (1 << 30);
    }
    Simulator::start(([127, 0, 0, 1], 0).into(), false, options).await.unwrap()
}

#[tokio::test]
async fn task_failure_and_timeout_are_reported_with_upid_and_log_tail() {
    let sim = slow_sim(0.02, true).await;
    let launch = Launch { env: vec![("PVE_MCP_TASK_WAIT".into(), "0.1".into())], ..Launch::default() };
    let session = Session::start(&sim.base_url(), launch).await;
    // 21 simulated seconds at 0.02 = about 0.4 s, longer than the 0.1 s wait.
    let v = session.ok("pve_backup_vm", json!({"vmid": 100, "storage": "backup-nfs", "confirm": true})).await;
    assert_eq!((v["status"].as_str(), v["node"].as_str()), (Some("running"), Some("pve1")));
    let upid = v["upid"].as_str().unwrap().to_string();
    assert!(upid.contains(":vzdump:100:"), "{upid}");
    session.finish().await;

    let session = Session::start(&sim.base_url(), Launch::default()).await;
    let r = session.call("pve_backup_vm", json!({"vmid": 102, "storage": "local", "confirm": true})).await;
    assert!(is_error(&r), "{:?}", r.structured_content);
    let msg = text(&r);
    assert!(msg.contains("no space left on device") && msg.contains("UPID:pve1:"), "{msg}");
    session.finish().await;
}

#[tokio::test]
async fn progress_notifications_reach_an_rmcp_client() {
    let sim = slow_sim(0.01, false).await;
    let work = tempfile::tempdir().unwrap();
    let cmd = support::command(&sim.base_url(), &Launch::default(), work.path());
    let (transport, _) = TokioChildProcess::builder(cmd).stderr(Stdio::null()).spawn().unwrap();
    let recorder = ProgressRecorder::default();
    let client = recorder.clone().serve(transport).await.unwrap();
    // rmcp's client puts its own progressToken on every request.
    let params = CallToolRequestParams::new("pve_backup_vm")
        .with_arguments(json!({"vmid": 100, "storage": "backup-nfs", "confirm": true}).as_object().unwrap().clone());
    let r = client.call_tool(params).await.unwrap();
    assert_eq!(r.is_error, Some(false), "{r:?}");
    let _ = client.cancel().await;
    let seen = recorder.seen.lock().unwrap().clone();
    assert!(!seen.is_empty(), "no progress notification arrived");
    let token = seen[0].progress_token.clone();
    assert!(seen.iter().all(|p| p.progress_token == token), "notifications for another request");
    let percents: Vec<f64> = seen.iter().filter(|p| p.total == Some(100.0)).map(|p| p.progress).collect();
    assert!(percents.contains(&50.0) && percents.contains(&100.0), "{percents:?}");
    assert!(percents.windows(2).all(|w| w[0] < w[1]), "progress went backwards: {percents:?}");
    assert!(seen.iter().any(|p| p.message.as_deref().is_some_and(|m| m.contains("% ("))));
}
