//! Provisioning beyond the defaults, through the real binary and the
//! simulator: waiting for a guest with MCP progress (contract 0.1.4's
//! `progress` import), evacuating a node past a protected guest, and
//! deleting volumes only when nothing and no one depends on them.

use std::process::Stdio;
use std::time::Duration;

use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::TokioChildProcess;
use serde_json::{Value, json};

use crate::support::{self, Launch, ProgressRecorder, Session, writes};

fn plugins(list: &[&str]) -> String {
    let names: Vec<String> = list.iter().map(|p| format!("\"{p}\"")).collect();
    format!("[plugins]\nbuiltin = [{}]\n", names.join(", "))
}

#[tokio::test]
async fn waiting_for_a_guest_reports_progress_until_it_is_started_and_has_an_address() {
    let sim = support::sim().await;
    {
        let mut c = sim.world().lock();
        c.guests.get_mut(&103).unwrap().agent = true;
    }
    let work = tempfile::tempdir().unwrap();
    let launch = Launch { config: Some(plugins(&["inventory", "provisioning-read"])), ..Launch::default() };
    let cmd = support::command(&sim.base_url(), &launch, work.path());
    let (transport, _) = TokioChildProcess::builder(cmd).stderr(Stdio::null()).spawn().unwrap();
    let recorder = ProgressRecorder::default();
    let client = recorder.clone().serve(transport).await.unwrap();

    // VM 103 is stopped: the wait polls until someone starts it.
    let world = sim.world().clone();
    let starter = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(2500)).await;
        world.lock().guests.get_mut(&103).unwrap().status = "running".into();
    });
    let params = CallToolRequestParams::new("pve_wait_for_guest")
        .with_arguments(json!({"vmid": 103, "until": "ip", "timeout_s": 30}).as_object().unwrap().clone());
    let r = client.call_tool(params).await.unwrap();
    starter.await.unwrap();
    assert_eq!(r.is_error, Some(false), "{r:?}");
    let v = r.structured_content.clone().unwrap();
    assert_eq!(v["ready"], true, "{v}");
    assert!(v["waited_s"].as_u64().unwrap() >= 2, "{v}");
    assert!(v["primary_ip"].as_str().unwrap().starts_with("10.0.0."), "{v}");
    let _ = client.cancel().await;

    let seen = recorder.seen.lock().unwrap().clone();
    assert!(!seen.is_empty(), "no progress notification arrived");
    assert!(seen.iter().all(|p| p.total == Some(30.0)), "{seen:?}");
    assert!(seen.iter().any(|p| p.message.as_deref().is_some_and(|m| m.contains("waiting for an address of VM 103"))));
    let values: Vec<f64> = seen.iter().map(|p| p.progress).collect();
    assert!(values.windows(2).all(|w| w[0] < w[1]), "progress went backwards: {values:?}");
}

#[tokio::test]
async fn evacuating_a_node_moves_each_guest_through_the_gates_and_skips_the_protected_one() {
    let sim = support::sim().await;
    let config = format!("{}[protect]\nvmids = [102]\n", plugins(&["inventory", "node-maintenance"]));
    let s = Session::start(&sim.base_url(), Launch { config: Some(config), ..Launch::default() }).await;
    let v = s.ok("pve_evacuate_node", json!({"node": "pve1", "confirm": true})).await;
    let guest = |vmid: u64| v["guests"].as_array().unwrap().iter().find(|g| g["vmid"] == vmid).unwrap().clone();
    assert_eq!((guest(100)["result"].as_str(), guest(100)["mode"].as_str()), (Some("migrated"), Some("live")), "{v}");
    assert_eq!((guest(200)["result"].as_str(), guest(200)["mode"].as_str()), (Some("migrated"), Some("restart")));
    assert_eq!(guest(104)["result"], "migrated", "a paused VM moves live too: {v}");
    assert_eq!(guest(102)["result"], "skipped", "{v}");
    assert!(guest(102)["reason"].as_str().unwrap().contains("protected"), "{v}");
    assert_eq!((v["migrated"].as_u64(), v["skipped"].as_u64()), (Some(3), Some(1)));
    s.finish().await;
    {
        let c = sim.world().lock();
        let nodes: Vec<(u32, &str)> = [100, 102, 104, 200].iter().map(|id| (*id, c.guests[id].node.as_str())).collect();
        assert_eq!(nodes, [(100, "pve2"), (102, "pve1"), (104, "pve2"), (200, "pve2")]);
    }
    let sent = writes(&sim);
    let paths: Vec<String> = sent.iter().map(|w| w["path"].as_str().unwrap_or_default().to_string()).collect();
    assert!(paths.iter().all(|p| !p.contains("/102/")), "a request for the protected guest reached Proxmox: {paths:?}");
    assert_eq!(paths.iter().filter(|p| p.ends_with("/migrate")).count(), 3, "{paths:?}");
    support::validate_requests(&support::sim_request_log(&sim));
}

#[tokio::test]
async fn a_volume_is_deleted_only_when_no_guest_uses_it_and_its_guest_is_not_protected() {
    let sim = support::sim().await;
    let pbs_volid = {
        let mut c = sim.world().lock();
        c.guests
            .get_mut(&100)
            .unwrap()
            .config
            .insert("ide2".into(), "local:iso/debian-13.1.0-amd64-netinst.iso,media=cdrom".into());
        let pbs = c.storages.iter().find(|s| s.storage == "backup-pbs").unwrap();
        pbs.volumes.iter().find(|v| v.vmid == Some(100)).unwrap().volid.clone()
    };
    let config = format!("{}[protect]\nvmids = [102]\n", plugins(&["inventory", "storage-disks", "backups-read"]));
    let s = Session::start(&sim.base_url(), Launch { config: Some(config), ..Launch::default() }).await;

    // The backup server's verification shows in coverage: 102 failed it.
    let coverage = s.ok("pve_backup_coverage", json!({})).await;
    let unverified: Vec<u64> = coverage["unverified"].as_array().unwrap().iter().filter_map(Value::as_u64).collect();
    assert_eq!(unverified, [102], "{coverage}");

    let delete = |volume: &str, node: &str| json!({"volume": volume, "node": node, "confirm": true});
    s.err("pve_delete_volume", delete("local:iso/debian-13.1.0-amd64-netinst.iso", "pve1"), "in use by VM 100 (ide2)")
        .await;
    s.err("pve_delete_volume", delete(&pbs_volid, "pve1"), "is protected").await;
    let local_backup = "local:backup/vzdump-qemu-102-2026_11_19-03_00_00.vma.zst";
    s.err("pve_delete_volume", delete(local_backup, "pve1"), "protected").await;
    assert!(writes(&sim).is_empty(), "nothing may reach Proxmox: {:?}", writes(&sim));

    // pve2's copy of the ISO is attached nowhere: it goes.
    let v = s.ok("pve_delete_volume", delete("local:iso/debian-13.1.0-amd64-netinst.iso", "pve2")).await;
    assert_eq!((v["status"].as_str(), v["node"].as_str()), (Some("ok"), Some("pve2")), "{v}");
    s.finish().await;
    let c = sim.world().lock();
    let local = c.storages.iter().find(|s| s.storage == "local").unwrap();
    let isos: Vec<Option<&str>> =
        local.volumes.iter().filter(|v| v.content == "iso").map(|v| v.node.as_deref()).collect();
    assert_eq!(isos, [Some("pve1")]);
    drop(c);
    support::validate_requests(&support::sim_request_log(&sim));
}
