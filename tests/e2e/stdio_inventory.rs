//! The real binary over stdio, driven by rmcp's client: the inventory
//! tools are listed and each is called against the simulator.

use serde_json::json;

use crate::support::{self, Launch, Session, is_error, text};

#[tokio::test]
async fn inventory_tools_are_listed_with_schemas_and_annotations() {
    let pve = support::sim().await;
    let session = Session::start(&pve.base_url(), Launch::default()).await;
    let tools = session.client.list_all_tools().await.expect("tools/list");
    let inventory = crate::inventory_tools::INVENTORY_TOOLS;
    assert!(inventory.iter().all(|name| tools.iter().any(|t| t.name == *name)));
    for tool in tools.iter().filter(|t| inventory.contains(&t.name.as_ref())) {
        let ann = tool.annotations.as_ref().expect("annotations");
        assert_eq!(ann.read_only_hint, Some(true), "{}", tool.name);
        assert!(tool.title.is_some(), "{}", tool.name);
        assert!(tool.output_schema.is_some(), "{}", tool.name);
        assert_eq!(tool.input_schema.get("type"), Some(&json!("object")));
        // Read-only tools get no confirm argument.
        assert!(tool.input_schema["properties"].get("confirm").is_none());
    }
    session.finish().await;
}

#[tokio::test]
async fn each_inventory_tool_answers_from_proxmox() {
    let pve = support::sim().await;
    let session = Session::start(&pve.base_url(), Launch::default()).await;

    let version = session.call("pve_get_version", json!({})).await;
    assert!(!is_error(&version), "{}", text(&version));
    assert_eq!(version.structured_content.as_ref().unwrap()["version"], "9.1.2");
    assert_eq!(text(&version), "Proxmox VE 9.1.2");

    let nodes = session.call("pve_list_nodes", json!({})).await;
    assert!(!is_error(&nodes), "{}", text(&nodes));
    assert_eq!(text(&nodes), "3 nodes, 1 not online");
    let nodes = nodes.structured_content.unwrap();
    assert_eq!(nodes["count"], 3);
    assert_eq!(nodes["nodes"][0]["node"], "pve1");
    assert_eq!(nodes["nodes"][0]["mem_human"], "38 GiB");
    assert_eq!(nodes["nodes"][0]["maxmem_human"], "64 GiB");
    assert_eq!(nodes["nodes"][0]["cpu_percent"], 8.0);
    assert_eq!(nodes["nodes"][2]["online"], false);

    let vms = session.call("pve_list_vms", json!({})).await;
    assert!(!is_error(&vms), "{}", text(&vms));
    // A client that shows the model only `content` still gives it the data:
    // the summary line, then the structured result as compact JSON.
    assert_eq!(vms.content.len(), 2);
    let json_block = vms.content[1].as_text().map(|t| t.text.clone()).unwrap_or_default();
    assert!(!json_block.contains('\n'), "compact JSON");
    assert_eq!(serde_json::from_str::<serde_json::Value>(&json_block).ok(), vms.structured_content);
    let all = vms.structured_content.unwrap();
    assert_eq!(all["total"], 10);
    assert_eq!(all["vms"][0]["vmid"], 100);
    assert_eq!(all["vms"][0]["name"], "web-01");
    assert_eq!(all["vms"][0]["tags"], json!(["prod", "web"]));
    assert_eq!(all["vms"][9]["vmid"], 9000);
    assert_eq!(all["vms"][9]["template"], true);
    let offline = all["vms"].as_array().unwrap().iter().find(|v| v["vmid"] == 105).unwrap();
    assert_eq!(offline["status"], "unknown");

    let filtered = session.call("pve_list_vms", json!({"type": "lxc", "status": "running"})).await;
    let filtered = filtered.structured_content.unwrap();
    assert_eq!(filtered["count"], 2);
    assert_eq!(filtered["vms"][0]["name"], "dns");

    let by_pool = session.call("pve_list_vms", json!({"pool": "infra", "tag": "prod"})).await;
    assert_eq!(by_pool.structured_content.unwrap()["vms"][0]["vmid"], 201);

    let by_name = session.call("pve_list_vms", json!({"name": "WEB", "node": "pve2"})).await;
    let by_name = by_name.structured_content.unwrap();
    assert_eq!((by_name["count"].as_u64(), by_name["vms"][0]["vmid"].as_u64()), (Some(1), Some(101)));

    let limited = session.call("pve_list_vms", json!({"limit": 2})).await;
    let limited = limited.structured_content.unwrap();
    assert_eq!((limited["count"].as_u64(), limited["truncated"].as_bool()), (Some(2), Some(true)));

    session.finish().await;
    let log = support::sim_request_log(&pve);
    assert!(log.contains("/api2/json/cluster/resources"), "{log}");
    support::validate_requests(&log);
}

