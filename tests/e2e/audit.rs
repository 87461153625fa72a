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
    assert!(String::from_utf8_lossy(&ok.stdout).contains("4 lines, chain intact"));

    let edited = dir.path().join("edited.jsonl");
    std::fs::write(&edited, text.replacen("\"denied\"", "\"ok\"", 1)).unwrap();
    let bad = verify(&edited);
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("line 2") && err.contains("edited"), "{err}");
}
