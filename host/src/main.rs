//! The `proxmcp` command line.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use proxmcp::config::{Config, Overrides};
use proxmcp::gate::{Gate, Policy, Protection, RateLimits, Rbac, ToolSelection};
use proxmcp::mcp::ProxmcpServer;
use proxmcp::mcp::http::{HttpOptions, HttpServer, HttpTransport};
use proxmcp::pve::PveClient;
use proxmcp::runtime::{CompileCache, Runtime, SUPPORTED_CONTRACTS};
use proxmcp::{plugins, pve, sim};

/// MCP server for Proxmox VE; every tool runs in a WebAssembly sandbox.
#[derive(Debug, Parser)]
#[command(name = "proxmcp", version, about, long_about = None)]
struct Cli {
    /// Config file (TOML). Environment variables override it, flags override both.
    #[arg(long, global = true, env = "PROXMCP_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Load only read-only plugins and refuse every write.
    #[arg(long, global = true)]
    read_only: bool,
    /// Load an extra plugin component (repeatable).
    #[arg(long = "plugin", global = true, value_name = "FILE.wasm")]
    plugins: Vec<PathBuf>,
    /// Compile plugins without the on-disk cache.
    #[arg(long, global = true)]
    no_cache: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve MCP to a client.
    Serve {
        /// Transport: stdio, streamable-http or sse (overrides MCP_TRANSPORT).
        #[arg(long)]
        transport: Option<String>,
    },
    /// Inspect plugins.
    #[command(subcommand)]
    Plugins(PluginsCommand),
    /// Tools for plugin authors.
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// Check the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Work with the audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Create bearer tokens for the HTTP transports.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Run the embedded Proxmox simulator as a standalone API server.
    Sim(SimArgs),
    /// Serve MCP against an in-process simulated cluster (try every tool without a cluster).
    Demo {
        /// Transport: stdio, streamable-http or sse (overrides MCP_TRANSPORT).
        #[arg(long)]
        transport: Option<String>,
        /// Real seconds per simulated second of task time (0 = instant).
        #[arg(long, default_value_t = 0.2)]
        time_scale: f64,
        /// Cluster to simulate (JSON, as printed by `proxmcp sim --print-seed`).
        #[arg(long, value_name = "FILE")]
        seed: Option<PathBuf>,
    },
}

#[derive(Debug, clap::Args)]
struct SimArgs {
    /// Address to listen on (keep it on loopback unless you mean otherwise).
    #[arg(long, default_value = "127.0.0.1:8006")]
    listen: std::net::SocketAddr,
    /// Serve plain HTTP instead of HTTPS with a generated certificate.
    #[arg(long)]
    http: bool,
    /// Append every request to FILE as JSONL (the input of validate.py).
    #[arg(long, value_name = "FILE")]
    request_log: Option<PathBuf>,
    /// Real seconds per simulated second of task time (0 = instant).
    #[arg(long, default_value_t = 1.0)]
    time_scale: f64,
    /// Cluster to simulate (JSON).
    #[arg(long, value_name = "FILE")]
    seed: Option<PathBuf>,
    /// Print the default seed as JSON and exit.
    #[arg(long)]
    print_seed: bool,
}

