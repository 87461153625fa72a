//! Shared harness: a fake Proxmox API on loopback (wiremock), the real
//! `proxmcp` binary started over stdio, and an rmcp client talking to it.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;

use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::RunningService;
use rmcp::transport::TokioChildProcess;
use rmcp::{RoleClient, ServiceExt};
use serde_json::{Value, json};
use tokio::process::Command;
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// The token the fake PVE accepts; also a known secret the tests search
/// output for.
pub const TOKEN_ID: &str = "root@pam!e2e";
pub const TOKEN_SECRET: &str = "5ecret-e2e-0000-1111-deadbeef";

/// The binary under test.
pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_proxmcp")
}

/// The test-only hostile plugin, built by host/build.rs.
pub fn hostile_wasm() -> &'static str {
    env!("PROXMCP_TEST_WASM_HOSTILE")
}

/// The test-only plugin importing wasi:sockets and wasi:filesystem.
pub fn forbidden_wasm() -> &'static str {
    env!("PROXMCP_TEST_WASM_FORBIDDEN_NET")
}

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("host/ has a parent").to_path_buf()
}

/// A compile cache shared by every test process of this run, so each
/// plugin is compiled once; created 0700 as the host requires.
pub fn cache_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = root().join("target").join("e2e-cache");
        #[cfg(unix)]
        {
            use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
            std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&dir).expect("create cache dir");
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).expect("chmod cache dir");
        }
        dir
    })
}

/// A fake PVE answering the endpoints the inventory tools use, with the
/// token check PVE does.
pub async fn fake_pve() -> MockServer {
    let server = MockServer::start().await;
    let auth = format!("PVEAPIToken={TOKEN_ID}={TOKEN_SECRET}");
    let ok = |data: Value| ResponseTemplate::new(200).set_body_json(json!({ "data": data }));
    Mock::given(method("GET"))
        .and(path("/api2/json/version"))
        .and(wiremock::matchers::header("Authorization", auth.as_str()))
        .respond_with(ok(json!({"version": "9.1.2", "release": "9.1", "repoid": "6f3a5b2c"})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api2/json/nodes"))
        .and(wiremock::matchers::header("Authorization", auth.as_str()))
        .respond_with(ok(json!([
            {"node": "pve1", "status": "online", "cpu": 0.125, "maxcpu": 16, "mem": 33554432000u64,
             "maxmem": 68719476736u64, "uptime": 273845, "level": "", "ssl_fingerprint": "AA:BB"},
            {"node": "pve2", "status": "online", "cpu": 0.02, "maxcpu": 8, "mem": 4294967296u64,
             "maxmem": 34359738368u64, "uptime": 1000},
            {"node": "pve3", "status": "offline"}
        ])))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api2/json/cluster/resources"))
        .and(query_param("type", "vm"))
        .and(wiremock::matchers::header("Authorization", auth.as_str()))
        .respond_with(ok(json!([
            {"id": "qemu/100", "type": "qemu", "vmid": 100, "name": "web", "node": "pve1", "status": "running",
             "maxcpu": 4, "cpu": 0.031, "mem": 2147483648u64, "maxmem": 4294967296u64, "uptime": 3600,
             "tags": "prod;web", "template": 0},
            {"id": "qemu/101", "type": "qemu", "vmid": 101, "name": "db", "node": "pve2", "status": "stopped",
             "maxcpu": 8, "maxmem": 8589934592u64, "template": 0, "pool": "databases"},
            {"id": "lxc/200", "type": "lxc", "vmid": 200, "name": "dns", "node": "pve1", "status": "running",
             "maxcpu": 1, "mem": 134217728u64, "maxmem": 536870912u64, "uptime": 99, "tags": "infra"},
            {"id": "qemu/9000", "type": "qemu", "vmid": 9000, "name": "tmpl-debian", "node": "pve2",
             "status": "stopped", "template": 1}
        ])))
        .mount(&server)
        .await;
    // Anything else, including a request with the wrong token, gets PVE's 401.
    Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({"data": null})))
        .with_priority(u8::MAX)
        .mount(&server)
        .await;
    server
}

/// How to start the server.
#[derive(Default, Clone)]
pub struct Launch {
    /// Extra arguments before `serve`.
    pub global_args: Vec<String>,
    /// Config file contents, if any.
    pub config: Option<String>,
    /// Extra environment.
    pub env: Vec<(String, String)>,
}

