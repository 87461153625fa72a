//! `just bench`: what proxmcp costs per tool call and at start, measured
//! side by side in one run against baselines, printed as ratios.
//!
//! Per call (`pve_get_version` against the embedded simulator over real
//! HTTP, tasks instant, in a process of its own: a real Proxmox is never
//! in its client's process, so every request crosses a process boundary):
//! - direct: one reqwest GET, no wasm (also printed: the same GET with the
//!   simulator inside the requesting process, which skips the wake-up of
//!   another process);
//! - bare wasmtime: the same inventory component, fresh store per call,
//!   its `pve` import answered by reqwest, nothing else;
//! - proxmcp in-process: the gate + runtime + Proxmox client, no transport;
//! - proxmcp over stdio: the real binary driven by rmcp's client.
//!
//! These rows and the floors below are measured in turns (ten rounds of a
//! block of calls each), so their ratios hold when the machine's load
//! drifts during the run.
//!
//! Start-up: process start to `initialize` answered with every built-in
//! plugin, with a cold and a warm compile cache and with the cache off.
//!
//! Throughput over streamable HTTP with 1, 8 and 32 concurrent rmcp
//! clients, the server's RSS idle and under that load, and the size of
//! `tools/list` for the full set and in read-only mode.
//!
//! Floors: a minimal rmcp server (`noop.rs`) over stdio and streamable
//! HTTP, whose `noop` tool is the transport's own cost and whose `version`
//! tool makes the same simulator request with reqwest alone (printed too:
//! the request from a server process of its own); the server's
//! CPU per call comes from its `/proc/PID/stat` over the timed calls. The
//! targets of issue #19 are printed as ratios within the run.
//!
//! These are figures to compare, not pass/fail tests.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ::proxmcp::gate::{Gate, Policy};
use ::proxmcp::plugins::BUILTINS;
use ::proxmcp::pve::{Auth, PveClient, PveConfig};
use ::proxmcp::runtime::{Limits, PluginSource, Runtime};
use ::proxmcp::secret::Secret;
use ::proxmcp::sim::{SimOptions, SimToken, Simulator};
use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::TokioChildProcess;
use serde_json::json;

const TOKEN_ID: &str = "root@pam!bench";
const TOKEN_SECRET: &str = "bench-secret";
const CALLS: usize = 300;
const WARMUP: usize = 20;
/// Calls over which a server's CPU time is read (its clock ticks are 10 ms).
const CPU_CALLS: usize = 1000;

mod noop;

