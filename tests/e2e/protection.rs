//! Protection fails closed, through the real binary, the real raw-API and
//! provisioning components and the simulator: every spelling of a
//! protected guest the outside review used is refused before anything is
//! sent, and so is a write the endpoint model does not know.

use proxmcp::sim::Simulator;
use serde_json::{Value, json};

use crate::support::{self, Launch, Session, is_error, text, writes};

const RAW: &str = "[plugins]\nbuiltin = [\"inventory\", \"lifecycle\", \"provisioning\", \"raw-api\"]\n";

async fn session(sim: &Simulator, extra: &str) -> Session {
    Session::start(&sim.base_url(), Launch { config: Some(format!("{RAW}{extra}")), ..Launch::default() }).await
}

async fn raw(session: &Session, method: &str, path: &str, params: Value) -> (bool, String) {
    let r = session
        .call("pve_api_request", json!({"method": method, "path": path, "params": params, "confirm": true}))
        .await;
    (is_error(&r), text(&r))
}

#[tokio::test]
async fn raw_api_cannot_reach_a_protected_guest_by_any_spelling() {
    let sim = support::sim().await;
    // 100 is protected by id, CT 200 by its tag.
    sim.world().lock().guests.get_mut(&200).unwrap().tags.push("protected".into());
    let s = session(&sim, "[protect]\nvmids = [100]\n").await;
    let batch = json!([{"path": "/qemu/100/status/stop", "method": "POST"}]).to_string();
    let attacks = [
        ("POST", "/nodes/pve1/vzdump", json!({"vmid": ["100"], "storage": "backup-nfs"})),
        ("POST", "/nodes/pve1/vzdump", json!({"vmid": "102\t100"})),
        ("POST", "/nodes/pve1/vzdump", json!({"vmid": "102\n100"})),
        ("POST", "/nodes/pve1/vzdump", json!({"vmid": "100\u{0}"})),
        ("POST", "/nodes/pve1/vzdump", json!({"all": 1})),
        ("POST", "/nodes/pve1/vzdump", json!({"pool": "production"})),
        ("POST", "/nodes/pve1/stopall", json!({"vms": "100"})),
        ("POST", "/nodes/pve1/suspendall", json!({})),
        ("POST", "/nodes/pve1/migrateall", json!({"target": "pve2", "vms": "101,100"})),
        ("PUT", "/cluster/ha/resources/vm:100", json!({"state": "stopped"})),
        ("POST", "/cluster/ha/resources", json!({"sid": "ct:200"})),
        ("DELETE", "/cluster/ha/resources/100", json!({})),
        ("POST", "/cluster/ha/resources/vm:100/migrate", json!({"node": "pve2"})),
        ("POST", "/cluster/bulk-action/guest/shutdown", json!({"vms": [100]})),
        ("POST", "/cluster/bulk-action/guest/suspend", json!({})),
        ("DELETE", "/nodes/pve1/storage/local-lvm/content/local-lvm:vm-100-disk-0", json!({})),
        ("DELETE", "/nodes/pve1/storage/local-lvm/content/local-lvm:subvol-200-disk-0", json!({})),
        ("POST", "/cluster/backup", json!({"vmid": "100", "schedule": "daily", "storage": "backup-nfs"})),
        ("POST", "/cluster/replication", json!({"id": "100-0", "target": "pve2", "type": "local"})),
        ("PUT", "/pools/production", json!({"vms": "100", "delete": 1})),
        ("POST", "/nodes/pve1/execute", json!({"commands": batch})),
        (
            "POST",
            "/nodes/pve1/qemu",
            json!({"vmid": 100, "archive": "backup-nfs:backup/vzdump-qemu-100-2026_11_20-02_00_01.vma.zst", "force": 1}),
        ),
        ("POST", "/nodes/pve1/qemu/101/clone", json!({"newid": 100})),
    ];
    for (method, path, params) in attacks {
        let (error, message) = raw(&s, method, path, params.clone()).await;
        assert!(error && message.contains("protected"), "{method} {path} {params}: {message}");
    }
    s.finish().await;
    assert!(writes(&sim).is_empty(), "a write reached Proxmox: {:?}", writes(&sim));
}

#[tokio::test]
async fn restore_over_a_protected_guest_is_refused_even_confirmed() {
    let sim = support::sim().await;
    sim.world().lock().guests.get_mut(&200).unwrap().tags.push("protected".into());
    let s = session(&sim, "[protect]\nvmids = [100]\n").await;
    let vm =
        json!({"archive": "backup-nfs:backup/vzdump-qemu-100-2026_11_20-02_00_01.vma.zst", "vmid": 100, "force": true});
    let ct =
        json!({"archive": "backup-nfs:backup/vzdump-lxc-200-2026_11_20-02_10_00.tar.zst", "vmid": 200, "force": true});
    for args in [vm.clone(), ct] {
        let mut confirmed = args.clone();
        confirmed["confirm"] = json!(true);
        let r = s.call("pve_restore_backup", confirmed).await;
        assert!(is_error(&r) && text(&r).contains("protected"), "{}", text(&r));
        // The dry run says so too, instead of promising a restore.
        let mut dry = args;
        dry["dry_run"] = json!(true);
        let r = s.call("pve_restore_backup", dry).await;
        assert!(is_error(&r) && text(&r).contains("protected"), "{}", text(&r));
    }
    s.finish().await;
    assert!(writes(&sim).is_empty(), "{:?}", writes(&sim));
    assert!(sim.world().lock().guests[&200].tags.iter().any(|t| t == "protected"), "the CT is untouched");
}

