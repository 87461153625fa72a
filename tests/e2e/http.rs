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
        // The whole stderr, start-up included.
        let stderr = tokio::spawn(async move {
            let mut rest = seen;
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

#[tokio::test]
async fn serve_says_before_ready_whether_proxmox_takes_the_credentials() {
    let pve = support::sim().await;
    let wrong = Launch {
        env: vec![("PVE_API_TOKEN_SECRET".into(), support::READONLY_TOKEN_SECRET.into())],
        ..Launch::default()
    };
    let (_, stderr) = HttpProxmcp::start(&pve.base_url(), "streamable-http", wrong).await.terminate().await;
    let refused = stderr.find("refused the credentials").unwrap_or_else(|| panic!("{stderr}"));
    assert!(refused < stderr.find("proxmcp ready").unwrap_or(usize::MAX), "{stderr}");
    let (_, stderr) = HttpProxmcp::start(&pve.base_url(), "streamable-http", Launch::default()).await.terminate().await;
    assert!(stderr.contains("the credentials are accepted") && !stderr.contains("refused"), "{stderr}");
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

/// Two bearer tokens: alice (admin) and bob (viewer), and a file audit log.
fn tokens_launch() -> Launch {
    use proxmcp::gate::access::hash_token;
    let config = format!(
        "[audit]\nfile = \"audit.jsonl\"\n[[rbac.tokens]]\nprincipal = \"alice\"\nrole = \"admin\"\nsha256 = \"{}\"\n[[rbac.tokens]]\nprincipal = \"bob\"\nrole = \"viewer\"\nsha256 = \"{}\"\n",
        hash_token("alice-token-1"),
        hash_token("bob-token-2")
    );
    Launch { config: Some(config), ..Launch::default() }
}

#[tokio::test]
async fn bearer_tokens_pick_the_principal_role_and_tool_list() {
    let sim = support::sim().await;
    let server = HttpProxmcp::start(&sim.base_url(), "streamable-http", tokens_launch()).await;
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
    assert_eq!(
        who,
        [("bob", "viewer", "pve_stop_vm"), ("alice", "admin", "pve_stop_vm"), ("bob", "viewer", "pve_get_version")],
        "the refused call is audited too: {audit}"
    );
    assert_eq!(lines[0]["outcome"], "denied");
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
    // Wrong Proxmox credentials: up, but not ready. The unauthenticated
    // answer keeps the details (URL, credential state) to the server log.
    let launch = Launch { env: vec![("PVE_API_TOKEN_SECRET".into(), "not-the-secret".into())], ..Launch::default() };
    let server = HttpProxmcp::start(&sim.base_url(), "streamable-http", launch).await;
    assert_eq!(http.get(format!("{}/healthz", server.base)).send().await.unwrap().status(), 200);
    let resp = http.get(format!("{}/readyz", server.base)).send().await.unwrap();
    assert_eq!(resp.status(), 503);
    let body = resp.text().await.unwrap();
    assert!(!body.contains("401") && !body.contains(&sim.base_url()) && !body.contains("token"), "{body}");
    assert!(!body.contains("not-the-secret"));
    let (_, stderr) = server.terminate().await;
    assert!(stderr.contains("not ready") && stderr.contains("401"), "the log says why: {stderr}");
}

#[tokio::test]
async fn readyz_is_host_checked_and_a_probe_flood_costs_proxmox_one_request() {
    let sim = support::sim().await;
    let server = HttpProxmcp::start(&sim.base_url(), "streamable-http", Launch::default()).await;
    let http = http_client();
    let url = format!("{}/readyz", server.base);
    let before = sim.requests().len();
    for _ in 0..30 {
        assert_eq!(http.get(&url).send().await.unwrap().status(), 200);
    }
    let sent = sim.requests().len() - before;
    assert_eq!(sent, 1, "30 probes within the cache period sent {sent} requests to Proxmox");
    let resp = http.get(&url).header("host", "attacker.example").send().await.unwrap();
    assert_eq!(resp.status(), 403, "the probe is Host-checked like MCP");
    drop(server);
}

/// A raw `initialize` POST over streamable HTTP; the response and its session id.
async fn open_session(http: &reqwest::Client, url: &str, token: &str) -> (reqwest::StatusCode, Option<String>) {
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}}});
    let resp = http
        .post(url)
        .bearer_auth(token)
        .header("accept", "application/json, text/event-stream")
        .json(&init)
        .send()
        .await
        .unwrap();
    let id = resp.headers().get("mcp-session-id").and_then(|v| v.to_str().ok()).map(str::to_string);
    (resp.status(), id)
}

