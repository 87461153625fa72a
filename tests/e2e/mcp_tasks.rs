//! Long calls as MCP tasks (SEP-2663) with rmcp's client over streamable
//! HTTP: a confirmed backup answers with a task at once; `tasks/get` shows
//! the Proxmox task's own status and then the call's result; `tasks/cancel`
//! stops the Proxmox task through the gates; another principal sees
//! neither. A client without the extension gets the plain result.

use std::time::Duration;

use proxmcp::gate::access::hash_token;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CancelTaskParams, ClientCapabilities, ClientConfig, GetTaskParams,
    GetTaskResult, Implementation, TaskPayload, TaskStatus,
};
use rmcp::service::RunningService;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{ClientHandler, RoleClient, ServiceExt};
use serde_json::{Value, json};

use crate::http::HttpProxmcp;
use crate::support::{self, Launch};

/// A client that declares the tasks extension.
#[derive(Clone)]
struct TaskClient;

impl ClientHandler for TaskClient {
    fn get_info(&self) -> ClientConfig {
        ClientConfig::new(ClientCapabilities::builder().enable_tasks().build(), Implementation::new("tasks", "1.0"))
    }
}

async fn task_client(server: &HttpProxmcp, token: &str) -> RunningService<RoleClient, TaskClient> {
    proxmcp::pve::install_crypto_provider();
    let config = StreamableHttpClientTransportConfig::with_uri(server.url.clone()).auth_header(token.to_string());
    TaskClient.serve(StreamableHttpClientTransport::from_config(config)).await.expect("initialize")
}

fn backup(vmid: u32) -> CallToolRequestParams {
    CallToolRequestParams::new("pve_backup_vm")
        .with_arguments(json!({"vmid": vmid, "confirm": true}).as_object().unwrap().clone())
}

/// Polls until `done` holds for the task (at most 60 s).
async fn poll(
    client: &RunningService<RoleClient, TaskClient>,
    id: &str,
    done: impl Fn(&GetTaskResult) -> bool,
) -> GetTaskResult {
    for _ in 0..240 {
        let got = client.get_task(GetTaskParams::new(id)).await.expect("tasks/get");
        if done(&got) {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("task {id} never reached the expected state");
}

fn message(t: &GetTaskResult) -> String {
    t.task.task.status_message.clone().unwrap_or_default()
}

#[tokio::test]
async fn a_confirmed_backup_runs_as_a_task_that_can_be_followed_and_cancelled() {
    // Backups take a few real seconds.
    let sim = support::sim_at(0.3).await;
    let config = format!(
        "[[rbac.tokens]]\nprincipal = \"alice\"\nrole = \"admin\"\nsha256 = \"{}\"\n[[rbac.tokens]]\nprincipal = \"bob\"\nrole = \"admin\"\nsha256 = \"{}\"\n",
        hash_token("alice-token-1"),
        hash_token("bob-token-2")
    );
    let server =
        HttpProxmcp::start(&sim.base_url(), "streamable-http", Launch { config: Some(config), ..Launch::default() })
            .await;
    let alice = task_client(&server, "alice-token-1").await;
    let bob = task_client(&server, "bob-token-2").await;
    assert!(alice.peer_info().expect("server info").capabilities.supports_tasks());

    // Followed to the end: Proxmox's status while it runs, then the result.
    let CallToolResponse::Task(created) = alice.call_tool_once(backup(100)).await.expect("tools/call") else {
        panic!("a confirmed backup from a tasks client should answer with a task");
    };
    let id = created.task.task_id.clone();
    assert_eq!(created.task.status, TaskStatus::Working);
    let running =
        poll(&alice, &id, |t| message(t).contains("Proxmox task UPID:pve1:") && message(t).contains(": running")).await;
    assert_eq!(running.task.status(), TaskStatus::Working, "{running:?}");
    let other = bob.get_task(GetTaskParams::new(&id)).await.unwrap_err().to_string();
    assert!(other.contains("no task"), "another principal must not see it: {other}");
    let done = poll(&alice, &id, |t| t.task.status() == TaskStatus::Completed).await;
    let TaskPayload::Completed { result } = &done.task.payload else { panic!("{done:?}") };
    assert_eq!(result["structuredContent"]["status"], "ok", "{result:?}");
    assert!(result["structuredContent"]["upid"].as_str().is_some_and(|u| u.contains(":vzdump:100:")), "{result:?}");

    // Cancelled while it runs: the Proxmox task is stopped, and only by its
    // own principal.
    let CallToolResponse::Task(created) = alice.call_tool_once(backup(101)).await.expect("tools/call") else {
        panic!("expected a task");
    };
    let id = created.task.task_id.clone();
    let running = poll(&alice, &id, |t| message(t).contains(": running")).await;
    let upid = message(&running).split_whitespace().find(|w| w.starts_with("UPID:")).unwrap().to_string();
    assert!(bob.cancel_task(CancelTaskParams::new(&id)).await.is_err(), "bob cancelled alice's task");
    alice.cancel_task(CancelTaskParams::new(&id)).await.expect("tasks/cancel");
    let cancelled = alice.get_task(GetTaskParams::new(&id)).await.expect("tasks/get");
    assert_eq!(cancelled.task.status(), TaskStatus::Cancelled);
    let again = alice.cancel_task(CancelTaskParams::new(&id)).await.unwrap_err().to_string();
    assert!(again.contains("already ended (cancelled)"), "{again}");
    let stops: Vec<Value> = sim
        .requests()
        .into_iter()
        .filter(|r| r["method"] == "DELETE" && r["path"].as_str().is_some_and(|p| p.contains("/tasks/")))
        .collect();
    assert_eq!(stops.len(), 1, "{stops:?}");
    let stopped = sim.world().lock().tasks.iter().find(|t| t.upid == upid).map(|t| t.exitstatus.clone());
    assert_eq!(stopped, Some(Some("interrupted by signal".to_string())));

    // Without the extension: the plain result, as before.
    let plain = server.client(Some("alice-token-1")).await;
    let result = plain.call_tool(backup(102)).await.expect("tools/call");
    assert_eq!(result.structured_content.as_ref().map(|s| s["status"].clone()), Some(json!("ok")), "{result:?}");
    let _ = plain.cancel().await;
    let _ = alice.cancel().await;
    let _ = bob.cancel().await;
}