#[tokio::test]
async fn a_write_to_an_unknown_endpoint_is_refused_while_protection_is_on() {
    let sim = support::sim().await;
    let s = session(&sim, "").await;
    let (error, message) = raw(&s, "POST", "/nodes/pve1/frobnicate", json!({})).await;
    assert!(error && message.contains("does not know") && message.contains("unknown_writes"), "{message}");
    // The guests of a node shell cannot be told either.
    let (error, message) = raw(&s, "POST", "/nodes/pve1/termproxy", json!({})).await;
    assert!(error && message.contains("cannot tell which guests"), "{message}");
    s.finish().await;
    assert!(writes(&sim).is_empty());
    // An operator who accepts the risk lets it past protection; the
    // cluster's own API schema then knows no such endpoint, so it is still
    // not sent.
    let s = session(&sim, "[protect]\nunknown_writes = \"allow\"\n").await;
    let (_, message) = raw(&s, "POST", "/nodes/pve1/frobnicate", json!({})).await;
    assert!(!message.contains("does not know") && message.contains("has no endpoint"), "{message}");
    s.finish().await;
    assert!(writes(&sim).is_empty());
}

#[tokio::test]
async fn unprotected_guests_and_guest_free_writes_still_pass() {
    let sim = support::sim().await;
    let s = session(&sim, "[protect]\nvmids = [100]\n").await;
    let (error, message) = raw(&s, "POST", "/nodes/pve1/qemu/102/status/stop", json!({})).await;
    assert!(!error, "{message}");
    let (error, message) = raw(&s, "POST", "/nodes/pve1/vzdump", json!({"vmid": "102", "storage": "backup-nfs"})).await;
    assert!(!error, "{message}");
    s.finish().await;
    assert_eq!(writes(&sim).len(), 2);
}

#[tokio::test]
async fn a_guest_whose_tags_cannot_be_read_is_refused() {
    let sim = support::sim().await;
    // The token cannot list guests: the tag check has nothing to read.
    sim.world().lock().guests.get_mut(&102).unwrap().tags.push("protected".into());
    let s = Session::start(
        &sim.base_url(),
        Launch {
            config: Some(RAW.into()),
            env: vec![("PVE_API_TOKEN_ID".into(), "nobody@pve!none".into())],
            ..Launch::default()
        },
    )
    .await;
    let (error, message) = raw(&s, "POST", "/nodes/pve1/qemu/102/status/stop", json!({})).await;
    assert!(error && message.contains("could not be read"), "{message}");
    s.finish().await;
    assert!(writes(&sim).is_empty());
}

#[tokio::test]
async fn raw_api_can_be_narrowed_and_obeys_denied_tools() {
    let sim = support::sim().await;
    // Granted reads only: it loads, reads, and refuses writes by grant.
    let s = session(&sim, "[grants]\nraw-api = [\"GET /**\"]\n").await;
    let (error, message) = raw(&s, "GET", "/version", json!({})).await;
    assert!(!error, "{message}");
    let (error, message) = raw(&s, "POST", "/nodes/pve1/qemu/102/status/stop", json!({})).await;
    assert!(error && message.contains("no grant"), "{message}");
    s.finish().await;
    // Read-only mode keeps a read-only raw API.
    let s = Session::start(
        &sim.base_url(),
        Launch {
            global_args: vec!["--read-only".into()],
            config: Some(format!("{RAW}[grants]\nraw-api = [\"GET /**\"]\n")),
            ..Launch::default()
        },
    )
    .await;
    let (error, message) = raw(&s, "GET", "/nodes", json!({})).await;
    assert!(!error, "{message}");
    s.finish().await;
    // A denied tool's endpoint is refused through the raw API too.
    let s = session(&sim, "[tools]\ndeny = [\"pve_stop_vm\"]\n").await;
    let (error, message) = raw(&s, "POST", "/nodes/pve1/qemu/102/status/stop", json!({})).await;
    assert!(error && message.contains("does what tool pve_stop_vm does"), "{message}");
    s.finish().await;
    assert!(writes(&sim).is_empty(), "{:?}", writes(&sim));
}

#[tokio::test]
async fn editing_a_backup_job_that_covers_a_protected_guest_is_refused() {
    let sim = support::sim().await;
    let s = session(&sim, "[protect]\nvmids = [100]\n").await;
    // The seeded nightly job backs up every guest, 100 among them: turning
    // it off or deleting it acts on 100, so protection refuses it.
    for (method, params) in [("PUT", json!({"enabled": 0})), ("DELETE", json!({}))] {
        let (error, message) = raw(&s, method, "/cluster/backup/backup-daily", params).await;
        assert!(error && message.contains("protected"), "{method}: {message}");
    }
    // A job of unprotected guests can be changed.
    let (error, message) =
        raw(&s, "POST", "/cluster/backup", json!({"vmid": "102", "storage": "backup-nfs", "schedule": "sun 03:00"}))
            .await;
    assert!(!error, "{message}");
    s.finish().await;
    let sent: Vec<String> = writes(&sim).iter().map(|r| r["path"].as_str().unwrap_or("").to_string()).collect();
    assert_eq!(sent, ["/api2/json/cluster/backup"]);
}