mod bare {
    //! The baseline: bare wasmtime with the contract's imports and nothing
    //! of proxmcp (no gate, limits, epoch deadlines or output capture).
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "plugin",
        imports: { default: async | trappable },
        exports: { default: async },
    });

    use self::proxmcp::plugin::types as wit;
    use wasmtime::component::ResourceTable;
    use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

    pub struct State {
        pub wasi: WasiCtx,
        pub table: ResourceTable,
        pub http: reqwest::Client,
        pub base: String,
        pub auth: String,
    }

    impl WasiView for State {
        fn ctx(&mut self) -> WasiCtxView<'_> {
            WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
        }
    }

    impl wit::Host for State {}

    impl self::proxmcp::plugin::pve::Host for State {
        async fn request(
            &mut self,
            _method: wit::Method,
            path: Vec<String>,
            _params: String,
        ) -> wasmtime::Result<Result<String, wit::ApiError>> {
            let url = format!("{}/api2/json/{}", self.base, path.join("/"));
            let body: serde_json::Value =
                self.http.get(url).header("Authorization", &self.auth).send().await?.json().await?;
            Ok(Ok(body["data"].to_string()))
        }
        async fn resolve_guest(&mut self, _vmid: u32) -> wasmtime::Result<Result<wit::GuestInfo, wit::ApiError>> {
            Ok(Err(wit::ApiError::Other("not in the baseline".into())))
        }
        async fn wait_task(
            &mut self,
            _node: String,
            _upid: String,
            _timeout_ms: u32,
        ) -> wasmtime::Result<Result<wit::TaskResult, wit::ApiError>> {
            Ok(Err(wit::ApiError::Other("not in the baseline".into())))
        }
    }

    impl self::proxmcp::plugin::permissions::Host for State {
        async fn check(&mut self) -> wasmtime::Result<Result<String, wit::ApiError>> {
            Ok(Err(wit::ApiError::Other("not in the baseline".into())))
        }
    }

    impl self::proxmcp::plugin::progress::Host for State {
        async fn report(&mut self, _: u32, _: u32, _: String) -> wasmtime::Result<()> {
            Ok(())
        }
        async fn pause(&mut self, _: u32) -> wasmtime::Result<bool> {
            Ok(false)
        }
    }

    impl self::proxmcp::plugin::api_schema::Host for State {
        async fn search(
            &mut self,
            _: String,
            _: Option<wit::Method>,
            _: u32,
        ) -> wasmtime::Result<Result<String, wit::ApiError>> {
            Ok(Err(wit::ApiError::Other("not in the baseline".into())))
        }
        async fn describe(
            &mut self,
            _: String,
            _: Option<wit::Method>,
            _: Option<String>,
            _: u32,
        ) -> wasmtime::Result<Result<String, wit::ApiError>> {
            Ok(Err(wit::ApiError::Other("not in the baseline".into())))
        }
        async fn check(
            &mut self,
            _: wit::Method,
            _: Vec<String>,
            _: String,
        ) -> wasmtime::Result<Result<self::proxmcp::plugin::api_schema::Checked, wit::ApiError>> {
            Ok(Err(wit::ApiError::Other("not in the baseline".into())))
        }
        async fn request(
            &mut self,
            _: wit::Method,
            _: Vec<String>,
            _: String,
        ) -> wasmtime::Result<Result<self::proxmcp::plugin::api_schema::Sent, wit::ApiError>> {
            Ok(Err(wit::ApiError::Other("not in the baseline".into())))
        }
    }

    impl self::proxmcp::plugin::log::Host for State {
        async fn log(&mut self, _level: self::proxmcp::plugin::log::Level, _message: String) -> wasmtime::Result<()> {
            Ok(())
        }
    }
}

struct Stats {
    mean: Duration,
    p50: Duration,
    p99: Duration,
}

fn stats(mut samples: Vec<Duration>) -> Stats {
    samples.sort();
    let total: Duration = samples.iter().sum();
    Stats {
        mean: total / samples.len() as u32,
        p50: samples[samples.len() / 2],
        p99: samples[samples.len() * 99 / 100],
    }
}

/// A per-call subject of [`side_by_side`].
type Subject<'a> = Box<dyn FnMut() -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + 'a>> + 'a>;

/// Rounds of [`side_by_side`]; each subject makes `CALLS / ROUNDS` timed
/// calls per round, after one untimed call.
const ROUNDS: usize = 10;

