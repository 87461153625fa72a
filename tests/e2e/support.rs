//! Shared harness: the embedded Proxmox simulator on loopback, the real
//! `proxmcp` binary started over stdio, and an rmcp client talking to it.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;

use proxmcp::secret::Secret;
use proxmcp::sim::{SimOptions, SimToken, SimUser, Simulator};
use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::RunningService;
use rmcp::transport::TokioChildProcess;
use rmcp::{RoleClient, ServiceExt};
use serde_json::Value;
use tokio::process::Command;

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
/// plugin is compiled once; created 0700 as the host requires. Where the
/// checkout sits below a directory the host would not trust for native code
/// (writable by others), the cache moves to the system's temp directory.
pub fn cache_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let private = |dir: PathBuf| -> PathBuf {
            #[cfg(unix)]
            {
                use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
                std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&dir).expect("create cache dir");
                std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).expect("chmod cache dir");
            }
            dir
        };
        let dir = private(root().join("target").join("e2e-cache"));
        match proxmcp::runtime::CompileCache::open(&dir) {
            Ok(_) => dir,
            Err(e) => {
                eprintln!("the e2e compile cache moves to the temp directory: {e}");
                let uid = std::fs::metadata(&dir).map(|m| std::os::unix::fs::MetadataExt::uid(&m)).unwrap_or(0);
                private(std::env::temp_dir().join(format!("proxmcp-e2e-cache-{uid}")))
            }
        }
    })
}

/// A read-only token the simulator accepts.
pub const READONLY_TOKEN_ID: &str = "auditor@pve!e2e";
pub const READONLY_TOKEN_SECRET: &str = "5ecret-readonly-2222-3333";
/// A password for `root@pam` on the simulator.
pub const PASSWORD: &str = "e2e-password-4444";

/// A guest password the secret-leak tests pass as a tool argument.
pub const GUEST_PASSWORD: &str = "guest-pw-7777-leakcheck";

/// Every secret the suite uses. No tool result, server log line or audit
/// line may contain one; `Session` checks each result and the stderr of
/// every server it ran.
pub const SECRETS: &[&str] = &[TOKEN_SECRET, READONLY_TOKEN_SECRET, PASSWORD, GUEST_PASSWORD, BEARER_TOKEN];

/// A bearer token for the HTTP transports in the secret-leak tests.
pub const BEARER_TOKEN: &str = "pmcp_bearer-8888-leakcheck";

/// Fails when `text` contains one of [`SECRETS`].
pub fn assert_no_secrets(what: &str, text: &str) {
    for secret in SECRETS {
        assert!(!text.contains(secret), "a secret leaked into {what}: …{}…", excerpt(text, secret));
    }
}

fn excerpt<'a>(text: &'a str, secret: &str) -> &'a str {
    let at = text.find(secret).unwrap_or(0);
    let start = text.floor_char_boundary(at.saturating_sub(120));
    let end = text.ceil_char_boundary((at + secret.len() + 40).min(text.len()));
    &text[start..end]
}

/// The embedded simulator on 127.0.0.1 over plain HTTP, tasks instant,
/// with the test tokens and password.
pub async fn sim() -> Simulator {
    sim_at(0.0).await
}

/// The simulator with tasks taking `time_scale` real seconds per simulated
/// second.
pub async fn sim_at(time_scale: f64) -> Simulator {
    let mut options = SimOptions::demo();
    options.time_scale = time_scale;
    options.tokens = vec![
        SimToken { id: TOKEN_ID.into(), secret: Secret::new(TOKEN_SECRET), read_only: false },
        SimToken { id: READONLY_TOKEN_ID.into(), secret: Secret::new(READONLY_TOKEN_SECRET), read_only: true },
    ];
    options.users = vec![SimUser { username: "root@pam".into(), password: Secret::new(PASSWORD), read_only: false }];
    Simulator::start(([127, 0, 0, 1], 0).into(), false, options).await.expect("start simulator")
}

/// The requests the simulator received, as validate.py's JSONL.
pub fn sim_request_log(sim: &Simulator) -> String {
    sim.requests().iter().map(|r| format!("{r}\n")).collect()
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
    /// Variables of the base environment to leave out (e.g. `PVE_BASE_URL`
    /// when the config file names its targets).
    pub unset: Vec<&'static str>,
}

