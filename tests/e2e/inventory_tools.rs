//! Every inventory tool against the simulator through the real binary:
//! typical, filtered and bad arguments; each result checked against the
//! tool's declared outputSchema; the requests checked with validate.py.

use std::collections::BTreeMap;

use rmcp::model::{CallToolResult, Tool};
use serde_json::{Value, json};

use crate::support::{self, Launch, Session, is_error, text};

/// Names the seed gives guests: guest-controlled text that must never be
/// spliced into a summary line.
const GUEST_NAMES: &[&str] =
    &["web-01", "web-02", "db-01", "build-runner", "win-desktop", "lab-vm", "dns", "reverse-proxy"];

pub const INVENTORY_TOOLS: &[&str] = &[
    "pve_check_permissions",
    "pve_get_cluster_status",
    "pve_get_guest_network",
    "pve_get_next_vmid",
    "pve_get_node",
    "pve_get_node_metrics",
    "pve_get_task_log",
    "pve_get_task_status",
    "pve_get_version",
    "pve_get_vm_config",
    "pve_get_vm_metrics",
    "pve_get_vm_status",
    "pve_list_backups",
    "pve_list_nodes",
    "pve_list_pools",
    "pve_list_resources",
    "pve_list_snapshots",
    "pve_list_storage",
    "pve_list_storage_content",
    "pve_list_tasks",
    "pve_list_vms",
];

struct Checked {
    session: Session,
    schemas: BTreeMap<String, jsonschema::Validator>,
    seen: std::collections::BTreeSet<String>,
}

impl Checked {
    async fn new(session: Session) -> Checked {
        let tools: Vec<Tool> = session.client.list_all_tools().await.expect("tools/list");
        let schemas = tools
            .iter()
            .map(|t| {
                let schema = Value::Object(t.output_schema.as_ref().expect("outputSchema").as_ref().clone());
                (t.name.to_string(), jsonschema::validator_for(&schema).expect("valid outputSchema"))
            })
            .collect();
        Checked { session, schemas, seen: Default::default() }
    }

    /// Calls a tool that must succeed; checks its output and summary.
    async fn ok(&mut self, tool: &str, args: Value) -> Value {
        let r: CallToolResult = self.session.call(tool, args.clone()).await;
        assert!(!is_error(&r), "{tool} {args}: {}", text(&r));
        let out = r.structured_content.clone().unwrap_or_else(|| panic!("{tool}: no structuredContent"));
        let validator = &self.schemas[tool];
        let errors: Vec<String> =
            validator.iter_errors(&out).map(|e| format!("{} at {}", e, e.instance_path())).collect();
        assert!(errors.is_empty(), "{tool} {args}: output violates its outputSchema: {errors:?}\n{out}");
        let summary = text(&r);
        assert!(!summary.is_empty() && !summary.contains('\n'), "{tool}: summary must be one line: {summary:?}");
        for name in GUEST_NAMES {
            assert!(!summary.contains(name), "{tool}: guest name {name:?} spliced into the summary {summary:?}");
        }
        self.seen.insert(tool.to_string());
        out
    }

    /// Calls a tool that must fail with a message containing `hint`.
    async fn err(&mut self, tool: &str, args: Value, hint: &str) {
        let r = self.session.call(tool, args.clone()).await;
        assert!(is_error(&r), "{tool} {args} should fail, got {:?}", r.structured_content);
        assert!(text(&r).contains(hint), "{tool} {args}: {:?} lacks {hint:?}", text(&r));
    }
}

