//! Firewall, HA and replication through the real binary, the real
//! firewall-ha components and the simulator: the operator's everyday
//! flows, protection holding for every new write, read-only mode loading
//! only the reads, and HA placement following the cluster's PVE version.

use proxmcp::sim::Simulator;
use serde_json::{Value, json};

use crate::support::{self, Launch, Session, writes};

const BOTH: &str = "[plugins]\nbuiltin = [\"inventory\", \"firewall-ha-read\", \"firewall-ha\"]\n";

async fn session(sim: &Simulator, extra: &str) -> Session {
    Session::start(&sim.base_url(), Launch { config: Some(format!("{BOTH}{extra}")), ..Launch::default() }).await
}

fn lines(v: &Value, key: &str) -> Vec<String> {
    v[key].as_array().unwrap().iter().map(|l| l.as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn one_session_opens_443_on_vm_100_deletes_it_by_digest_and_takes_a_container_in_and_out_of_ha() {
    let sim = support::sim().await;
    let s = session(&sim, "").await;

    let added = s
        .ok(
            "pve_add_firewall_rule",
            json!({"vmid": 100, "action": "ACCEPT", "proto": "tcp", "dport": "443", "comment": "https", "confirm": true}),
        )
        .await;
    assert_eq!(lines(&added, "after"), ["0: in ACCEPT proto tcp dport 443"], "{added}");
    let listed = s.ok("pve_list_firewall_rules", json!({"scope": "guest", "vmid": 100})).await;
    let rule = &listed["rules"][0];
    assert_eq!(
        (rule["pos"].as_u64(), rule["dport"].as_str(), rule["proto"].as_str()),
        (Some(0), Some("443"), Some("tcp"))
    );
    assert_eq!(listed["effect"]["active"], true, "{listed}");
    let digest = listed["digest"].as_str().unwrap().to_string();

    // A stale digest is refused before anything is sent; the listed one works.
    s.err(
        "pve_delete_firewall_rule",
        json!({"vmid": 100, "pos": 0, "digest": "stale", "confirm": true}),
        "list them again",
    )
    .await;
    let deleted =
        s.ok("pve_delete_firewall_rule", json!({"vmid": 100, "pos": 0, "digest": digest, "confirm": true})).await;
    assert!(lines(&deleted, "after").is_empty(), "{deleted}");
    let sent: Vec<Value> = writes(&sim).into_iter().filter(|w| w["method"] == "DELETE").collect();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["params"]["digest"], json!(digest), "the delete carries the listed digest");
    assert!(sim.world().lock().firewall.rules.get("vm/100").is_none_or(Vec::is_empty));

    // A container under HA, then out again.
    let added = s.ok("pve_add_ha_resource", json!({"vmid": 200, "max_restart": 2, "confirm": true})).await;
    assert_eq!(added["sid"], "ct:200");
    let status = s.ok("pve_get_ha_status", json!({})).await;
    let res = &status["resources"][0];
    assert_eq!(
        (res["sid"].as_str(), res["node"].as_str(), res["state"].as_str()),
        (Some("ct:200"), Some("pve1"), Some("started"))
    );
    let listed = s.ok("pve_list_ha_resources", json!({})).await;
    assert_eq!(listed["resources"][0]["max_restart"], 2, "{listed}");
    s.ok("pve_remove_ha_resource", json!({"vmid": 200, "confirm": true})).await;
    assert_eq!(s.ok("pve_list_ha_resources", json!({})).await["resources"], json!([]));

    // Turning the datacenter firewall off shows on a guest's rules.
    s.ok("pve_set_firewall_options", json!({"scope": "cluster", "set": {"enable": false}, "confirm": true})).await;
    let listed = s.ok("pve_list_firewall_rules", json!({"vmid": 100})).await;
    assert_eq!(listed["effect"]["active"], false);
    assert!(listed["effect"]["disabled_by"][0].as_str().unwrap().starts_with("cluster:"), "{listed}");

    s.finish().await;
    support::validate_requests(&support::sim_request_log(&sim));
}

#[tokio::test]
async fn protected_guests_cannot_be_firewalled_put_under_ha_or_replicated_by_these_tools() {
    let sim = support::sim().await;
    {
        let mut c = sim.world().lock();
        c.guests.get_mut(&200).unwrap().tags.push("protected".into());
        let item = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        c.collections.entry("ha-resources".into()).or_default().insert("vm:100".into(), item(&[("state", "started")]));
        c.collections.entry("replication".into()).or_default().insert("100-0".into(), item(&[("target", "pve2")]));
    }
    let s = session(&sim, "[protect]\nvmids = [100]\n").await;
    let refused = [
        ("pve_add_firewall_rule", json!({"vmid": 100, "action": "ACCEPT", "dport": "22", "proto": "tcp"})),
        ("pve_delete_firewall_rule", json!({"vmid": 101, "pos": 0})),
        ("pve_set_firewall_options", json!({"vmid": 100, "set": {"enable": false}})),
        ("pve_add_ha_resource", json!({"vmid": 200})),
        ("pve_update_ha_resource", json!({"vmid": 100, "state": "stopped"})),
        ("pve_remove_ha_resource", json!({"vmid": 100})),
        ("pve_create_replication_job", json!({"vmid": 200, "target": "pve2"})),
        ("pve_run_replication_now", json!({"id": "100-0"})),
        ("pve_delete_replication_job", json!({"id": "100-0"})),
    ];
    for (tool, mut args) in refused {
        // VM 101 is not protected: its rule goes, to show the gate is per guest.
        let allowed = args["vmid"] == 101;
        args["confirm"] = json!(true);
        let r = s.call(tool, args.clone()).await;
        if allowed {
            assert!(!support::is_error(&r), "{tool} {args}: {}", support::text(&r));
        } else {
            assert!(
                support::is_error(&r) && support::text(&r).contains("protected"),
                "{tool} {args}: {}",
                support::text(&r)
            );
        }
    }
    s.finish().await;
    let sent = writes(&sim);
    assert_eq!(sent.len(), 1, "only VM 101's rule change may reach Proxmox: {sent:?}");
    assert_eq!(sent[0]["path"], "/api2/json/nodes/pve2/qemu/101/firewall/rules/0");
}

#[tokio::test]
async fn read_only_mode_loads_the_reads_and_leaves_the_writing_plugin_out() {
    let sim = support::sim().await;
    let launch = Launch { global_args: vec!["--read-only".into()], config: Some(BOTH.into()), ..Launch::default() };
    let s = Session::start(&sim.base_url(), launch).await;
    let names: Vec<String> = s.client.list_all_tools().await.unwrap().into_iter().map(|t| t.name.to_string()).collect();
    for read in ["pve_list_firewall_rules", "pve_get_ha_status", "pve_list_replication_jobs", "pve_list_ha_rules"] {
        assert!(names.iter().any(|n| n == read), "{read} missing in read-only mode: {names:?}");
    }
    for write in ["pve_add_firewall_rule", "pve_add_ha_resource", "pve_create_replication_job"] {
        assert!(!names.iter().any(|n| n == write), "{write} loaded in read-only mode");
    }
    s.ok("pve_list_firewall_objects", json!({})).await;
    s.finish().await;
    assert!(writes(&sim).is_empty());
}

#[tokio::test]
async fn ha_placement_uses_groups_on_pve_8_and_rules_on_pve_9_and_says_so() {
    let sim = support::sim().await;
    let s = session(&sim, "").await;
    // PVE 9: nodes become a node-affinity rule; a group is refused with the way out.
    s.err("pve_add_ha_resource", json!({"vmid": 102, "group": "g", "confirm": true}), "pass nodes").await;
    let added = s
        .ok("pve_add_ha_resource", json!({"vmid": 102, "nodes": ["pve1", "pve2"], "strict": true, "confirm": true}))
        .await;
    assert_eq!(added["steps"].as_array().unwrap().len(), 2, "{added}");
    let rules = s.ok("pve_list_ha_rules", json!({"vmid": 102})).await;
    assert_eq!(rules["api"], "rules");
    assert_eq!(rules["items"][0]["nodes"], "pve1,pve2", "{rules}");
    s.finish().await;

    sim.world().lock().version = "8.4.1".into();
    sim.world()
        .lock()
        .collections
        .entry("ha-groups".into())
        .or_default()
        .insert("prefer-pve1".into(), [("nodes".to_string(), "pve1:2,pve2".to_string())].into_iter().collect());
    let s = session(&sim, "").await;
    s.err("pve_add_ha_resource", json!({"vmid": 201, "nodes": ["pve2"], "confirm": true}), "HA rules need PVE 9").await;
    s.err("pve_add_ha_resource", json!({"vmid": 201, "failback": false, "confirm": true}), "nofailback").await;
    let added = s.ok("pve_add_ha_resource", json!({"vmid": 201, "group": "prefer-pve1", "confirm": true})).await;
    assert_eq!(added["pve_major"], 8);
    let groups = s.ok("pve_list_ha_rules", json!({})).await;
    assert_eq!((groups["api"].as_str(), groups["items"][0]["group"].as_str()), (Some("groups"), Some("prefer-pve1")));
    s.finish().await;
    support::validate_requests(&support::sim_request_log(&sim));
}