/// Measures the subjects in turns, a block of calls each per round, so a
/// change in the machine's load weighs on all of them alike and the ratios
/// between them hold when the absolute times drift. Blocks, not single
/// calls: a call still winding down (an HTTP session's stream, a process
/// going back to sleep) would otherwise be timed as the next subject's.
async fn side_by_side(subjects: &mut [Subject<'_>]) -> Vec<Stats> {
    for f in subjects.iter_mut() {
        for _ in 0..WARMUP {
            f().await;
        }
    }
    let mut samples = vec![Vec::with_capacity(CALLS); subjects.len()];
    for _ in 0..ROUNDS {
        for (f, s) in subjects.iter_mut().zip(&mut samples) {
            f().await;
            for _ in 0..CALLS / ROUNDS {
                let t = Instant::now();
                f().await;
                s.push(t.elapsed());
            }
        }
    }
    samples.into_iter().map(stats).collect()
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn row(name: &str, s: &Stats, base: &Stats) {
    println!(
        "  {name:<30} mean {:>8.1} us  p50 {:>8.1} us  p99 {:>8.1} us  x{:.2} of direct",
        us(s.mean),
        us(s.p50),
        us(s.p99),
        s.mean.as_secs_f64() / base.mean.as_secs_f64()
    );
}

/// User + system CPU time of process `pid` so far (all threads).
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which is in parentheses.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<u64> = rest.split_whitespace().map(|f| f.parse().unwrap_or(0)).collect();
    // utime and stime are fields 14 and 15 of the line, in USER_HZ (100) ticks.
    let ticks = fields.get(11).copied().unwrap_or(0) + fields.get(12).copied().unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

/// The server's CPU time per call of `f` over `CPU_CALLS` calls.
async fn cpu_per_call<F, Fut>(pid: u32, mut f: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let before = cpu_time(pid);
    for _ in 0..CPU_CALLS {
        f().await;
    }
    (cpu_time(pid) - before) / CPU_CALLS as u32
}

/// The no-op rmcp server as a child process (this very binary).
fn noop_command(uri: &str, transport: &str) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(std::env::current_exe().unwrap());
    cmd.env_clear()
        .env(noop::ENV, transport)
        .env("PVE_BASE_URL", uri)
        .env("PVE_API_TOKEN_ID", TOKEN_ID)
        .env("PVE_API_TOKEN_SECRET", TOKEN_SECRET)
        .kill_on_drop(true);
    cmd
}

/// Spawns a child server (`what`, for the panic) that prints its URL as
/// the first line on stdout; that URL and the process.
async fn spawn_printing_url(cmd: &mut tokio::process::Command, what: &str) -> (String, tokio::process::Child) {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let mut child = cmd.stdout(Stdio::piped()).spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let url = lines.next_line().await.unwrap().unwrap_or_else(|| panic!("{what} printed no URL"));
    (url, child)
}

/// Starts the no-op server over streamable HTTP; its URL and process.
async fn noop_http(uri: &str) -> (String, tokio::process::Child) {
    spawn_printing_url(noop_command(uri, "http").stdin(Stdio::null()), "the no-op server").await
}

async fn simulator() -> Simulator {
    let mut options = SimOptions::demo();
    options.time_scale = 0.0;
    options.tokens = vec![SimToken { id: TOKEN_ID.into(), secret: Secret::new(TOKEN_SECRET), read_only: false }];
    Simulator::start(([127, 0, 0, 1], 0).into(), false, options).await.unwrap()
}

/// Turns the bench binary into the simulator's own process: a real
/// Proxmox is never in its client's process, so every request measured,
/// the direct one included, crosses a process boundary.
const SIM_ENV: &str = "PROXMCP_BENCH_SIM";

/// Serves the simulator, prints its URL, and stops when stdin closes
/// (the bench ended, however it ended).
async fn serve_simulator() {
    use tokio::io::AsyncReadExt;
    let pve = simulator().await;
    println!("{}", pve.base_url());
    let mut sink = Vec::new();
    let _ = tokio::io::stdin().read_to_end(&mut sink).await;
}

/// The simulator in a process of its own: its URL and process.
async fn simulator_process() -> (String, tokio::process::Child) {
    let mut cmd = tokio::process::Command::new(std::env::current_exe().unwrap());
    cmd.env(SIM_ENV, "1").stdin(Stdio::piped()).kill_on_drop(true);
    spawn_printing_url(&mut cmd, "the simulator").await
}

/// The direct request: `GET /version` with reqwest alone.
async fn direct_get(http: &reqwest::Client, url: &str, auth: &str) {
    let v: serde_json::Value = http.get(url).header("Authorization", auth).send().await.unwrap().json().await.unwrap();
    assert_eq!(v["data"]["version"], "9.1.2");
}

/// Every built-in plugin, for start-up and `tools/list` figures.
const ALL_BUILTINS: &str = "[plugins]\nbuiltin = [\"inventory\", \"lifecycle\", \"provisioning\", \"guest-exec\", \"raw-api\", \"firewall-ha-read\", \"firewall-ha\", \"backups-read\", \"backups\", \"provisioning-read\", \"storage-disks\", \"node-maintenance\"]\n";

fn base_command(uri: &str, dir: &Path) -> tokio::process::Command {
    let config = dir.join("all-builtins.toml");
    std::fs::write(&config, ALL_BUILTINS).unwrap();
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_proxmcp"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("PVE_BASE_URL", uri)
        .env("PVE_ALLOW_INSECURE_HTTP", "true")
        .env("PVE_API_TOKEN_ID", TOKEN_ID)
        .env("PVE_API_TOKEN_SECRET", TOKEN_SECRET)
        .env("PROXMCP_LOG", "error")
        .env("PROXMCP_AUDIT_LOG", "/dev/null")
        .env("PROXMCP_CONFIG", config);
    cmd
}

fn inventory() -> &'static [u8] {
    BUILTINS.iter().find(|b| b.name == "inventory").expect("inventory built in").bytes
}