#[derive(Debug, Subcommand)]
enum PluginsCommand {
    /// List the plugins the configuration loads, their grants and tools.
    List {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Show a plugin file's manifest, imports and tools, and whether it loads.
    Inspect {
        /// The component file.
        file: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum PluginCommand {
    /// Write a ready plugin project (manifest, one example tool, build
    /// script, README, the contract) into ./NAME.
    New {
        /// Plugin name: lowercase letters, digits, - and _ (e.g. vm-report).
        name: String,
        /// Language of the project.
        #[arg(long, value_enum)]
        lang: proxmcp::scaffold::Lang,
    },
    /// Run a plugin against the embedded simulator and show each result and
    /// every Proxmox request it made (exit 1 if a call ends unexpectedly).
    Test {
        /// The component file.
        file: PathBuf,
        /// JSON list of calls: [{"tool": "...", "arguments": {...}, "expect": "ok"|"error"}].
        /// Without it every tool is called once with {}.
        #[arg(long, value_name = "FILE.json")]
        calls: Option<PathBuf>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Check that no line of an audit log was edited, removed or reordered.
    Verify {
        /// The JSONL audit file.
        file: PathBuf,
        /// The chain key (default: FILE.key beside the log).
        #[arg(long)]
        key: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Print a new random bearer token and the config entry (its SHA-256) to add.
    New {
        /// Who the token is for (shown in the audit log).
        principal: String,
        /// The role it gets (`admin`, `viewer`, or one defined in [rbac.roles]).
        #[arg(long, default_value = "viewer")]
        role: String,
    },
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Validate the configuration, load the plugins and contact Proxmox.
    Check,
}

/// Variables from a `.env` in the working directory: they fill in what
/// the environment lacks, and are ignored when a config file is named
/// explicitly, so a stray `.env` never overrides the operator's file or
/// flags.
static DOTENV: std::sync::OnceLock<std::collections::HashMap<String, String>> = std::sync::OnceLock::new();

/// Settings a `.env` must not change silently: where the token is sent and
/// whom it trusts.
const TRUST_VARIABLES: &[&str] =
    &["PVE_BASE_URL", "PVE_HOST", "PVE_VERIFY_SSL", "PVE_ALLOW_INSECURE_HTTP", "PVE_FINGERPRINT", "PVE_CA_FILE"];

fn read_dotenv(explicit_config: Option<&std::path::Path>) {
    let path = std::path::Path::new(".env");
    let mut vars = std::collections::HashMap::new();
    match dotenvy::from_path_iter(path) {
        Err(e) if e.not_found() => {}
        Err(e) => tracing::warn!("ignoring .env: {e}"),
        Ok(_) if explicit_config.is_some() => tracing::warn!(
            "ignoring .env in the working directory: the config file {} was named explicitly, and .env never overrides it",
            explicit_config.map(|p| p.display().to_string()).unwrap_or_default()
        ),
        Ok(iter) => {
            for item in iter {
                match item {
                    Ok((k, v)) if std::env::var_os(&k).is_none() => {
                        vars.insert(k, v);
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!("ignoring a line of .env: {e}"),
                }
            }
            let trust: Vec<&str> = TRUST_VARIABLES.iter().copied().filter(|v| vars.contains_key(*v)).collect();
            if !trust.is_empty() {
                let file = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
                tracing::warn!(
                    "the .env file {} sets {}: the Proxmox URL or TLS trust (and so where the credentials go) come from that file",
                    file.display(),
                    trust.join(", ")
                );
            }
        }
    }
    let _ = DOTENV.set(vars);
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    init_logging(matches!(cli.command, Command::Serve { .. } | Command::Demo { .. } | Command::Sim(_)));
    read_dotenv(cli.config.as_deref());
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn init_logging(serving: bool) {
    let default = if serving { "info,rmcp=warn" } else { "warn" };
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::{Layer, filter::FilterExt};
    let filter = tracing_subscriber::EnvFilter::try_from_env("PROXMCP_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // Below info these libraries log whole MCP messages (tool arguments
    // such as guest passwords) or HTTP headers (the Proxmox token): they
    // never go lower, whatever PROXMCP_LOG asks for.
    // rmcp logs session ids at info, and a session id is a credential.
    let cap = ["hyper", "hyper_util", "h2", "reqwest", "rustls", "tower", "tower_http", "axum"]
        .into_iter()
        .fold(tracing_subscriber::filter::Targets::new().with_default(tracing::Level::TRACE), |t, target| {
            t.with_target(target, tracing::Level::INFO)
        })
        .with_target("rmcp", tracing::Level::WARN);
    // Logs go to stderr: in stdio mode stdout is the protocol stream.
    // Control characters in logged values (Proxmox's messages, names) are
    // escaped, so no value can forge a record.
    let layer = tracing_subscriber::fmt::layer().with_writer(proxmcp::logging::stderr).with_ansi(false);
    tracing_subscriber::registry().with(layer.with_filter(filter.and(cap))).init();
}

fn http_limits(config: &Config) -> proxmcp::mcp::http::HttpLimits {
    use proxmcp::mcp::http::*;
    use std::time::Duration;
    let secs = |v: Option<f64>, default: Duration| v.map_or(default, |s| Duration::from_secs_f64(s.max(0.1)));
    let m = &config.mcp;
    HttpLimits {
        header_timeout: secs(m.header_timeout_secs, DEFAULT_HEADER_TIMEOUT),
        body_timeout: secs(m.body_timeout_secs, DEFAULT_BODY_TIMEOUT),
        max_connections: m.max_connections.unwrap_or(DEFAULT_MAX_CONNECTIONS),
        max_sessions: m.max_sessions.unwrap_or(DEFAULT_MAX_SESSIONS),
        max_sessions_per_principal: m.max_sessions_per_principal.unwrap_or(DEFAULT_MAX_SESSIONS_PER_PRINCIPAL),
        session_idle: secs(m.session_idle_secs, DEFAULT_SESSION_IDLE),
    }
}

fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().or_else(|| DOTENV.get().and_then(|vars| vars.get(name).cloned()))
}

async fn run(cli: Cli) -> Result<()> {
    let transport = match &cli.command {
        Command::Serve { transport } | Command::Demo { transport, .. } => transport.clone(),
        _ => None,
    };
    let overrides =
        Overrides { read_only: cli.read_only, plugin_files: cli.plugins.clone(), no_cache: cli.no_cache, transport };
    let config = Config::load(cli.config.as_deref(), &env_var, &overrides)?;
    if let Some(warning) = cli.config.as_deref().and_then(proxmcp::config::secret_file_warning) {
        tracing::warn!("{warning}");
    }
    match cli.command {
        Command::Serve { .. } => serve(&config).await,
        Command::Plugins(PluginsCommand::List { json }) => plugins_list(&config, json).await,
        Command::Plugins(PluginsCommand::Inspect { file }) => plugins_inspect(&config, &file).await,
        Command::Plugin(PluginCommand::New { name, lang }) => plugin_new(&name, lang),
        Command::Plugin(PluginCommand::Test { file, calls, json }) => {
            plugin_test(&config, &file, calls.as_deref(), json).await
        }
        Command::Config(ConfigCommand::Check) => config_check(&config).await,
        Command::Audit(AuditCommand::Verify { file, key }) => audit_verify(&file, key.as_deref()),
        Command::Token(TokenCommand::New { principal, role }) => token_new(&config, &principal, &role),
        Command::Sim(args) => run_sim(args).await,
        Command::Demo { time_scale, seed, .. } => demo(config, time_scale, seed.as_deref()).await,
    }
}

fn load_seed(path: Option<&std::path::Path>) -> Result<sim::Seed> {
    match path {
        None => Ok(sim::Seed::default()),
        Some(p) => {
            let text = std::fs::read_to_string(p).with_context(|| format!("cannot read seed file {}", p.display()))?;
            serde_json::from_str(&text).with_context(|| {
                format!(
                    "seed file {} is not a valid cluster (see `proxmcp sim --print-seed` for the format)",
                    p.display()
                )
            })
        }
    }
}

fn check_time_scale(scale: f64) -> Result<()> {
    if !(0.0..=100.0).contains(&scale) {
        bail!("--time-scale {scale} is out of range; use 0 (instant) to 100");
    }
    Ok(())
}

async fn run_sim(args: SimArgs) -> Result<()> {
    if args.print_seed {
        println!("{}", serde_json::to_string_pretty(&sim::Seed::default())?);
        return Ok(());
    }
    check_time_scale(args.time_scale)?;
    let mut options = sim::SimOptions::demo();
    options.seed = load_seed(args.seed.as_deref())?;
    options.time_scale = args.time_scale;
    options.request_log = args.request_log.clone();
    if !args.listen.ip().is_loopback() {
        tracing::warn!("the simulator listens on {}, reachable from other machines", args.listen);
    }
    let server = sim::Simulator::start(args.listen, !args.http, options).await?;
    println!("proxmcp simulator: a Proxmox VE API on {}/api2/json", server.base_url());
    if let Some(fp) = server.fingerprint() {
        println!("certificate fingerprint (SHA-256): {fp}");
    }
    for t in server.tokens() {
        let role = if t.read_only { "read-only" } else { "admin" };
        println!("API token ({role}): {}={}", t.id, t.secret.expose());
    }
    for u in server.users() {
        println!("password login: {} / {}", u.username, u.password.expose());
    }
    let admin = &server.tokens()[0];
    println!("\nconnect proxmcp to it:");
    println!("  export PVE_BASE_URL={}", server.base_url());
    println!("  export PVE_API_TOKEN_ID='{}' PVE_API_TOKEN_SECRET={}", admin.id, admin.secret.expose());
    if let Some(fp) = server.fingerprint() {
        println!("  export PVE_FINGERPRINT={fp}");
    } else {
        println!("  export PVE_ALLOW_INSECURE_HTTP=true");
    }
    if let Some(log) = &args.request_log {
        println!("requests are appended to {}", log.display());
    }
    println!("press Ctrl-C to stop");
    tokio::signal::ctrl_c().await.context("waiting for Ctrl-C")?;
    Ok(())
}

async fn demo(mut config: Config, time_scale: f64, seed: Option<&std::path::Path>) -> Result<()> {
    check_time_scale(time_scale)?;
    let mut options = sim::SimOptions::demo();
    options.seed = load_seed(seed)?;
    options.time_scale = time_scale;
    // Loopback only, inside this process: plain HTTP is safe here.
    let server = sim::Simulator::start(([127, 0, 0, 1], 0).into(), false, options).await?;
    let token = server.tokens()[0].clone();
    config.proxmox = proxmcp::config::ProxmoxSection {
        base_url: Some(server.base_url()),
        token_id: Some(token.id.clone()),
        token_secret: Some(token.secret.clone()),
        allow_insecure_http: Some(true),
        ..Default::default()
    };
    let exe = std::env::current_exe().map(|p| p.display().to_string()).unwrap_or_else(|_| "proxmcp".into());
    match config.transport() {
        "stdio" => {
            eprintln!("proxmcp demo: serving MCP on stdio against a simulated 3-node cluster ({})", server.base_url());
            eprintln!("  try it with the MCP Inspector:  npx @modelcontextprotocol/inspector {exe} demo");
            eprintln!("  or add it to Claude Code:       claude mcp add proxmox-demo -- {exe} demo");
        }
        transport => {
            let addr = config.listen_addr()?;
            let (url, flag) = match transport {
                "sse" => (format!("http://{addr}/sse"), "sse"),
                _ => (format!("http://{addr}{}", config.mcp_path()), "http"),
            };
            eprintln!(
                "proxmcp demo: serving MCP over {transport} against a simulated 3-node cluster ({})",
                server.base_url()
            );
            eprintln!(
                "  list the tools:           npx @modelcontextprotocol/inspector --cli {url} --transport {flag} --method tools/list"
            );
            eprintln!("  or add it to Claude Code: claude mcp add --transport {flag} proxmox-demo {url}");
        }
    }
    serve(&config).await
}

fn make_runtime(config: &Config) -> Result<Runtime> {
    Ok(Runtime::new(config.limits(), compile_cache(config)?)?)
}

/// The configured compile cache, or `None` when it is off.
fn compile_cache(config: &Config) -> Result<Option<CompileCache>> {
    Ok(config.cache_dir(&env_var).map(|dir| CompileCache::open(&dir)).transpose()?)
}

fn make_client(config: &Config) -> Result<Option<PveClient>> {
    match config.pve()? {
        Some(pve_config) => Ok(Some(PveClient::new(pve_config)?)),
        None => Ok(None),
    }
}

async fn build_gate(config: &Config, pve: Option<PveClient>) -> Result<Gate> {
    let runtime = make_runtime(config)?;
    let sources = plugins::sources(config)?;
    let rbac = Rbac::from_config(&config.rbac)?;
    let rate = config.rate_limit.per_minute.and_then(|n| RateLimits::new(n, config.rate_limit.burst));
    Ok(Gate::build(runtime, &sources, pve, policy(config)).await?.with_access(rbac, rate)?)
}

fn policy(config: &Config) -> Policy {
    Policy {
        read_only: config.read_only(),
        task_wait: config.task_wait(),
        grants: config.grants.clone(),
        tools: ToolSelection { allow: config.tools.allow.clone(), deny: config.tools.deny.clone() },
        protection: Protection {
            tag: match config.protect.tag.as_deref() {
                None => Some("protected".into()),
                Some("") => None,
                Some(t) => Some(t.to_string()),
            },
            vmids: config.protect.vmids.iter().copied().collect(),
            unknown_writes: config.protect.unknown_writes,
        },
    }
}

fn token_new(config: &Config, principal: &str, role: &str) -> Result<()> {
    if principal.trim().is_empty() || principal.contains(['"', '\\', '\n']) {
        bail!("the principal must be a plain name such as alice or ci-bot");
    }
    let rbac = Rbac::from_config(&config.rbac)?;
    if rbac.role(role).is_none() {
        bail!("role {role:?} is not defined; use admin, viewer or define [rbac.roles.{role}] first");
    }
    let token = proxmcp::gate::access::new_token().context("cannot draw random bytes for the token")?;
    println!("token (give it to {principal}; it is not stored anywhere): {token}");
    println!("\nadd to the proxmcp config:\n");
    println!("[[rbac.tokens]]");
    println!("principal = {principal:?}");
    println!("role = {role:?}");
    println!("sha256 = \"{}\"", proxmcp::gate::access::hash_token(&token));
    println!("\nclients send it as: Authorization: Bearer {token}");
    Ok(())
}

fn audit_verify(file: &std::path::Path, key: Option<&std::path::Path>) -> Result<()> {
    use proxmcp::gate::audit;
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let key_file = key.map_or_else(|| audit::default_key_file(file), std::path::Path::to_path_buf);
    let key = std::fs::read_to_string(&key_file)
        .ok()
        .and_then(|t| hex::decode(t.trim()).ok())
        .with_context(|| format!("cannot read the chain key {} (pass --key FILE)", key_file.display()))?;
    let head_file = audit::head_file(file);
    let head = std::fs::read(&head_file)
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| Some((v["seq"].as_u64()?, v["hash"].as_str()?.to_string())));
    if head.is_none() {
        eprintln!(
            "warning: no head file {}; a cut-off end can only be found against a head anchored elsewhere (the server log's \"audit chain head\" lines)",
            head_file.display()
        );
    }
    match audit::verify(&bytes, &key, head) {
        audit::Verdict::Intact { lines, head } => {
            println!("{}: {lines} lines, chain intact, head seq {lines} hash {head}", file.display());
            Ok(())
        }
        audit::Verdict::Broken { line: 0, reason } => bail!("{}: the log {reason}", file.display()),
        audit::Verdict::Broken { line, reason } => {
            bail!("{}: line {line} {reason}; every line from there on is untrusted", file.display())
        }
    }
}

async fn serve(config: &Config) -> Result<()> {
    let Some(client) = make_client(config)? else {
        bail!(pve::ConfigError::MissingBaseUrl);
    };
    let log = proxmcp::gate::AuditLog::open(
        config.audit.file.as_deref(),
        config.audit.redact.clone(),
        config.audit.key_file.as_deref(),
    )?;
    let gate = build_gate(config, Some(client.clone()))
        .await?
        .with_audit(proxmcp::gate::Auditing { log: Arc::new(log), fail_open: config.audit.fail_open.unwrap_or(false) });
    for skipped in gate.skipped() {
        tracing::info!(origin = %skipped.origin, "plugin not loaded: {}", skipped.reason);
    }
    let tools = gate.tools().count();
    let plugins = gate.plugins().count();
    let rbac = gate.rbac().clone();
    let server = ProxmcpServer::new(Arc::new(gate));
    let grace = std::time::Duration::from_secs_f64(config.mcp.shutdown_grace_secs.unwrap_or(10.0));
    let transport = match config.transport() {
        "stdio" => {
            tracing::info!(tools, plugins, read_only = config.read_only(), transport = "stdio", "proxmcp ready");
            server.serve_stdio(shutdown_signal(), grace).await.context("the MCP session ended with an error")?;
            return Ok(());
        }
        "sse" => HttpTransport::Sse,
        _ => HttpTransport::Streamable,
    };
    let ready_client = client.clone();
    let options = HttpOptions {
        addr: config.listen_addr()?,
        path: config.mcp_path().to_string(),
        transport,
        allowed_hosts: config.mcp.allowed_hosts.clone(),
        allowed_origins: config.mcp.allowed_origins.clone(),
        allow_unauthenticated: config.mcp.allow_unauthenticated.unwrap_or(false),
        limits: http_limits(config),
        ready: Arc::new(move || {
            let client = ready_client.clone();
            Box::pin(async move {
                client
                    .request(pve::Method::Get, &["version"], &serde_json::Value::Null)
                    .await
                    .map(|_| ())
                    .map_err(|e| format!("Proxmox at {} is not usable: {e}", client.api_root()))
            })
        }),
    };
    let http = HttpServer::bind(server.clone(), rbac, options).await?;
    let addr = http.local_addr()?;
    let endpoint = match transport {
        HttpTransport::Sse => format!("http://{addr}/sse"),
        HttpTransport::Streamable => format!("http://{addr}{}", config.mcp_path()),
    };
    tracing::info!(tools, plugins, read_only = config.read_only(), transport = config.transport(), %endpoint, "proxmcp ready");
    // The test-suite and scripts read this line to find a port chosen with MCP_PORT=0.
    eprintln!("proxmcp: serving MCP at {endpoint}");
    let draining = server.clone();
    http.run(async move {
        shutdown_signal().await;
        draining.drain(grace).await;
    })
    .await?;
    tracing::info!("proxmcp stopped");
    Ok(())
}

/// SIGINT or SIGTERM.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("cannot watch SIGTERM: {e}");
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    tracing::info!("shutdown requested");
}

async fn plugins_list(config: &Config, json: bool) -> Result<()> {
    let gate = build_gate(config, None).await?;
    if json {
        let loaded: Vec<_> = gate
            .plugins()
            .map(|p| {
                serde_json::json!({
                    "name": p.manifest.name,
                    "version": p.manifest.version,
                    "contract": p.manifest.contract,
                    "origin": p.origin,
                    "description": p.manifest.description,
                    "grants": p.manifest.grants,
                    "tools": p.tools.iter().map(|t| &t.name).collect::<Vec<_>>(),
                })
            })
            .collect();
        let out = serde_json::json!({"loaded": loaded, "skipped": gate.skipped()});
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    for p in gate.plugins() {
        let m = &p.manifest;
        println!("{} {} (contract {}, {})", m.name, m.version, m.contract, p.origin);
        if !m.description.is_empty() {
            println!("  {}", m.description);
        }
        println!("  grants: {}", if m.grants.is_empty() { "none".to_string() } else { m.grants.join(", ") });
        let tools: Vec<&str> = p.tools.iter().map(|t| t.name.as_str()).collect();
        println!("  tools:  {}", tools.join(", "));
    }
    for s in gate.skipped() {
        println!("{} (skipped, {}): {}", s.name.as_deref().unwrap_or("?"), s.origin, s.reason);
    }
    Ok(())
}

async fn plugins_inspect(config: &Config, file: &std::path::Path) -> Result<()> {
    let source = plugins::read_file(file)?;
    let runtime = make_runtime(config)?;
    println!("file:      {}", file.display());
    println!("host loads contracts: {}", SUPPORTED_CONTRACTS.join(", "));
    let inspection = runtime.inspect(&source).context("the host would refuse this plugin")?;
    let m = &inspection.manifest;
    println!("plugin:    {} {}", m.name, m.version);
    println!("contract:  proxmcp:plugin@{}", m.contract);
    if !m.description.is_empty() {
        println!("about:     {}", m.description);
    }
    println!("grants:    {}", if m.grants.is_empty() { "none".to_string() } else { m.grants.join(", ") });
    println!("imports:   {}", inspection.imports.join(", "));
    let plugin = runtime.load(&source).await.context("the host would refuse this plugin")?;
    for t in &plugin.tools {
        let h = &t.hints;
        println!(
            "tool {} — {} [read_only={} destructive={} idempotent={}]",
            t.name, t.description, h.read_only, h.destructive, h.idempotent
        );
        println!("  input:  {}", serde_json::Value::Object(t.input_schema.clone()));
        if let Some(out) = &t.output_schema {
            println!("  output: {}", serde_json::Value::Object(out.clone()));
        }
    }
    let policy = policy(config);
    let verdict = match proxmcp::gate::admit(&policy, &source, m) {
        Ok(proxmcp::gate::Admission::Load(grants)) => {
            let granted: Vec<String> = grants.iter().map(ToString::to_string).collect();
            format!("yes, with grants: {}", if granted.is_empty() { "none".into() } else { granted.join(", ") })
        }
        Ok(proxmcp::gate::Admission::Skip(reason)) => format!("no: {reason}"),
        Err(e) => format!("no: {e}"),
    };
    println!("loads under the current config: {verdict}");
    Ok(())
}

fn plugin_new(name: &str, lang: proxmcp::scaffold::Lang) -> Result<()> {
    let (dir, files) = proxmcp::scaffold::new_plugin(std::path::Path::new("."), name, lang)?;
    println!("wrote {} files into {}:", files.len(), dir.display());
    for f in &files {
        println!("  {f}");
    }
    println!("\nnext: read {}/README.md (build, then `proxmcp plugin test`)", dir.display());
    Ok(())
}

async fn plugin_test(
    config: &Config,
    file: &std::path::Path,
    calls: Option<&std::path::Path>,
    json: bool,
) -> Result<()> {
    let source = plugins::read_file(file)?;
    let calls = match calls {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
            Some(proxmcp::testkit::parse_calls(&text).with_context(|| path.display().to_string())?)
        }
        None => None,
    };
    let report = proxmcp::testkit::run(source, calls, compile_cache(config)?).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("plugin {} against a simulated 3-node cluster", report.plugin);
        println!("grants: {}", report.grants.join(", "));
        println!("tools:  {}", report.tools.join(", "));
        for c in &report.calls {
            let mark = if c.passed { "PASS" } else { "FAIL" };
            let outcome = if c.ok { "ok" } else { "error" };
            println!("\n{mark} {} {} -> {outcome}: {}", c.tool, c.arguments, c.text);
            if let Some(why) = &c.failure {
                println!("  failed: {why}");
            }
            if let Some(s) = &c.structured {
                println!("  result: {s}");
            }
            for r in &c.requests {
                println!(
                    "  {} {} {}",
                    r["method"].as_str().unwrap_or("?"),
                    r["path"].as_str().unwrap_or("?"),
                    r["params"]
                );
            }
        }
        let failed = report.calls.iter().filter(|c| !c.passed).count();
        println!("\n{} calls, {failed} failed", report.calls.len());
    }
    if !report.passed() {
        bail!("some calls did not end as expected");
    }
    Ok(())
}

async fn config_check(config: &Config) -> Result<()> {
    println!("transport: {}", config.transport());
    println!("read-only: {}", config.read_only());
    let client = make_client(config)?;
    let gate = build_gate(config, client.clone()).await?;
    println!(
        "plugins:   {} loaded, {} skipped, {} tools",
        gate.plugins().count(),
        gate.skipped().len(),
        gate.tools().count()
    );
    let Some(client) = client else {
        bail!(pve::ConfigError::MissingBaseUrl);
    };
    let version = client
        .request(pve::Method::Get, &["version"], &serde_json::Value::Null)
        .await
        .with_context(|| format!("Proxmox at {} did not answer", client.api_root()))?;
    println!(
        "proxmox:   {} reachable, version {}",
        client.api_root(),
        version["version"].as_str().unwrap_or("unknown")
    );
    println!("configuration OK");
    Ok(())
}
