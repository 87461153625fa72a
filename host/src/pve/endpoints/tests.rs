use serde_json::{Value, json};

use super::*;
use crate::pve::Method;

fn targets(method: Method, path: &str, params: Value) -> Targets {
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    lookup(method, &segs).unwrap_or_else(|| panic!("{method} {path} is not in the model")).targets(&params)
}

fn ids(t: &Targets) -> Vec<u32> {
    t.ids.iter().copied().collect()
}

#[test]
fn every_write_endpoint_of_the_official_schema_is_classified() {
    let schema = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/pve-api/schema.json");
    let Ok(text) = std::fs::read_to_string(&schema) else {
        assert!(std::env::var("CI").is_err(), "CI must have ../shared/pve-api/schema.json");
        eprintln!("skipped: {} is absent (a plain clone)", schema.display());
        return;
    };
    let schema: Value = serde_json::from_str(&text).unwrap();
    let mut unknown = Vec::new();
    let mut writes = 0;
    for key in schema.as_object().unwrap().keys() {
        let (method, path) = key.split_once(' ').unwrap();
        let method = Method::parse(method).unwrap();
        if !method.is_write() {
            continue;
        }
        writes += 1;
        // Fill each {var} with a plausible value so `{kind:qemu|lxc}`-style
        // rows match as they would for a real request.
        let segs: Vec<String> = path
            .trim_start_matches('/')
            .split('/')
            .map(|s| match s {
                "{vmid}" => "100".to_string(),
                "{upid}" => "UPID:pve1:1:1:1:qmstart:100:root@pam:".to_string(),
                s if s.starts_with('{') => "x".to_string(),
                s => s.to_string(),
            })
            .collect();
        match lookup(method, &segs) {
            Some(m) => assert!(!m.endpoint.action.is_empty(), "{key}: a write row needs an action text"),
            None => unknown.push(key.clone()),
        }
    }
    assert!(writes > 300, "the schema has {writes} writes");
    assert!(unknown.is_empty(), "write endpoints the model does not know: {unknown:#?}");
}

#[test]
fn unknown_writes_are_not_in_the_model() {
    assert!(lookup(Method::Post, &["nodes", "pve1", "frobnicate"]).is_none());
    assert!(lookup(Method::Delete, &["made", "up"]).is_none());
}

#[test]
fn a_guest_path_acts_on_its_guest() {
    assert_eq!(ids(&targets(Method::Post, "/nodes/pve1/qemu/100/status/stop", json!({}))), [100]);
    assert_eq!(ids(&targets(Method::Put, "/nodes/pve1/lxc/200/config", json!({}))), [200]);
    assert_eq!(ids(&targets(Method::Post, "/nodes/pve1/qemu/100/agent/exec", json!({}))), [100]);
    assert_eq!(ids(&targets(Method::Post, "/nodes/pve1/qemu/100/firewall/rules", json!({}))), [100]);
}

#[test]
fn restores_clones_and_creates_act_on_the_vmid_they_name() {
    assert_eq!(ids(&targets(Method::Post, "/nodes/pve1/qemu", json!({"vmid": 103, "force": 1}))), [103]);
    assert_eq!(ids(&targets(Method::Post, "/nodes/pve1/lxc", json!({"vmid": "200", "restore": 1}))), [200]);
    assert_eq!(ids(&targets(Method::Post, "/nodes/pve1/qemu/100/clone", json!({"newid": 101}))), [100, 101]);
    assert_eq!(ids(&targets(Method::Post, "/nodes/pve1/qemu/100/move_disk", json!({"target-vmid": 105}))), [100, 105]);
}

#[test]
fn vzdump_lists_all_and_pools_are_seen_however_spelled() {
    for vmid in [json!(["100"]), json!("102\t100"), json!("102\n100"), json!("100\u{0}"), json!("101;100")] {
        assert!(targets(Method::Post, "/nodes/pve1/vzdump", json!({"vmid": vmid})).ids.contains(&100), "{vmid}");
    }
    let all = targets(Method::Post, "/nodes/pve1/vzdump", json!({"all": 1, "exclude": "101,102"}));
    assert!(all.everything);
    assert_eq!(all.exclude.iter().copied().collect::<Vec<_>>(), [101, 102]);
    let pool = targets(Method::Post, "/nodes/pve1/vzdump", json!({"pool": "prod"}));
    assert!(pool.pools.contains("prod"));
    let job = targets(Method::Post, "/cluster/backup", json!({"vmid": "100", "schedule": "daily"}));
    assert_eq!(ids(&job), [100]);
    let edit = targets(Method::Put, "/cluster/backup/backup-1", json!({"enabled": 0}));
    assert!(edit.backup_jobs.contains("backup-1"));
}