fn private_dir(p: &Path) {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(p).unwrap();
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o700)).unwrap();
}

async fn start_to_initialize(uri: &str, work: &Path, cache: Option<&Path>) -> Duration {
    let mut cmd = base_command(uri, work);
    match cache {
        Some(dir) => cmd.env("PROXMCP_CACHE_DIR", dir),
        None => cmd.env("PROXMCP_CACHE", "false"),
    };
    cmd.arg("serve");
    let t = Instant::now();
    let (transport, _) = TokioChildProcess::builder(cmd).stderr(Stdio::null()).spawn().unwrap();
    let client = ().serve(transport).await.unwrap();
    let took = t.elapsed();
    let _ = client.cancel().await;
    took
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if let Ok(transport) = std::env::var(noop::ENV) {
        noop::serve(&transport).await;
        return;
    }
    if std::env::var_os(SIM_ENV).is_some() {
        serve_simulator().await;
        return;
    }
    let (uri, _sim) = simulator_process().await;
    // The old floor, for comparison: the simulator inside the process
    // that makes the direct request.
    let local_sim = simulator().await;
    let local_version_url = format!("{}/api2/json/version", local_sim.base_url());
    let auth = format!("PVEAPIToken={TOKEN_ID}={TOKEN_SECRET}");
    println!("proxmcp benchmark: {CALLS} calls of pve_get_version each, after {WARMUP} warm-up calls");

    // Every per-call subject is set up first, then measured in turns.
    ::proxmcp::pve::install_crypto_provider();
    let http = reqwest::Client::new();

    // Floors: the no-op rmcp server's tools over stdio and HTTP.
    let (transport, _) = TokioChildProcess::builder(noop_command(&uri, "stdio")).stderr(Stdio::null()).spawn().unwrap();
    let noop_pid = transport.id().unwrap();
    let floor = Arc::new(().serve(transport).await.unwrap());
    let call = |c: Arc<rmcp::service::RunningService<rmcp::RoleClient, ()>>, tool: &'static str| async move {
        let r = c.call_tool(CallToolRequestParams::new(tool)).await.unwrap();
        assert_ne!(r.is_error, Some(true));
    };
    let (noop_url, noop_child) = noop_http(&uri).await;
    let floor_http =
        Arc::new(().serve(rmcp::transport::StreamableHttpClientTransport::from_uri(noop_url.clone())).await.unwrap());

    // Bare wasmtime, same component, fresh store per call.
    let engine = wasmtime::Engine::default();
    let component = wasmtime::component::Component::new(&engine, inventory()).unwrap();
    let mut linker = wasmtime::component::Linker::<bare::State>::new(&engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker).unwrap();
    bare::Plugin::add_to_linker::<_, wasmtime::component::HasSelf<_>>(&mut linker, |s| s).unwrap();
    let pre = bare::PluginPre::new(linker.instantiate_pre(&component).unwrap()).unwrap();

    // proxmcp in-process: gate + runtime + client.
    let mut pve_config =
        PveConfig::new(uri.clone(), Auth::ApiToken { id: TOKEN_ID.into(), secret: Secret::new(TOKEN_SECRET) });
    pve_config.allow_insecure_http = true;
    let client = PveClient::new(pve_config).unwrap();
    let runtime = Runtime::new(Limits::default(), None).unwrap();
    let kind = runtime.engine_kind();
    let source = PluginSource {
        origin: "builtin:inventory".into(),
        bytes: bytes::Bytes::from_static(inventory()),
        sha256: None,
        builtin: true,
        sidecar_manifest: None,
    };
    let gate = Arc::new(Gate::build(runtime, &[source], Some(client), Policy::default()).await.unwrap());

    // The real binary over stdio with rmcp's client: a first start
    // compiles the plugins into an empty cache; the measured one starts
    // warm, as every later start of a deployment does.
    let work = tempfile::tempdir().unwrap();
    let cache = work.path().join("cache");
    private_dir(&cache);
    let serve = || {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_proxmcp"));
        cmd.env("PVE_BASE_URL", &uri)
            .env("PVE_ALLOW_INSECURE_HTTP", "true")
            .env("PVE_API_TOKEN_ID", TOKEN_ID)
            .env("PVE_API_TOKEN_SECRET", TOKEN_SECRET)
            .env("PROXMCP_CACHE_DIR", &cache)
            .env("PROXMCP_LOG", "error")
            .arg("serve");
        TokioChildProcess::builder(cmd).stderr(Stdio::null()).spawn().unwrap().0
    };
    let first = serve();
    let first_pid = first.id().unwrap();
    let first = ().serve(first).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (cold_idle, _) = rss_mib(first_pid);
    first.cancel().await.unwrap();
    let transport = serve();
    let stdio_pid = transport.id().unwrap();
    let mcp = Arc::new(().serve(transport).await.unwrap());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (default_idle, _) = rss_mib(stdio_pid);
    let default_tools = mcp.list_all_tools().await.unwrap();
    let default_list = serde_json::to_vec(&default_tools).unwrap().len();

    let version_url = format!("{uri}/api2/json/version");
    let mut subjects: Vec<Subject<'_>> = vec![
        Box::new(|| Box::pin(direct_get(&http, &version_url, &auth))),
        Box::new(|| Box::pin(direct_get(&http, &local_version_url, &auth))),
        Box::new(|| Box::pin(call(floor.clone(), "noop"))),
        Box::new(|| Box::pin(call(floor_http.clone(), "noop"))),
        Box::new(|| Box::pin(call(floor.clone(), "version"))),
        Box::new(|| {
            Box::pin(async {
                let state = bare::State {
                    wasi: wasmtime_wasi::WasiCtx::builder().build(),
                    table: wasmtime::component::ResourceTable::new(),
                    http: http.clone(),
                    base: uri.clone(),
                    auth: auth.clone(),
                };
                let mut store = wasmtime::Store::new(&engine, state);
                let plugin = pre.instantiate_async(&mut store).await.unwrap();
                let out =
                    plugin.proxmcp_plugin_tools().call_call_tool(&mut store, "pve_get_version", "{}").await.unwrap();
                assert!(out.is_ok());
            })
        }),
        Box::new(|| {
            Box::pin(async {
                let out = gate.call_tool("pve_get_version", json!({}), Default::default()).await.unwrap();
                assert_eq!(out.structured.unwrap()["version"], "9.1.2");
            })
        }),
        Box::new(|| Box::pin(call(mcp.clone(), "pve_get_version"))),
    ];
    let measured = side_by_side(&mut subjects).await;
    drop(subjects);
    let [direct, direct_local, noop_stdio, noop_http_stats, noop_version_stdio, bare_stats, in_process, stdio] =
        <[Stats; 8]>::try_from(measured).ok().unwrap();
    let noop_stdio_cpu = cpu_per_call(noop_pid, || call(floor.clone(), "noop")).await;
    let stdio_cpu = cpu_per_call(stdio_pid, || call(mcp.clone(), "pve_get_version")).await;

    println!(
        "\nfloors: a minimal rmcp server (no-op tool), and the request itself (every per-call row measured in turns)"
    );
    row("direct reqwest", &direct, &direct);
    row("no-op rmcp tool over stdio", &noop_stdio, &direct);
    row("no-op rmcp tool over HTTP", &noop_http_stats, &direct);
    let floor_stdio = direct.p50 + noop_stdio.p50;
    println!(
        "  direct + no-op stdio = {:.1} us p50; direct + no-op HTTP = {:.1} us p50; no-op server CPU {:.1} us/call",
        us(floor_stdio),
        us(direct.p50 + noop_http_stats.p50),
        us(noop_stdio_cpu)
    );
    println!(
        "  (the direct request with the simulator in the requesting process: {:.1} us p50; as the floor, stdio / it + no-op stdio = {:.2})",
        us(direct_local.p50),
        stdio.p50.as_secs_f64() / (direct_local.p50 + noop_stdio.p50).as_secs_f64()
    );
    row("no-op server's request, stdio", &noop_version_stdio, &direct);
    println!("    (the same request from a server process of its own: the sum above without its sandbox and gates)");
    println!("\nper read call, pve_get_version (engine: {kind:?})");
    row("bare wasmtime + reqwest", &bare_stats, &direct);
    row("proxmcp in-process (gate)", &in_process, &direct);
    row("proxmcp over stdio (rmcp)", &stdio, &direct);
    println!("  proxmcp server CPU over stdio: {:.1} us per call ({CPU_CALLS} calls)", us(stdio_cpu));
    let ratio = |a: &Stats, b: &Stats| a.mean.as_secs_f64() / b.mean.as_secs_f64();
    println!(
        "  ratios: in-process / bare wasmtime = {:.2}, stdio / bare wasmtime = {:.2}, stdio / direct = {:.2}",
        ratio(&in_process, &bare_stats),
        ratio(&stdio, &bare_stats),
        ratio(&stdio, &direct)
    );
    println!(
        "  proxmcp over stdio / the no-op server's same request over stdio, p50 = {:.2}",
        stdio.p50.as_secs_f64() / noop_version_stdio.p50.as_secs_f64()
    );
    if let Ok(m) = Arc::try_unwrap(mcp) {
        let _ = m.cancel().await;
    }

    // 5. Start-up to `initialize` answered.
    const STARTS: usize = 5;
    let cold_cache = work.path().join("cold");
    let mut cold = Vec::new();
    let mut warm = Vec::new();
    let mut none = Vec::new();
    for i in 0..STARTS {
        let dir = cold_cache.join(i.to_string());
        private_dir(&dir);
        cold.push(start_to_initialize(&uri, work.path(), Some(&dir)).await);
        warm.push(start_to_initialize(&uri, work.path(), Some(&dir)).await);
        none.push(start_to_initialize(&uri, work.path(), None).await);
    }
    let (cold, warm, none) = (stats(cold), stats(warm), stats(none));
    println!("\nstart to initialize answered, all {} built-in plugins ({STARTS} starts each, median)", BUILTINS.len());
    println!("  cold compile cache           {:>8.1} ms", cold.p50.as_secs_f64() * 1e3);
    println!("  warm compile cache           {:>8.1} ms", warm.p50.as_secs_f64() * 1e3);
    println!("  cache off                    {:>8.1} ms", none.p50.as_secs_f64() * 1e3);
    println!("  ratio cold / warm = {:.2}", cold.p50.as_secs_f64() / warm.p50.as_secs_f64());

    // 6. Throughput and memory over streamable HTTP, and tools/list sizes.
    let http = http_figures(
        &uri,
        work.path(),
        &cache,
        &noop_url,
        noop_child.id().unwrap(),
        (default_tools.len(), default_list),
    )
    .await;

    let stdio_ratio = stdio.p50.as_secs_f64() / floor_stdio.as_secs_f64();
    println!("\ntargets (issue #19), within this run");
    let verdict = |ok: bool| if ok { "met" } else { "NOT met" };
    println!(
        "  server CPU per read call over stdio    {:>8.1} us   target <= 250 us          {}",
        us(stdio_cpu),
        verdict(stdio_cpu <= Duration::from_micros(250))
    );
    println!(
        "  stdio / (direct + no-op stdio), p50    {stdio_ratio:>8.2} x    target <= 1.25 x          {}",
        verdict(stdio_ratio <= 1.25)
    );
    println!(
        "  32-client HTTP throughput / no-op      {:>8.2} x    target >= 0.70 x          {}",
        http.throughput_ratio_32,
        verdict(http.throughput_ratio_32 >= 0.7)
    );
    println!(
        "  RSS idle, default plugins              {default_idle:>8.1} MiB  target <= 30 MB (28.6 MiB) {}",
        verdict(default_idle * 1024.0 * 1024.0 <= 30e6)
    );
    println!("    (first start, compiling into an empty cache: {cold_idle:.1} MiB)");
    println!(
        "  default tools/list                     {default_list:>8} B    target <= 40 KB (40960 B)  {}",
        verdict(default_list <= 40 * 1024)
    );
}