#[tokio::test]
async fn a_session_refuses_a_second_principal() {
    let sim = support::sim().await;
    let server = HttpProxmcp::start(&sim.base_url(), "streamable-http", tokens_launch()).await;
    let http = http_client();
    let (status, id) = open_session(&http, &server.url, "alice-token-1").await;
    assert_eq!(status, 200);
    let id = id.expect("a session id");
    let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}});
    let stolen = |method: reqwest::Method| {
        http.request(method, &server.url)
            .bearer_auth("bob-token-2")
            .header("mcp-session-id", &id)
            .header("accept", "application/json, text/event-stream")
    };
    // Listing, calling, the GET stream, answering the server, DELETE: all refused.
    for req in [
        stolen(reqwest::Method::POST).json(&list),
        stolen(reqwest::Method::POST)
            .json(&json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "pve_get_version", "arguments": {}}})),
        stolen(reqwest::Method::POST).json(&json!({"jsonrpc": "2.0", "id": 0, "result": {"action": "accept", "content": {}}})),
        stolen(reqwest::Method::GET),
        stolen(reqwest::Method::DELETE),
    ] {
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), 403, "another principal used alice's session");
        assert!(resp.text().await.unwrap().contains("another principal"));
    }
    // Alice's session is intact.
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let resp = http
        .post(&server.url)
        .bearer_auth("alice-token-1")
        .header("mcp-session-id", &id)
        .header("accept", "application/json, text/event-stream")
        .json(&initialized)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());
    // Her DELETE ends it with a plain success (not 202, which clients such
    // as the Python SDK report as a failed termination), and it is gone.
    let end = |method: reqwest::Method| {
        http.request(method, &server.url)
            .bearer_auth("alice-token-1")
            .header("mcp-session-id", &id)
            .header("accept", "application/json, text/event-stream")
    };
    let resp = end(reqwest::Method::DELETE).send().await.unwrap();
    assert!(matches!(resp.status().as_u16(), 200 | 204), "{}", resp.status());
    let resp = end(reqwest::Method::POST).json(&list).send().await.unwrap();
    assert_eq!(resp.status(), 404, "the deleted session still answers");
    drop(server);
}

#[tokio::test]
async fn sessions_are_capped_per_principal() {
    let sim = support::sim().await;
    let mut launch = tokens_launch();
    launch.env.push(("MCP_MAX_SESSIONS_PER_PRINCIPAL".into(), "2".into()));
    let server = HttpProxmcp::start(&sim.base_url(), "streamable-http", launch).await;
    let http = http_client();
    for _ in 0..2 {
        assert_eq!(open_session(&http, &server.url, "alice-token-1").await.0, 200);
    }
    let (status, _) = open_session(&http, &server.url, "alice-token-1").await;
    assert_eq!(status, 429, "a third session for alice");
    assert_eq!(open_session(&http, &server.url, "bob-token-2").await.0, 200, "bob has his own allowance");
    drop(server);
}

#[tokio::test]
async fn a_client_trickling_its_headers_is_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let sim = support::sim().await;
    let launch = Launch { env: vec![("MCP_HEADER_TIMEOUT".into(), "1".into())], ..Launch::default() };
    let server = HttpProxmcp::start(&sim.base_url(), "streamable-http", launch).await;
    let addr = server.base.trim_start_matches("http://").to_string();
    let mut conn = tokio::net::TcpStream::connect(&addr).await.unwrap();
    conn.write_all(b"POST /mcp HTTP/1.1\r\nHost: localhost\r\nX-Slow: ").await.unwrap();
    let started = Instant::now();
    let mut buf = Vec::new();
    // The server closes the connection (possibly after a 408) instead of
    // waiting for the rest.
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let _ = conn.write_all(b"a").await;
            tokio::time::sleep(Duration::from_millis(200)).await;
            let mut chunk = [0u8; 512];
            match tokio::time::timeout(Duration::from_millis(10), conn.read(&mut chunk)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return,
                Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
                Err(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the trickling connection was still open after 10 s");
    assert!(started.elapsed() < Duration::from_secs(5), "cut off after {:?}", started.elapsed());
    drop(server);
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
