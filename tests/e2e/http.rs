//! The HTTP transports through the real binary: streamable HTTP with
//! rmcp's client, bearer tokens mapping to principals and roles, Host and
//! Origin checks, the health probes, and graceful shutdown on SIGTERM.

use std::process::Stdio;
use std::time::{Duration, Instant};

use rmcp::model::CallToolRequestParams;
use rmcp::service::RunningService;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{RoleClient, ServiceExt};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::support::{self, Launch};

/// A `proxmcp serve` child on an HTTP transport, on 127.0.0.1 and a free
/// port; killed when dropped.
pub struct HttpProxmcp {
    pub child: tokio::process::Child,
    /// `http://127.0.0.1:PORT/mcp` (or `/sse`).
    pub url: String,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    stderr: tokio::task::JoinHandle<String>,
    _work: tempfile::TempDir,
}

impl HttpProxmcp {
    /// Starts the server with `transport` and waits for its "serving" line.
    pub async fn start(pve_uri: &str, transport: &str, mut launch: Launch) -> HttpProxmcp {
        let work = tempfile::tempdir().unwrap();
        launch.env.push(("MCP_TRANSPORT".into(), transport.into()));
        launch.env.push(("MCP_PORT".into(), "0".into()));
        let mut cmd = support::command(pve_uri, &launch, work.path());
        cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped()).kill_on_drop(true);
        let mut child = cmd.spawn().unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let mut seen = String::new();
        let url = tokio::time::timeout(Duration::from_secs(60), async {
            while let Ok(Some(line)) = lines.next_line().await {
                seen.push_str(&line);
                seen.push('\n');
                if let Some(url) = line.strip_prefix("proxmcp: serving MCP at ") {
                    return url.trim().to_string();
                }
            }
            panic!("proxmcp exited before serving:\n{seen}");
        })
        .await
        .expect("proxmcp did not start within 60 s");
        let stderr = tokio::spawn(async move {
            let mut rest = String::new();
            while let Ok(Some(line)) = lines.next_line().await {
                rest.push_str(&line);
                rest.push('\n');
            }
            rest
        });
        let base = url.split('/').take(3).collect::<Vec<_>>().join("/");
        HttpProxmcp { child, url, base, stderr, _work: work }
    }

    /// An rmcp client over streamable HTTP, with `token` as bearer if given.
    pub async fn client(&self, token: Option<&str>) -> RunningService<RoleClient, ()> {
        proxmcp::pve::install_crypto_provider();
        let mut config = StreamableHttpClientTransportConfig::with_uri(self.url.clone());
        if let Some(t) = token {
            config = config.auth_header(t.to_string());
        }
        ().serve(StreamableHttpClientTransport::from_config(config)).await.expect("MCP initialize over HTTP")
    }

    /// Stops the server with SIGTERM and returns its exit status and stderr.
    pub async fn terminate(self) -> (std::process::ExitStatus, String) {
        sigterm(&self.child);
        self.wait_stopped().await
    }

    /// Waits for a server that was sent SIGTERM to exit; returns its exit
    /// status and stderr (checked for secrets).
    async fn wait_stopped(mut self) -> (std::process::ExitStatus, String) {
        let status = tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .expect("proxmcp did not stop within 30 s of SIGTERM")
            .unwrap();
        let stderr = tokio::time::timeout(Duration::from_secs(5), self.stderr).await.ok().and_then(Result::ok);
        let stderr = stderr.unwrap_or_default();
        support::assert_no_secrets("the server's stderr", &stderr);
        (status, stderr)
    }
}

fn http_client() -> reqwest::Client {
    proxmcp::pve::install_crypto_provider();
    reqwest::Client::new()
}

fn sigterm(child: &tokio::process::Child) {
    let pid = child.id().expect("child still running");
    let ok = std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status().unwrap();
    assert!(ok.success());
}

async fn names(client: &RunningService<RoleClient, ()>) -> Vec<String> {
    client.list_all_tools().await.unwrap().into_iter().map(|t| t.name.to_string()).collect()
}

fn call(name: &str, args: Value) -> CallToolRequestParams {
    CallToolRequestParams::new(name.to_string()).with_arguments(args.as_object().cloned().unwrap_or_default())
}