/// The base command: real binary, clean environment, a scratch working
/// directory (so no stray `.env` is read), the fake PVE.
pub fn command(pve_uri: &str, launch: &Launch, work: &Path) -> Command {
    command_for(pve_uri, launch, work, &["serve"])
}

/// [`command`] running the subcommand `args` instead of `serve`.
pub fn command_for(pve_uri: &str, launch: &Launch, work: &Path, args: &[&str]) -> Command {
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
    for k in &launch.unset {
        cmd.env_remove(k);
    }
    if let Some(config) = &launch.config {
        let path = work.join("proxmcp.toml");
        std::fs::write(&path, config).expect("write config");
        cmd.arg("--config").arg(path);
    }
    cmd.args(&launch.global_args);
    cmd.args(args);
    cmd
}

/// Runs `proxmcp serve` as `launch` says and expects it to refuse to
/// start; returns its stderr.
pub async fn refused_start(pve_uri: &str, launch: &Launch) -> String {
    let work = tempfile::tempdir().expect("tempdir");
    let mut cmd = command(pve_uri, launch, work.path());
    let out = cmd.stdin(Stdio::null()).output().await.expect("run proxmcp");
    assert!(!out.status.success(), "proxmcp started although it should have refused");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Installs `packages` from npm into `target/<dir>` once per test run (a
/// stamp file remembers the versions across runs); returns `node_modules`.
pub fn npm_install_once(dir: &str, packages: &[&str]) -> PathBuf {
    let package = packages.join(" ");
    let dir = root().join("target").join(dir);
    let modules = dir.join("node_modules");
    let stamp = dir.join("installed");
    if std::fs::read_to_string(&stamp).ok().as_deref() == Some(package.as_str()) && modules.exists() {
        return modules;
    }
    std::fs::create_dir_all(&dir).expect("create the npm prefix under target/");
    let out = std::process::Command::new("npm")
        .args(["install", "--no-save", "--no-audit", "--no-fund", "--loglevel=error", "--prefix"])
        .arg(&dir)
        .args(packages)
        .output()
        .expect("run npm (install Node.js and npm)");
    assert!(out.status.success(), "npm install {package} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    std::fs::write(&stamp, &package).expect("write stamp");
    modules
}

/// A running server with its client and what it wrote to stderr.
pub struct Session {
    pub client: RunningService<RoleClient, ()>,
    stderr: tokio::task::JoinHandle<String>,
    _work: tempfile::TempDir,
}

impl Session {
    /// Starts `proxmcp serve` against the API at `pve_uri` and connects an
    /// rmcp client.
    pub async fn start(pve_uri: &str, launch: Launch) -> Session {
        let work = tempfile::tempdir().expect("tempdir");
        let cmd = command(pve_uri, &launch, work.path());
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
        let result = self.client.call_tool(params).await.unwrap_or_else(|e| panic!("tools/call {name} failed: {e}"));
        assert_no_secrets(&format!("the result of {name}"), &serde_json::to_string(&result).unwrap_or_default());
        result
    }

    /// Calls a tool that must succeed; its structured result.
    pub async fn ok(&self, tool: &str, args: Value) -> Value {
        let r = self.call(tool, args.clone()).await;
        assert!(!is_error(&r), "{tool} {args}: {}", text(&r));
        r.structured_content.unwrap_or_default()
    }

    /// Calls a tool that must fail with a message containing `hint`.
    pub async fn err(&self, tool: &str, args: Value, hint: &str) {
        let r = self.call(tool, args.clone()).await;
        assert!(is_error(&r), "{tool} {args} should fail: {:?}", r.structured_content);
        assert!(text(&r).contains(hint), "{tool} {args}: {:?} lacks {hint:?}", text(&r));
    }

    /// Ends the session and returns the server's stderr.
    pub async fn finish(self) -> String {
        let _ = self.client.cancel().await;
        let stderr = tokio::time::timeout(std::time::Duration::from_secs(10), self.stderr)
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default();
        assert_no_secrets("the server's stderr", &stderr);
        stderr
    }
}

/// A succeeding case of a tool from a built-in plugin's calls.json, with
/// the case before it when its arguments refer to that one's result.
pub struct Case {
    /// The arguments (`$previous/...` references unresolved).
    pub args: Value,
    /// The tool and arguments of the preceding case, if referred to.
    pub before: Option<(String, Value)>,
}

/// For each tool of built-in plugin `plugin`, its first succeeding case in
/// `plugins/PLUGIN/calls.json`.
pub fn first_cases(plugin: &str) -> std::collections::BTreeMap<String, Case> {
    let file = root().join("plugins").join(plugin).join("calls.json");
    let cases: Vec<Value> = serde_json::from_str(&std::fs::read_to_string(&file).expect("calls.json")).expect("JSON");
    let mut first = std::collections::BTreeMap::new();
    let args_of = |c: &Value| c.get("arguments").cloned().unwrap_or_else(|| serde_json::json!({}));
    for (i, case) in cases.iter().enumerate() {
        if !case.get("expect").is_none_or(|e| e == "ok") {
            continue;
        }
        let args = args_of(case);
        let before = (args.to_string().contains("$previous") && i > 0)
            .then(|| (cases[i - 1]["tool"].as_str().expect("tool").to_string(), args_of(&cases[i - 1])));
        first.entry(case["tool"].as_str().expect("tool").to_string()).or_insert(Case { args, before });
    }
    first
}

/// The first succeeding case of `tool` in any built-in plugin's calls.json.
pub fn first_case_of(tool: &str) -> Case {
    for plugin in ["inventory", "lifecycle", "provisioning", "guest-exec", "raw-api", "firewall-ha-read", "firewall-ha"]
    {
        if let Some(case) = first_cases(plugin).remove(tool) {
            return case;
        }
    }
    panic!("no case for {tool} in any plugins/*/calls.json")
}

/// A tool's hints with MCP's defaults applied to what the server left
/// out: (read-only, destructive, idempotent, open world).
pub fn hints(tool: &rmcp::model::Tool) -> (bool, bool, bool, bool) {
    let a = tool.annotations.clone().unwrap_or_default();
    let read_only = a.read_only_hint.unwrap_or(false);
    (
        read_only,
        !read_only && a.destructive_hint.unwrap_or(true),
        read_only || a.idempotent_hint.unwrap_or(false),
        a.open_world_hint.unwrap_or(true),
    )
}

/// The writes (non-GET requests) that reached the simulator.
pub fn writes(sim: &Simulator) -> Vec<Value> {
    sim.requests().into_iter().filter(|r| r["method"] != "GET").collect()
}

/// The text content of a result, joined.
/// The result's summary line (its first text block; a structured result
/// carries its data as JSON in the second).
pub fn text(result: &CallToolResult) -> String {
    result.content.iter().find_map(|c| c.as_text().map(|t| t.text.clone())).unwrap_or_default()
}

/// Whether the result is a tool error.
pub fn is_error(result: &CallToolResult) -> bool {
    result.is_error == Some(true)
}

/// ../shared/pve-api/validate.py, or `None` (saying why) where the shared
/// folder is absent, as in a plain clone. In CI it must be there.
pub fn validator() -> Option<PathBuf> {
    let validator = root().join("..").join("shared").join("pve-api").join("validate.py");
    if validator.exists() {
        return Some(validator);
    }
    assert!(std::env::var("CI").is_err(), "CI must have ../shared/pve-api/validate.py");
    eprintln!("skipping schema validation: {} not found (plain clone)", validator.display());
    None
}

/// Checks a request log with validate.py: 0 problems, or the test fails.
pub fn validate_requests(jsonl: &str) -> Option<String> {
    let validator = validator()?;
    assert!(!jsonl.trim().is_empty(), "no requests were recorded");
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("requests.jsonl");
    std::fs::write(&log, jsonl).expect("write log");
    let out =
        std::process::Command::new("python3").arg(&validator).arg(&log).output().expect("run python3 validate.py");
    let report = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "validate.py found problems:\n{report}\nlog:\n{jsonl}");
    Some(report)
}

/// An rmcp client that records the progress notifications it receives.
#[derive(Clone, Default)]
pub struct ProgressRecorder {
    pub seen: std::sync::Arc<std::sync::Mutex<Vec<rmcp::model::ProgressNotificationParam>>>,
}

impl rmcp::ClientHandler for ProgressRecorder {
    async fn on_progress(
        &self,
        params: rmcp::model::ProgressNotificationParam,
        _context: rmcp::service::NotificationContext<rmcp::RoleClient>,
    ) {
        if let Ok(mut seen) = self.seen.lock() {
            seen.push(params);
        }
    }
}