/// What the HTTP figures feed into the targets.
struct HttpFigures {
    throughput_ratio_32: f64,
}

/// VmRSS and VmHWM of a process, in MiB.
fn rss_mib(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(f64::NAN, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// One server under load: its sessions, the tool they call, its process,
/// and what was measured so far.
struct Load {
    sessions: Vec<Arc<rmcp::service::RunningService<rmcp::RoleClient, ()>>>,
    tool: &'static str,
    pid: u32,
    latencies: Vec<Duration>,
    busy: Duration,
    server_cpu: Duration,
}

impl Load {
    async fn connect(url: &str, tool: &'static str, clients: usize, pid: u32) -> Load {
        use rmcp::transport::StreamableHttpClientTransport;
        let mut sessions = Vec::new();
        for _ in 0..clients {
            sessions.push(Arc::new(().serve(StreamableHttpClientTransport::from_uri(url.to_string())).await.unwrap()));
        }
        Load { sessions, tool, pid, latencies: Vec::new(), busy: Duration::ZERO, server_cpu: Duration::ZERO }
    }

    /// Every session calls the tool back to back for `slice`.
    async fn run(&mut self, slice: Duration) {
        let started = Instant::now();
        let deadline = started + slice;
        let cpu = cpu_time(self.pid);
        let mut tasks = Vec::new();
        for s in &self.sessions {
            let (s, tool) = (s.clone(), self.tool);
            tasks.push(tokio::spawn(async move {
                let mut lat = Vec::new();
                while Instant::now() < deadline {
                    let t = Instant::now();
                    let r = s.call_tool(CallToolRequestParams::new(tool)).await.unwrap();
                    assert_ne!(r.is_error, Some(true));
                    lat.push(t.elapsed());
                }
                lat
            }));
        }
        for t in tasks {
            self.latencies.extend(t.await.unwrap());
        }
        self.busy += started.elapsed();
        self.server_cpu += cpu_time(self.pid) - cpu;
    }

    /// Calls per second, latencies and the server's CPU per call.
    async fn finish(self) -> (f64, Stats, Duration) {
        let n = self.latencies.len();
        for s in self.sessions {
            if let Ok(s) = Arc::try_unwrap(s) {
                let _ = s.cancel().await;
            }
        }
        (n as f64 / self.busy.as_secs_f64(), stats(self.latencies), self.server_cpu / n.max(1) as u32)
    }
}

/// Throughput of `ours` and `floor` with `clients` concurrent sessions
/// each, measured in turns (`THROUGHPUT_SLICES` slices of each, 3 s in
/// all per server) so both meet the same machine: a shared host's quiet
/// and busy spells would otherwise fall on one of them.
async fn throughput_side_by_side(mut ours: Load, mut floor: Load) -> [(f64, Stats, Duration); 2] {
    let slice = Duration::from_secs(3) / THROUGHPUT_SLICES;
    for _ in 0..THROUGHPUT_SLICES {
        ours.run(slice).await;
        floor.run(slice).await;
    }
    [ours.finish().await, floor.finish().await]
}

/// Turns per throughput step.
const THROUGHPUT_SLICES: u32 = 6;

async fn http_figures(
    uri: &str,
    work: &Path,
    cache: &Path,
    noop_url: &str,
    noop_pid: u32,
    (default_count, default_list): (usize, usize),
) -> HttpFigures {
    use rmcp::transport::StreamableHttpClientTransport;
    use tokio::io::{AsyncBufReadExt, BufReader};

    let mut cmd = base_command(uri, work);
    cmd.env("PROXMCP_CACHE_DIR", cache)
        .env("MCP_TRANSPORT", "streamable-http")
        .env("MCP_PORT", "0")
        .env("PROXMCP_LOG", "info")
        .arg("serve")
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().unwrap();
    let pid = child.id().unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let url = loop {
        let line = lines.next_line().await.unwrap().expect("proxmcp exited before serving");
        if let Some(url) = line.strip_prefix("proxmcp: serving MCP at ") {
            break url.trim().to_string();
        }
    };
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (idle, _) = rss_mib(pid);

    let full = ().serve(StreamableHttpClientTransport::from_uri(url.clone())).await.unwrap();
    let tools = full.list_all_tools().await.unwrap();
    let full_bytes = serde_json::to_vec(&tools).unwrap().len();
    let full_count = tools.len();
    let _ = full.cancel().await;

    // One client: latency and the server's CPU per call.
    let one = Arc::new(().serve(StreamableHttpClientTransport::from_uri(url.clone())).await.unwrap());
    let call = || {
        let one = one.clone();
        async move {
            let r = one.call_tool(CallToolRequestParams::new("pve_get_version")).await.unwrap();
            assert_eq!(r.is_error, Some(false));
        }
    };
    let mut subject: [Subject<'_>; 1] = [Box::new(|| Box::pin(call()))];
    let single = side_by_side(&mut subject).await.remove(0);
    drop(subject);
    let cpu = cpu_per_call(pid, call).await;
    println!(
        "\nproxmcp over streamable HTTP, one client: p50 {:.1} us  p99 {:.1} us  server CPU {:.1} us per call",
        us(single.p50),
        us(single.p99),
        us(cpu)
    );
    if let Ok(one) = Arc::try_unwrap(one) {
        let _ = one.cancel().await;
    }

    println!(
        "\nthroughput over streamable HTTP (each client its own session; per step 3 s of each server, in {THROUGHPUT_SLICES} turns)"
    );
    println!("  proxmcp pve_get_version vs the no-op rmcp server's `version` (the same simulator request)");
    let mut ratio_32 = f64::NAN;
    for clients in [1usize, 8, 32] {
        let ours = Load::connect(&url, "pve_get_version", clients, pid).await;
        let floor = Load::connect(noop_url, "version", clients, noop_pid).await;
        let [(ours, st, ours_cpu), (floor, _, floor_cpu)] = throughput_side_by_side(ours, floor).await;
        let (rss, hwm) = rss_mib(pid);
        ratio_32 = ours / floor;
        println!(
            "  {clients:>2} clients  proxmcp {ours:>7.0} calls/s (p50 {:>7.1} us, p99 {:>7.1} us)  no-op {floor:>7.0} calls/s  ratio {ratio_32:.2}  RSS {rss:.1} MiB (peak {hwm:.1})",
            us(st.p50),
            us(st.p99),
        );
        println!("             server CPU per call: proxmcp {:.0} us, no-op {:.0} us", us(ours_cpu), us(floor_cpu));
    }
    let (_, peak) = rss_mib(pid);
    println!("  RSS idle {idle:.1} MiB, peak under load {peak:.1} MiB");
    let _ = child.kill().await;

    // Read-only mode: only the inventory plugin loads.
    let mut cmd = base_command(uri, work);
    cmd.env("PROXMCP_CACHE_DIR", cache).env("PROXMCP_READ_ONLY", "true").arg("serve");
    let (transport, _) = TokioChildProcess::builder(cmd).stderr(Stdio::null()).spawn().unwrap();
    let ro = ().serve(transport).await.unwrap();
    let ro_tools = ro.list_all_tools().await.unwrap();
    let ro_bytes = serde_json::to_vec(&ro_tools).unwrap().len();
    let _ = ro.cancel().await;
    println!("\ntools/list size");
    println!("  default plugins         {:>3} tools  {default_list:>7} bytes", default_count);
    println!("  all {:>2} built-in plugins {full_count:>3} tools  {full_bytes:>7} bytes", BUILTINS.len());
    println!("  read-only mode          {:>3} tools  {ro_bytes:>7} bytes", ro_tools.len());
    HttpFigures { throughput_ratio_32: ratio_32 }
}