/// The base command: real binary, clean environment, a scratch working
/// directory (so no stray `.env` is read), the fake PVE.
pub fn command(pve_uri: &str, launch: &Launch, work: &Path) -> Command {
    let mut cmd = Command::new(binary());
    cmd.env_clear()
        .current_dir(work)
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("PVE_BASE_URL", pve_uri)
        .env("PVE_ALLOW_INSECURE_HTTP", "true")
        .env("PVE_API_TOKEN_ID", TOKEN_ID)
        .env("PVE_API_TOKEN_SECRET", TOKEN_SECRET)
        .env("PROXMCP_CACHE_DIR", cache_dir())
        .env("PROXMCP_LOG", "info");
    for (k, v) in &launch.env {
        cmd.env(k, v);
    }
    if let Some(config) = &launch.config {
        let path = work.join("proxmcp.toml");
        std::fs::write(&path, config).expect("write config");
        cmd.arg("--config").arg(path);
    }
    cmd.args(&launch.global_args);
    cmd.arg("serve");
    cmd
}

/// A running server with its client and what it wrote to stderr.
pub struct Session {
    pub client: RunningService<RoleClient, ()>,
    stderr: tokio::task::JoinHandle<String>,
    _work: tempfile::TempDir,
}

impl Session {
    /// Starts `proxmcp serve` against `pve` and connects an rmcp client.
    pub async fn start(pve: &MockServer, launch: Launch) -> Session {
        let work = tempfile::tempdir().expect("tempdir");
        let cmd = command(&pve.uri(), &launch, work.path());
        let (transport, stderr) =
            TokioChildProcess::builder(cmd).stderr(Stdio::piped()).spawn().expect("spawn proxmcp");
        let mut stderr = stderr.expect("piped stderr");
        let stderr = tokio::spawn(async move {
            let mut buf = String::new();
            let _ = tokio::io::AsyncReadExt::read_to_string(&mut stderr, &mut buf).await;
            buf
        });
        let client = ().serve(transport).await.expect("MCP initialize with proxmcp");
        Session { client, stderr, _work: work }
    }

    /// Calls a tool and returns its result (tool errors included).
    pub async fn call(&self, name: &str, args: Value) -> CallToolResult {
        let mut params = CallToolRequestParams::new(name.to_string());
        if let Value::Object(map) = args {
            params = params.with_arguments(map);
        }
        self.client.call_tool(params).await.unwrap_or_else(|e| panic!("tools/call {name} failed: {e}"))
    }

    /// Ends the session and returns the server's stderr.
    pub async fn finish(self) -> String {
        let _ = self.client.cancel().await;
        tokio::time::timeout(std::time::Duration::from_secs(10), self.stderr)
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default()
    }
}

/// The text content of a result, joined.
pub fn text(result: &CallToolResult) -> String {
    result.content.iter().filter_map(|c| c.as_text().map(|t| t.text.clone())).collect::<Vec<_>>().join("\n")
}

/// Whether the result is a tool error.
pub fn is_error(result: &CallToolResult) -> bool {
    result.is_error == Some(true)
}

/// The requests the fake PVE received, as validate.py's JSONL.
pub async fn request_log(pve: &MockServer) -> String {
    let mut out = String::new();
    for req in pve.received_requests().await.unwrap_or_default() {
        let mut params = serde_json::Map::new();
        for (k, v) in req.url.query_pairs() {
            params.insert(k.into_owned(), Value::String(v.into_owned()));
        }
        for (k, v) in url::form_urlencoded::parse(&req.body) {
            params.insert(k.into_owned(), Value::String(v.into_owned()));
        }
        let line = json!({"method": req.method.as_str(), "path": req.url.path(), "params": params});
        out.push_str(&line.to_string());
        out.push('\n');
    }
    out
}

/// Checks a request log with ../shared/pve-api/validate.py. Returns
/// `None` (and says why) where the shared folder is absent, as in a plain
/// clone; in CI the folder is always there.
pub fn validate_requests(jsonl: &str) -> Option<String> {
    let validator = root().join("..").join("shared").join("pve-api").join("validate.py");
    if !validator.exists() {
        assert!(std::env::var("CI").is_err(), "CI must have ../shared/pve-api/validate.py");
        eprintln!("skipping schema validation: {} not found (plain clone)", validator.display());
        return None;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("requests.jsonl");
    std::fs::write(&log, jsonl).expect("write log");
    let out =
        std::process::Command::new("python3").arg(&validator).arg(&log).output().expect("run python3 validate.py");
    let report = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "validate.py found problems:\n{report}\nlog:\n{jsonl}");
    Some(report)
}