#[tokio::test]
async fn streamable_http_serves_an_rmcp_client() {
    let sim = support::sim().await;
    let server = HttpProxmcp::start(&sim.base_url(), "streamable-http", Launch::default()).await;
    assert!(server.url.starts_with("http://127.0.0.1:") && server.url.ends_with("/mcp"), "{}", server.url);
    let client = server.client(None).await;
    assert!(names(&client).await.iter().any(|t| t == "pve_list_vms"));
    let r = client.call_tool(call("pve_list_vms", json!({"type": "lxc"}))).await.unwrap();
    assert_eq!(r.is_error, Some(false));
    let vms = r.structured_content.unwrap();
    assert!(vms["vms"].as_array().unwrap().iter().all(|v| v["type"] == "lxc"), "{vms}");
    let _ = client.cancel().await;
    let (status, _) = server.terminate().await;
    assert!(status.success(), "{status}");
}

#[tokio::test]
async fn bearer_tokens_pick_the_principal_role_and_tool_list() {
    use proxmcp::gate::access::hash_token;
    let sim = support::sim().await;
    let config = format!(
        "[audit]\nfile = \"audit.jsonl\"\n[[rbac.tokens]]\nprincipal = \"alice\"\nrole = \"admin\"\nsha256 = \"{}\"\n[[rbac.tokens]]\nprincipal = \"bob\"\nrole = \"viewer\"\nsha256 = \"{}\"\n",
        hash_token("alice-token-1"),
        hash_token("bob-token-2")
    );
    let server =
        HttpProxmcp::start(&sim.base_url(), "streamable-http", Launch { config: Some(config), ..Launch::default() })
            .await;
    // No token, or a wrong one: 401 before any MCP happens.
    let http = http_client();
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "curl", "version": "1"}}});
    for auth in [None, Some("Bearer wrong")] {
        let mut req = http.post(&server.url).header("accept", "application/json, text/event-stream").json(&init);
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), 401);
        assert_eq!(resp.headers()["www-authenticate"], "Bearer");
        assert!(resp.text().await.unwrap().contains("proxmcp token new"));
    }
    let bob = server.client(Some("bob-token-2")).await;
    let bob_tools = names(&bob).await;
    assert!(bob_tools.iter().any(|t| t == "pve_list_vms"));
    assert!(!bob_tools.iter().any(|t| t == "pve_stop_vm"), "a viewer is offered a write tool: {bob_tools:?}");
    let err = bob.call_tool(call("pve_stop_vm", json!({"vmid": 100, "confirm": true}))).await.unwrap_err();
    assert!(err.to_string().contains("not available to \"bob\" (role \"viewer\")"), "{err}");
    let alice = server.client(Some("alice-token-1")).await;
    assert!(names(&alice).await.iter().any(|t| t == "pve_stop_vm"));
    let r = alice.call_tool(call("pve_stop_vm", json!({"vmid": 100, "confirm": true}))).await.unwrap();
    assert_eq!(r.is_error, Some(false), "{r:?}");
    // A tool argument cannot claim another identity.
    let r = bob.call_tool(call("pve_get_version", json!({"principal": "alice"}))).await.unwrap();
    assert_eq!(r.is_error, Some(true), "unknown arguments are refused: {r:?}");
    let _ = (bob.cancel().await, alice.cancel().await);
    // Each line is written before its call answers.
    let audit = std::fs::read_to_string(server._work.path().join("audit.jsonl")).unwrap();
    let (status, _) = server.terminate().await;
    assert!(status.success());
    let lines: Vec<Value> = audit.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let who: Vec<(&str, &str, &str)> = lines
        .iter()
        .map(|l| (l["principal"].as_str().unwrap(), l["role"].as_str().unwrap(), l["tool"].as_str().unwrap()))
        .collect();
    assert_eq!(who, [("alice", "admin", "pve_stop_vm"), ("bob", "viewer", "pve_get_version")], "{audit}");
    assert!(!audit.contains("alice-token-1") && !audit.contains("bob-token-2"));
}