#[tokio::test]
async fn every_inventory_tool_answers_filters_and_refuses_bad_arguments() {
    let sim = support::sim().await;
    let session = Session::start(&sim.base_url(), Launch::default()).await;
    let mut t = Checked::new(session).await;

    // Cluster.
    let v = t.ok("pve_get_cluster_status", json!({})).await;
    assert_eq!(
        (v["cluster"].as_str(), v["quorate"].as_bool(), v["nodes_online"].as_u64()),
        (Some("demo-cluster"), Some(true), Some(2))
    );
    let v = t.ok("pve_get_node", json!({"node": "pve1"})).await;
    assert_eq!(v["memory"]["total_human"], "64 GiB");
    assert_eq!(v["loadavg"].as_array().map(Vec::len), Some(3));
    assert!(v["pve_version"].as_str().unwrap().contains("9.1.2"));
    t.err("pve_get_node", json!({"node": "pve3"}), "node \"pve3\" is offline").await;
    t.err("pve_get_node", json!({}), "node").await;
    let v = t.ok("pve_get_node_metrics", json!({"node": "pve2", "timeframe": "day", "cf": "MAX"})).await;
    assert_eq!(v["points"], 70);
    assert!(v["metrics"]["cpu"]["max"].as_f64().unwrap() >= v["metrics"]["cpu"]["min"].as_f64().unwrap());
    t.ok("pve_get_node_metrics", json!({"node": "pve1"})).await;
    t.err("pve_get_node_metrics", json!({"node": "pve1", "timeframe": "decade"}), "hour, day, week, month, year").await;
    let v = t.ok("pve_list_resources", json!({})).await;
    assert!(v["total"].as_u64().unwrap() > 15);
    let v = t.ok("pve_list_resources", json!({"type": "pool"})).await;
    assert_eq!(v["count"], 2);
    let v = t.ok("pve_list_resources", json!({"type": "node", "limit": 1})).await;
    assert_eq!((v["count"].as_u64(), v["truncated"].as_bool()), (Some(1), Some(true)));
    t.err("pve_list_resources", json!({"type": "vms"}), "must be one of").await;
    let v = t.ok("pve_list_pools", json!({})).await;
    let production = v["pools"].as_array().unwrap().iter().find(|p| p["poolid"] == "production").unwrap().clone();
    assert_eq!(production["member_count"], 3);
    let v = t.ok("pve_get_next_vmid", json!({})).await;
    assert_eq!(v["vmid"], 106);

    // Guests.
    let v = t.ok("pve_get_vm_status", json!({"vmid": 104})).await;
    assert_eq!(
        (v["node"].as_str(), v["status"].as_str(), v["qmpstatus"].as_str()),
        (Some("pve1"), Some("running"), Some("paused"))
    );
    let v = t.ok("pve_get_vm_status", json!({"vmid": 200, "node": "pve1", "type": "lxc"})).await;
    assert_eq!(v["type"], "lxc");
    t.err("pve_get_vm_status", json!({"vmid": 107}), "nearest existing vmids: 105, 104").await;
    t.err("pve_get_vm_status", json!({"vmid": 100, "node": "pve2"}), "is on node \"pve1\"").await;
    t.err("pve_get_vm_status", json!({"vmid": 105}), "offline").await;
    t.err("pve_get_vm_status", json!({"vmid": "abc"}), "invalid").await;
    let v = t.ok("pve_get_vm_config", json!({"vmid": 102})).await;
    assert_eq!(v["config"]["cores"], 8);
    assert_eq!(v["pending"][0]["key"], "memory");
    assert_eq!(
        (v["pending"][0]["current"].as_str(), v["pending"][0]["pending"].as_str()),
        (Some("16384"), Some("24576"))
    );
    assert!(v["digest"].is_string());
    let v = t.ok("pve_get_vm_config", json!({"vmid": 201})).await;
    assert_eq!(v["config"]["hostname"], "reverse-proxy");
    assert_eq!(v["pending"], json!([]));
    let v = t.ok("pve_get_vm_metrics", json!({"vmid": 100, "timeframe": "week"})).await;
    assert_eq!(v["timeframe"], "week");
    assert!(v["metrics"]["netin"]["avg"].as_f64().unwrap() > 0.0);
    let v = t.ok("pve_get_vm_metrics", json!({"vmid": 103})).await;
    assert_eq!(v["metrics"]["cpu"]["max"], 0.0);
    let v = t.ok("pve_list_snapshots", json!({"vmid": 100})).await;
    assert_eq!((v["count"].as_u64(), v["current_parent"].as_str()), (Some(2), Some("after-upgrade")));
    assert_eq!(v["tree"][0]["name"], "pre-upgrade");
    assert_eq!(v["tree"][0]["children"][0]["name"], "after-upgrade");
    assert_eq!(v["tree"][0]["children"][0]["vmstate"], true);
    let v = t.ok("pve_list_snapshots", json!({"vmid": 103})).await;
    assert_eq!(v["count"], 0);
    t.err("pve_list_snapshots", json!({"vmid": 100, "type": "vm"}), "\"qemu\" or \"lxc\"").await;
    t.ok("pve_list_vms", json!({"tag": "prod", "status": "running"})).await;

    // Storage and backups.
    let v = t.ok("pve_list_storage", json!({})).await;
    assert_eq!(v["count"], 10, "5 storages on each of the 2 online nodes");
    let v = t.ok("pve_list_storage", json!({"node": "pve2"})).await;
    let nfs = v["storages"].as_array().unwrap().iter().find(|s| s["storage"] == "backup-nfs").unwrap().clone();
    assert_eq!((nfs["shared"].as_bool(), nfs["total_human"].as_str()), (Some(true), Some("4 TiB")));
    t.err("pve_list_storage", json!({"node": "pve3"}), "offline").await;
    let v = t.ok("pve_list_storage_content", json!({"storage": "local", "content": "iso", "node": "pve1"})).await;
    assert_eq!(v["volumes"][0]["volid"], "local:iso/debian-13.1.0-amd64-netinst.iso");
    // The backup server's snapshots carry their verification and protection.
    let v = t.ok("pve_list_backups", json!({"storage": "backup-pbs"})).await;
    let pbs = v["backups"].as_array().unwrap();
    let of = |vmid: u64| pbs.iter().find(|b| b["vmid"] == vmid).unwrap().clone();
    assert_eq!((of(100)["verified"].as_bool(), of(100)["protected"].as_bool()), (Some(true), Some(true)), "{v}");
    assert_eq!(of(102)["verified"].as_bool(), Some(false), "{v}");
    let v = t.ok("pve_list_storage_content", json!({"storage": "local-lvm", "vmid": 100})).await;
    assert_eq!((v["count"].as_u64(), v["volumes"][0]["size_human"].as_str()), (Some(1), Some("32 GiB")));
    t.err("pve_list_storage_content", json!({"storage": "nope"}), "pve_list_storage").await;
    t.err("pve_list_storage_content", json!({}), "storage").await;
    let v = t.ok("pve_list_backups", json!({})).await;
    assert_eq!(v["count"], 5, "3 vzdump archives and 2 backup server snapshots");
    let v = t.ok("pve_list_backups", json!({"vmid": 100, "storage": "backup-nfs"})).await;
    assert_eq!((v["count"].as_u64(), v["backups"][0]["notes"].as_str()), (Some(1), Some("nightly")));
    let v = t.ok("pve_list_backups", json!({"storage": "local", "node": "pve1"})).await;
    assert_eq!(v["backups"][0]["vmid"], 102);
    t.err("pve_list_backups", json!({"storage": "local-lvm"}), "no online backup storage").await;

    // Tasks.
    let v = t.ok("pve_list_tasks", json!({})).await;
    assert_eq!(v["count"], 3);
    let v = t.ok("pve_list_tasks", json!({"errors": true})).await;
    assert_eq!((v["count"].as_u64(), v["tasks"][0]["status"].as_str()), (Some(1), Some("job errors")));
    let failed = v["tasks"][0]["upid"].as_str().unwrap().to_string();
    let v = t.ok("pve_list_tasks", json!({"node": "pve1", "type": "vzdump", "limit": 5})).await;
    assert_eq!(v["tasks"][0]["id"], "100");
    let v = t.ok("pve_get_task_status", json!({"upid": failed})).await;
    assert_eq!(v["ok"], false);
    assert!(v["log_tail"].as_array().unwrap().iter().any(|l| l.as_str().unwrap().contains("no space left")));
    let v = t.ok("pve_get_task_log", json!({"upid": failed, "start": 1, "limit": 2})).await;
    assert_eq!((v["count"].as_u64(), v["lines"][0]["n"].as_u64()), (Some(2), Some(2)));
    t.err("pve_get_task_status", json!({"upid": "not-a-upid"}), "UPID:pve1").await;
    t.err("pve_get_task_log", json!({"upid": failed, "node": "pve1"}), "omit node").await;

    let v = t.ok("pve_get_guest_network", json!({"vmid": 100})).await;
    assert!(v["primary_ip"].as_str().unwrap().starts_with("10.0.0."), "{v}");
    t.err("pve_get_guest_network", json!({"vmid": 101}), "agent=1").await;

    // Every tool got at least one successful call.
    for tool in INVENTORY_TOOLS {
        if !t.seen.contains(*tool) {
            t.ok(tool, json!({})).await;
        }
    }
    t.session.finish().await;
    support::validate_requests(&support::sim_request_log(&sim));
}