#[test]
fn node_wide_and_bulk_actions_act_on_every_guest_they_reach() {
    assert_eq!(ids(&targets(Method::Post, "/nodes/pve1/stopall", json!({"vms": "100 101"}))), [100, 101]);
    assert!(targets(Method::Post, "/nodes/pve1/suspendall", json!({})).nodes.contains("pve1"));
    assert!(targets(Method::Post, "/nodes/pve1/migrateall", json!({"target": "pve2"})).nodes.contains("pve1"));
    assert!(targets(Method::Post, "/nodes/pve1/status", json!({"command": "reboot"})).nodes.contains("pve1"));
    assert!(targets(Method::Post, "/cluster/bulk-action/guest/shutdown", json!({})).everything);
    assert_eq!(ids(&targets(Method::Post, "/cluster/bulk-action/guest/start", json!({"vms": [100]}))), [100]);
}

#[test]
fn ha_replication_pool_and_volume_writes_name_their_guests() {
    assert_eq!(ids(&targets(Method::Put, "/cluster/ha/resources/vm:100", json!({}))), [100]);
    assert_eq!(ids(&targets(Method::Delete, "/cluster/ha/resources/ct:200", json!({}))), [200]);
    assert_eq!(ids(&targets(Method::Post, "/cluster/ha/resources/vm:100/migrate", json!({}))), [100]);
    assert_eq!(ids(&targets(Method::Post, "/cluster/ha/resources", json!({"sid": "vm:100"}))), [100]);
    assert_eq!(ids(&targets(Method::Post, "/cluster/ha/rules", json!({"resources": "vm:100,ct:101"}))), [100, 101]);
    assert!(targets(Method::Put, "/cluster/ha/rules/r1", json!({})).unknowable.is_some());
    assert_eq!(ids(&targets(Method::Post, "/cluster/replication", json!({"id": "100-0"}))), [100]);
    assert_eq!(ids(&targets(Method::Delete, "/cluster/replication/100-1", json!({}))), [100]);
    assert_eq!(ids(&targets(Method::Put, "/pools/dev", json!({"delete": 1, "vms": "100"}))), [100]);
    assert_eq!(
        ids(&targets(Method::Delete, "/nodes/pve1/storage/local-lvm/content/local-lvm:vm-100-disk-0", json!({}))),
        [100]
    );
    assert!(targets(Method::Delete, "/nodes/pve1/storage/nfs/content/nfs:scratch.raw", json!({})).is_empty());
    assert!(targets(Method::Delete, "/nodes/pve1/storage/local/prunebackups", json!({})).everything);
    assert_eq!(
        ids(&targets(Method::Delete, "/nodes/pve1/tasks/UPID:pve1:00001:0001:6000:vzdump:100:root@pam:", json!({}))),
        [100]
    );
}

#[test]
fn execute_batches_are_classified_command_by_command() {
    let batch = json!([{"path": "/qemu/100/status/stop", "method": "POST"}, {"path": "/status", "method": "GET"}]);
    let t = targets(Method::Post, "/nodes/pve1/execute", json!({"commands": batch.to_string()}));
    assert_eq!(ids(&t), [100]);
    let unknown = json!([{"path": "/frobnicate", "method": "POST"}]);
    assert!(
        targets(Method::Post, "/nodes/pve1/execute", json!({"commands": unknown.to_string()})).unknowable.is_some()
    );
    assert!(targets(Method::Post, "/nodes/pve1/execute", json!({"commands": "not json"})).unknowable.is_some());
}

#[test]
fn writes_of_no_guest_have_empty_targets() {
    assert!(targets(Method::Put, "/cluster/options", json!({"keyboard": "de"})).is_empty());
    assert!(targets(Method::Post, "/access/users", json!({"userid": "a@pve"})).is_empty());
    assert!(targets(Method::Post, "/nodes/pve1/storage/local/download-url", json!({})).is_empty());
    assert!(targets(Method::Post, "/nodes/pve1/termproxy", json!({})).unknowable.is_some());
}

