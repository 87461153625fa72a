//! Provisioning, guest-exec and raw-API plugins through the real binary
//! against the simulator, and cancellation of a call waiting for a task.

use std::process::Stdio;
use std::time::Duration;

use proxmcp::sim::{SimOptions, SimToken, Simulator};
use rmcp::ServiceExt;
use rmcp::model::{CallToolRequest, CallToolRequestParams, ClientRequest};
use rmcp::service::PeerRequestOptions;
use rmcp::transport::TokioChildProcess;
use serde_json::json;

use crate::support::{self, Launch, Session, TOKEN_ID, TOKEN_SECRET, writes};

#[tokio::test]
async fn provisioning_tools_create_change_and_remove_guests() {
    let sim = support::sim().await;
    let session = Session::start(&sim.base_url(), Launch::default()).await;

    // Clone: the new id comes from /cluster/nextid.
    let v = session.ok("pve_clone_vm", json!({"vmid": 9000, "name": "from-tmpl", "confirm": true})).await;
    assert_eq!(
        (v["status"].as_str(), v["upid"].as_str().map(|u| u.contains(":qmclone:9000:"))),
        (Some("ok"), Some(true))
    );
    assert_eq!(sim.world().lock().guests[&106].name, "from-tmpl");
    session
        .ok(
            "pve_clone_vm",
            json!({"vmid": 201, "newid": 302, "name": "proxy-copy", "target_node": "pve1", "confirm": true}),
        )
        .await;
    {
        let c = sim.world().lock();
        assert_eq!((c.guests[&302].name.as_str(), c.guests[&302].node.as_str()), ("proxy-copy", "pve1"));
    }

    // Create QEMU and LXC guests; the dry run shows the exact request first.
    let before = writes(&sim).len();
    let v = session
        .ok(
            "pve_create_qemu_vm",
            json!({"node": "pve2", "name": "new-vm", "cores": 4, "memory_mib": 4096, "disk_gib": 40, "dry_run": true}),
        )
        .await;
    assert_eq!(v["requests"][0]["path"], "/nodes/pve2/qemu");
    assert_eq!(v["requests"][0]["params"]["scsi0"], "local-lvm:40");
    assert_eq!(writes(&sim).len(), before, "the dry run sent a write");
    session.ok("pve_create_qemu_vm", json!({"node": "pve2", "vmid": 300, "name": "new-vm", "cores": 4, "memory_mib": 4096, "disk_gib": 40, "confirm": true})).await;
    {
        let c = sim.world().lock();
        let g = &c.guests[&300];
        assert_eq!((g.cores, g.memory_mib, g.disk_gib, g.node.as_str()), (4, 4096, 40, "pve2"));
    }
    session.ok("pve_create_lxc", json!({"node": "pve1", "vmid": 301, "hostname": "new-ct", "ostemplate": "local:vztmpl/debian-13-standard_13.1-1_amd64.tar.zst", "confirm": true})).await;
    assert_eq!(sim.world().lock().guests[&301].name, "new-ct");

    // Resize: only growth, written +N.
    session.ok("pve_resize_disk", json!({"vmid": 300, "size": "+10G", "confirm": true})).await;
    assert_eq!(sim.world().lock().guests[&300].disk_gib, 50);
    session.err("pve_resize_disk", json!({"vmid": 300, "size": "-5G", "confirm": true}), "cannot shrink").await;
    session.err("pve_resize_disk", json!({"vmid": 300, "size": "10G", "confirm": true}), "+10G").await;

    // Config: current vs new in the dry run; the digest travels with the change.
    let v = session
        .ok(
            "pve_set_vm_config",
            json!({"vmid": 300, "set": {"cores": 2, "description": "web"}, "delete": ["ide2"], "dry_run": true}),
        )
        .await;
    assert_eq!(v["changes"][0], json!({"key": "cores", "current": 4, "new": 2}));
    assert!(v["requests"][0]["params"]["digest"].is_string());
    session
        .ok("pve_set_vm_config", json!({"vmid": 300, "set": {"cores": 2, "description": "web"}, "confirm": true}))
        .await;
    assert_eq!(sim.world().lock().guests[&300].cores, 2);
    let last_put = sim.requests().into_iter().rev().find(|r| r["method"] == "PUT").unwrap();
    assert!(last_put["params"]["digest"].is_string(), "{last_put}");
    session
        .err("pve_set_vm_config", json!({"vmid": 300, "set": {"hookscript": "x"}, "confirm": true}), "allowed:")
        .await;
    session.err("pve_set_vm_config", json!({"vmid": 300, "confirm": true}), "nothing to change").await;

    // Delete: a running guest is refused by Proxmox, a stopped one goes.
    session.err("pve_delete_vm", json!({"vmid": 100, "confirm": true}), "is running").await;
    session.ok("pve_delete_vm", json!({"vmid": 301, "purge": true, "confirm": true})).await;
    assert!(!sim.world().lock().guests.contains_key(&301));

    // Restore: to a free id, and over an existing guest only with force.
    let archive = "backup-nfs:backup/vzdump-qemu-100-2026_11_20-02_00_01.vma.zst";
    let v = session.ok("pve_restore_backup", json!({"archive": archive, "confirm": true})).await;
    assert_eq!(v["status"], "ok");
    assert_eq!(sim.world().lock().guests[&107].name, "web-01", "restored to the next free vmid");
    session.err("pve_restore_backup", json!({"archive": archive, "vmid": 103, "confirm": true}), "force=true").await;
    session.ok("pve_restore_backup", json!({"archive": archive, "vmid": 103, "force": true, "confirm": true})).await;
    assert_eq!(sim.world().lock().guests[&103].name, "web-01");
    session.err("pve_restore_backup", json!({"archive": "local:iso/x.iso", "confirm": true}), "pve_list_backups").await;

    let tools = session.client.list_all_tools().await.unwrap();
    for (name, destructive) in [("pve_delete_vm", true), ("pve_restore_backup", true), ("pve_clone_vm", false)] {
        let t = tools.iter().find(|t| t.name == name).unwrap();
        assert_eq!(support::hints(t).1, destructive, "{name}");
    }
    session.finish().await;
    support::validate_requests(&support::sim_request_log(&sim));
}