#[tokio::test]
async fn bad_arguments_get_errors_that_say_what_to_fix() {
    let pve = support::sim().await;
    let session = Session::start(&pve.base_url(), Launch::default()).await;

    let r = session.call("pve_list_vms", json!({"type": "vm"})).await;
    assert!(is_error(&r));
    assert!(text(&r).contains("unknown variant `vm`, expected `qemu` or `lxc`"), "{}", text(&r));

    let r = session.call("pve_list_vms", json!({"colour": "red"})).await;
    assert!(is_error(&r));
    assert!(text(&r).contains("colour"), "{}", text(&r));

    let r = session.call("pve_list_nodes", json!({"limit": 0})).await;
    assert!(is_error(&r));
    assert!(text(&r).contains("1 to 1000"), "{}", text(&r));

    let err = session
        .client
        .call_tool(rmcp::model::CallToolRequestParams::new("pve_list_vm"))
        .await
        .expect_err("unknown tool is a protocol error");
    assert!(err.to_string().contains("pve_list_vms"), "{err}");
    session.finish().await;
}

#[tokio::test]
async fn proxmox_errors_reach_the_client_with_a_next_step() {
    let pve = support::sim().await;
    let launch = Launch { env: vec![("PVE_API_TOKEN_SECRET".into(), "wrong-secret".into())], ..Launch::default() };
    let session = Session::start(&pve.base_url(), launch).await;
    let r = session.call("pve_get_version", json!({})).await;
    assert!(is_error(&r));
    let msg = text(&r);
    assert!(msg.contains("401") && msg.contains("PVE_API_TOKEN_SECRET"), "{msg}");
    assert!(!msg.contains("wrong-secret"), "{msg}");
    let stderr = session.finish().await;
    assert!(!stderr.contains("wrong-secret"), "secret leaked to stderr:\n{stderr}");
}

#[tokio::test]
async fn discover_advertises_exactly_the_protocol_revisions_the_tests_cover() {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let pve = support::sim().await;
    let work = tempfile::tempdir().unwrap();
    let mut cmd = support::command(&pve.base_url(), &Launch::default(), work.path());
    cmd.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true);
    let mut child = cmd.spawn().unwrap();
    let meta = json!({"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                      "io.modelcontextprotocol/clientCapabilities": {},
                      "io.modelcontextprotocol/clientInfo": {"name": "raw", "version": "1"}});
    let request = json!({"jsonrpc": "2.0", "id": 1, "method": "server/discover", "params": {"_meta": meta}});
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(format!("{request}\n").as_bytes()).await.unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(std::time::Duration::from_secs(30), lines.next_line()).await.unwrap().unwrap();
    let answer: serde_json::Value = serde_json::from_str(&line.unwrap_or_default()).unwrap();
    let versions = &answer["result"]["supportedVersions"];
    assert_eq!(versions.as_array().and_then(|v| v.last()), Some(&json!("2026-07-28")), "{answer}");
    assert_eq!(versions[0], "2024-11-05", "{answer}");
    assert!(answer["result"]["capabilities"]["prompts"].is_object(), "{answer}");
}