#[test]
fn requirements_name_the_acl_path_of_the_request() {
    let m = lookup(Method::Post, &["nodes", "pve1", "qemu", "100", "status", "stop"]).unwrap();
    let r = m.requirement().unwrap();
    assert_eq!((r.acl_path.as_str(), r.privileges, r.role), ("/vms/100", "VM.PowerMgmt", "PVEVMUser"));
    let r = lookup(Method::Get, &["nodes", "pve1", "lxc", "200", "config"]).unwrap().requirement().unwrap();
    assert_eq!((r.privileges, r.role), ("VM.Audit", "PVEAuditor"));
    let r = lookup(Method::Get, &["nodes", "pve1", "status"]).unwrap().requirement().unwrap();
    assert_eq!((r.acl_path.as_str(), r.privileges), ("/nodes/pve1", "Sys.Audit"));
    // Known, and needing no privilege of its own.
    assert!(lookup(Method::Get, &["version"]).unwrap().requirement().is_none());
}

#[test]
fn secrets_are_masked_in_shown_parameters_and_answers() {
    let m = lookup(Method::Put, &["nodes", "pve1", "qemu", "100", "config"]).unwrap();
    let shown = m.shown_params(&json!({"cipassword": "hunter2", "memory": 2048, "ciuser": "ops"}));
    assert_eq!(shown, "cipassword=[redacted] ciuser=ops memory=2048");
    let m = lookup(Method::Post, &["access", "users", "a@pve", "token", "t"]).unwrap();
    let mut answer = json!({"full-tokenid": "a@pve!t", "value": "s3cr3t"});
    m.redact_answer(&mut answer);
    assert_eq!(answer["value"], "[redacted]");
    assert_eq!(answer["full-tokenid"], "a@pve!t");
    let m = lookup(Method::Get, &["cluster", "acme", "plugins", "dns1"]).unwrap();
    let mut answer = json!({"data": "API_KEY=abc", "type": "dns"});
    m.redact_answer(&mut answer);
    assert_eq!(answer["data"], "[redacted]");
    for key in ["password", "cipassword", "root_password", "api_token", "CSRFPreventionToken", "vncticket"] {
        assert!(is_secret_key(key), "{key}");
    }
    for key in ["tokenid", "tokens", "keyboard", "memory", "sshkeys"] {
        assert!(!is_secret_key(key), "{key}");
    }
}

#[test]
fn every_row_parses_and_names_its_privileges_with_a_role() {
    for e in all() {
        assert!(e.path.starts_with('/'), "{}", e.path);
        assert!(e.privileges.is_empty() == e.role.is_empty() || e.path == "/access/ticket", "{}", e.path);
    }
}

#[test]
fn the_sdk_hides_the_same_secret_keys_as_the_host() {
    assert_eq!(SECRET_KEYS, proxmcp_sdk::write::SECRET_KEYS);
    assert_eq!(SECRET_FRAGMENTS, proxmcp_sdk::write::SECRET_FRAGMENTS);
    for key in ["tokenid", "input-data", "cipassword", "api_token", "keyboard", "eab-hmac-key"] {
        assert_eq!(is_secret_key(key), proxmcp_sdk::write::is_secret_key(key), "{key}");
    }
}

#[test]
fn answers_without_a_secret_key_skip_the_redaction_parse() {
    assert!(!may_hold_secrets(r#"[{"vmid":100,"name":"web","status":"running"}]"#, &[]));
    assert!(may_hold_secrets(r#"{"cipassword":"**********"}"#, &[]));
    assert!(may_hold_secrets(r#"{"ticket":"PVE:x","CSRFPreventionToken":"y"}"#, &[]));
    assert!(may_hold_secrets(r#"{"Password":"x"}"#, &[]));
    assert!(may_hold_secrets(r#"{"data":"API_KEY=x"}"#, &["data"]));
    assert!(!may_hold_secrets(r#"{"data":"API_KEY=x"}"#, &[]));
}

#[test]
fn the_privileges_a_row_needs_are_read_from_its_words() {
    let needed = |method, path: &str| {
        let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        lookup(method, &segs).unwrap().endpoint.needed()
    };
    assert_eq!(needed(Method::Post, "/nodes/pve1/qemu/100/status/start"), ["VM.PowerMgmt"]);
    assert_eq!(
        needed(Method::Post, "/nodes/pve1/qemu/100/snapshot/s/rollback"),
        ["VM.Snapshot.Rollback", "VM.Snapshot"]
    );
    assert_eq!(needed(Method::Post, "/nodes/pve1/vzdump"), ["VM.Backup"]);
    assert_eq!(needed(Method::Put, "/nodes/pve1/qemu/100/config"), ["VM.Config.*"]);
    assert_eq!(needed(Method::Post, "/cluster/bulk-action/guest/start"), ["VM.PowerMgmt"]);
    assert!(needed(Method::Get, "/version").is_empty());
    assert!(needed(Method::Post, "/nodes/pve1/execute").is_empty());
}