#[tokio::test]
async fn guest_exec_is_opt_in_and_returns_exit_code_and_capped_output() {
    let sim = support::sim().await;
    let session = Session::start(&sim.base_url(), Launch::default()).await;
    let tools = session.client.list_all_tools().await.unwrap();
    assert!(
        tools.iter().all(|t| t.name != "pve_vm_exec" && t.name != "pve_api_request"),
        "opt-in tools loaded by default"
    );
    session.finish().await;

    let ro = Launch {
        env: vec![("PVE_MCP_ENABLE_EXEC".into(), "true".into()), ("PROXMCP_READ_ONLY".into(), "true".into())],
        ..Launch::default()
    };
    let session = Session::start(&sim.base_url(), ro).await;
    assert!(
        session.client.list_all_tools().await.unwrap().iter().all(|t| t.name != "pve_vm_exec"),
        "guest-exec in read-only mode"
    );
    session.finish().await;

    let on = Launch { env: vec![("PVE_MCP_ENABLE_EXEC".into(), "true".into())], ..Launch::default() };
    let session = Session::start(&sim.base_url(), on).await;
    let v = session.ok("pve_vm_exec", json!({"vmid": 100, "command": ["hostname"], "confirm": true})).await;
    assert_eq!(
        (v["status"].as_str(), v["exitcode"].as_i64(), v["stdout"].as_str()),
        (Some("exited"), Some(0), Some("web-01\n"))
    );
    let v = session.ok("pve_vm_exec", json!({"vmid": 100, "command": ["yes"], "confirm": true})).await;
    assert_eq!((v["stdout_truncated"].as_bool(), v["stdout"].as_str().map(str::len)), (Some(true), Some(16 * 1024)));
    let v = session.ok("pve_vm_exec", json!({"vmid": 102, "command": ["nosuch"], "confirm": true})).await;
    assert_eq!(v["exitcode"], 127);
    assert!(v["stderr"].as_str().unwrap().contains("not found"));
    session.err("pve_vm_exec", json!({"vmid": 100, "command": ["hostname"]}), "confirm=true").await;
    session
        .err(
            "pve_vm_exec",
            json!({"vmid": 101, "command": ["hostname"], "confirm": true}),
            "guest agent is not running",
        )
        .await;
    session.err("pve_vm_exec", json!({"vmid": 200, "command": ["hostname"], "confirm": true}), "container").await;
    session.finish().await;
    support::validate_requests(&support::sim_request_log(&sim));
}