#[tokio::test]
async fn foreign_host_and_origin_headers_are_refused() {
    let sim = support::sim().await;
    let server = HttpProxmcp::start(&sim.base_url(), "streamable-http", Launch::default()).await;
    let http = http_client();
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "page", "version": "1"}}});
    let post = |host: Option<&str>, origin: Option<&str>| {
        let mut req = http.post(&server.url).header("accept", "application/json, text/event-stream").json(&init);
        if let Some(h) = host {
            req = req.header("host", h);
        }
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        req.send()
    };
    let resp = post(Some("attacker.example:8000"), None).await.unwrap();
    assert_eq!(resp.status(), 403);
    assert!(resp.text().await.unwrap().contains("MCP_ALLOWED_HOSTS"));
    let resp = post(None, Some("https://attacker.example")).await.unwrap();
    assert_eq!(resp.status(), 403);
    assert!(resp.text().await.unwrap().contains("MCP_ALLOWED_ORIGINS"));
    let resp = post(Some("localhost:1234"), Some("http://localhost:6274")).await.unwrap();
    assert_eq!(resp.status(), 200, "a loopback page such as the MCP Inspector is allowed");
    drop(server);
}

#[tokio::test]
async fn health_and_readiness_probes_report_the_proxmox_connection() {
    let sim = support::sim().await;
    let server = HttpProxmcp::start(&sim.base_url(), "sse", Launch::default()).await;
    let http = http_client();
    let resp = http.get(format!("{}/healthz", server.base)).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let resp = http.get(format!("{}/readyz", server.base)).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    drop(server);
    // Wrong Proxmox credentials: up, but not ready, and the answer says why.
    let launch = Launch { env: vec![("PVE_API_TOKEN_SECRET".into(), "not-the-secret".into())], ..Launch::default() };
    let server = HttpProxmcp::start(&sim.base_url(), "streamable-http", launch).await;
    assert_eq!(http.get(format!("{}/healthz", server.base)).send().await.unwrap().status(), 200);
    let resp = http.get(format!("{}/readyz", server.base)).send().await.unwrap();
    assert_eq!(resp.status(), 503);
    let body = resp.text().await.unwrap();
    assert!(body.contains("not usable") && body.contains("401") || body.contains("token"), "{body}");
    assert!(!body.contains("not-the-secret"));
}

#[tokio::test]
async fn a_public_address_without_tokens_is_refused() {
    let sim = support::sim().await;
    let launch = Launch {
        env: vec![("MCP_TRANSPORT".into(), "streamable-http".into()), ("MCP_HOST".into(), "0.0.0.0".into())],
        ..Launch::default()
    };
    let err = support::refused_start(&sim.base_url(), &launch).await;
    assert!(err.contains("refusing to serve MCP on 0.0.0.0:8000 without authentication"), "{err}");
    assert!(err.contains("proxmcp token new") && err.contains("MCP_ALLOW_UNAUTHENTICATED"), "{err}");
}

#[tokio::test]
async fn sigterm_lets_the_call_in_flight_finish_and_refuses_new_ones() {
    // Snapshots take 2 simulated seconds; at time scale 1 that is 2 s.
    let sim = crate::lifecycle::slow_sim(1.0, false).await;
    let server = HttpProxmcp::start(&sim.base_url(), "streamable-http", Launch::default()).await;
    let client = server.client(None).await;
    let started = Instant::now();
    let peer = client.peer().clone();
    let inflight = tokio::spawn(async move {
        peer.call_tool(call("pve_create_snapshot", json!({"vmid": 100, "snapname": "drain", "confirm": true}))).await
    });
    // Wait until the task is running on the simulator, then ask to stop.
    while !sim.requests().iter().any(|r| r["method"] == "POST") {
        assert!(started.elapsed() < Duration::from_secs(20), "the snapshot never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    sigterm(&server.child);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let refused = client.call_tool(call("pve_get_version", json!({}))).await;
    assert!(
        refused.as_ref().is_err_and(|e| e.to_string().contains("shutting down")),
        "a new call started during shutdown: {refused:?}"
    );
    let r = match tokio::time::timeout(Duration::from_secs(15), inflight).await {
        Ok(r) => r.unwrap().expect("the call in flight was cut off"),
        Err(_) => {
            let (status, stderr) = server.wait_stopped().await;
            panic!("in-flight call did not finish; server {status}:\n{stderr}\nsim: {:?}", sim.requests());
        }
    };
    assert_eq!(r.is_error, Some(false), "{r:?}");
    assert!(started.elapsed() >= Duration::from_millis(1500), "the snapshot cannot finish this fast");
    assert!(sim.world().lock().guests[&100].snapshots.iter().any(|s| s.name == "drain"));
    let (status, stderr) = server.wait_stopped().await;
    assert!(status.success(), "{status}\n{stderr}");
}