#[tokio::test]
async fn inventory_tool_list_is_small_and_annotated() {
    let sim = support::sim().await;
    let launch = Launch { config: Some("[plugins]\nbuiltin = [\"inventory\"]\n".into()), ..Launch::default() };
    let session = Session::start(&sim.base_url(), launch).await;
    let tools = session.client.list_all_tools().await.unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    assert_eq!(names, INVENTORY_TOOLS);
    let bytes = serde_json::to_vec(&json!({"tools": tools})).unwrap().len();
    eprintln!("inventory share of tools/list: {bytes} bytes for {} tools", tools.len());
    assert!(bytes < 20 * 1024, "inventory tools/list is {bytes} bytes, over the 20 KB budget");
    for tool in &tools {
        let (read_only, destructive, idempotent, open_world) = support::hints(tool);
        assert!(read_only && !destructive && idempotent && open_world, "{}", tool.name);
        // Only the non-default hint is sent: the rest is MCP's default.
        assert_eq!(serde_json::to_value(&tool.annotations).unwrap(), json!({"readOnlyHint": true}), "{}", tool.name);
        assert!(tool.title.is_some(), "{}", tool.name);
    }
    session.finish().await;
}

#[tokio::test]
async fn backups_are_listed_with_a_node_unreachable_and_the_node_is_named() {
    let sim = support::sim().await;
    // pve1 is up for the cluster but its API does not answer: its local
    // storage is missing, the shared NFS store is read through pve2.
    sim.world().lock().nodes.iter_mut().find(|n| n.name == "pve1").unwrap().unreachable = true;
    let session = Session::start(&sim.base_url(), Launch::default()).await;
    let v = session.ok("pve_list_backups", json!({})).await;
    assert_eq!(v["unreachable_nodes"], json!(["pve1"]), "{v}");
    let backups = v["backups"].as_array().unwrap();
    assert!(
        !backups.is_empty()
            && backups
                .iter()
                .all(|b| ["backup-nfs", "backup-pbs"].contains(&b["storage"].as_str().unwrap()) && b["node"] == "pve2"),
        "the shared stores, read through pve2: {v}"
    );
    let newest = &backups[0];
    assert!(newest["ctime_utc"].as_str().unwrap().ends_with('Z') && newest["age"].as_str().unwrap().ends_with(" ago"));
    assert!(v["now_utc"].as_str().is_some());
    let r = session.call("pve_list_backups", json!({})).await;
    assert!(text(&r).contains("not reached: pve1"), "{}", text(&r));
    session.finish().await;
}