#[tokio::test]
async fn raw_api_requests_are_split_checked_and_confirmed() {
    let sim = support::sim().await;
    let launch =
        Launch { config: Some("[plugins]\nbuiltin = [\"inventory\", \"raw-api\"]\n".into()), ..Launch::default() };
    let session = Session::start(&sim.base_url(), launch).await;
    let v = session.ok("pve_api_request", json!({"method": "GET", "path": "/nodes/pve1/status"})).await;
    assert!(v["data"]["pveversion"].as_str().unwrap().contains("9.1.2"));
    let v = session
        .ok(
            "pve_api_request",
            json!({"method": "GET", "path": "/api2/json/cluster/resources", "params": {"type": "vm"}}),
        )
        .await;
    assert!(v["data"].as_array().unwrap().len() >= 10);
    for (path, hint) in [
        ("https://pve1:8006/api2/json/version", "full URL"),
        ("/version?x=1", "query or fragment"),
        ("/nodes/pve1/../../etc", "relative path element"),
        ("/nodes/%2e%2e/status", "percent-encoded"),
        ("/nodes/pve1%2Fqemu/status", "percent-encoded"),
        ("/nodes//status", "is empty"),
        ("version", "must start with /"),
    ] {
        session.err("pve_api_request", json!({"method": "GET", "path": path}), hint).await;
    }
    session
        .err(
            "pve_api_request",
            json!({"method": "POST", "path": "/nodes/pve2/qemu/103/status/start"}),
            "would start VM 103",
        )
        .await;
    assert_eq!(writes(&sim).len(), 0);
    let v = session
        .ok("pve_api_request", json!({"method": "POST", "path": "/nodes/pve2/qemu/103/status/start", "confirm": true}))
        .await;
    assert!(v["data"].as_str().unwrap().starts_with("UPID:pve2:"));
    session.finish().await;
    support::validate_requests(&support::sim_request_log(&sim));
}

#[tokio::test]
async fn a_cancelled_call_stops_waiting_and_the_task_goes_on() {
    let mut options = SimOptions::demo();
    options.time_scale = 0.5;
    options.tokens =
        vec![SimToken { id: TOKEN_ID.into(), secret: proxmcp::secret::Secret::new(TOKEN_SECRET), read_only: false }];
    let sim = Simulator::start(([127, 0, 0, 1], 0).into(), false, options).await.unwrap();
    let work = tempfile::tempdir().unwrap();
    let cmd = support::command(&sim.base_url(), &Launch::default(), work.path());
    let (transport, stderr) = TokioChildProcess::builder(cmd).stderr(Stdio::piped()).spawn().unwrap();
    let client = ().serve(transport).await.unwrap();
    let params = CallToolRequestParams::new("pve_backup_vm")
        .with_arguments(json!({"vmid": 100, "storage": "backup-nfs", "confirm": true}).as_object().unwrap().clone());
    let handle = client
        .peer()
        .send_cancellable_request(
            ClientRequest::CallToolRequest(CallToolRequest::new(params)),
            PeerRequestOptions::no_options(),
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;
    handle.cancel(Some("user pressed stop".into())).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let _ = client.cancel().await;
    let mut log = String::new();
    let _ = tokio::io::AsyncReadExt::read_to_string(&mut stderr.unwrap(), &mut log).await;
    let line =
        log.lines().find(|l| l.contains("tool=pve_backup_vm")).unwrap_or_else(|| panic!("no call finished:\n{log}"));
    let ms: u64 = line
        .split("elapsed_ms=")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!(ms < 5000, "the call kept waiting for {ms} ms after the cancel:\n{line}");
    let c = sim.world().lock();
    let task = c.tasks.iter().rev().find(|t| t.kind == "vzdump").unwrap();
    assert!(task.endtime.is_none(), "the Proxmox task should go on after the cancel");
}
