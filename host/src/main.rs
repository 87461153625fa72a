//! The `proxmcp` command line.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, Subcommand};
use proxmcp::config::{Config, Overrides};

mod cli;

use cli::admin::{audit_verify, config_check, token_new};
use cli::env::{env_var, init_logging, read_dotenv};
use cli::plugin::{plugin_new, plugin_test, plugins_inspect, plugins_list};
use cli::serve::serve;
use cli::sim::{demo, run_sim};

// glibc's malloc makes a thread that frees another thread's memory take
// that arena's lock; a call's futures and buffers move between the tokio
// workers, so under load the workers queued on those locks (futex sleeps,
// a context switch each). mimalloc frees across threads without a lock.
// 32 HTTP clients: 1.4-2.1 context switches per call -> 1.1-1.3.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    /// Check everything a deployment needs: TLS trust, PVE version, quorum,
    /// clock skew, plugins, and which tools the credentials can use (exit
    /// status 1 when a loaded tool would fail with 403).
    Doctor {
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
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

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    init_logging(matches!(cli.command, Command::Serve { .. } | Command::Demo { .. } | Command::Sim(_)));
    read_dotenv(cli.config.as_deref());
    let config = match load_config(&cli) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("error: {e:#}");
            return std::process::ExitCode::FAILURE;
        }
    };
    // One stdio session: a current-thread runtime keeps each call on one
    // thread, without the hand-offs between workers (`just bench`: less
    // server CPU per call). HTTP serves many clients at once on every core.
    let stdio_session = matches!(cli.command, Command::Serve { .. }) && config.transport() == "stdio";
    let mut builder = if stdio_session {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli, config)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// The configuration: file < environment < the command line's flags.
fn load_config(cli: &Cli) -> Result<Config> {
    let transport = match &cli.command {
        Command::Serve { transport } | Command::Demo { transport, .. } => transport.clone(),
        _ => None,
    };
    let overrides =
        Overrides { read_only: cli.read_only, plugin_files: cli.plugins.clone(), no_cache: cli.no_cache, transport };
    Ok(Config::load(cli.config.as_deref(), &env_var, &overrides)?)
}

async fn run(cli: Cli, config: Config) -> Result<()> {
    if let Some(warning) = cli.config.as_deref().and_then(proxmcp::config::secret_file_warning) {
        tracing::warn!("{warning}");
    }
    match cli.command {
        Command::Serve { .. } => serve(&config, None).await,
        Command::Plugins(PluginsCommand::List { json }) => plugins_list(&config, json).await,
        Command::Plugins(PluginsCommand::Inspect { file }) => plugins_inspect(&config, &file).await,
        Command::Plugin(PluginCommand::New { name, lang }) => plugin_new(&name, lang),
        Command::Plugin(PluginCommand::Test { file, calls, json }) => {
            plugin_test(&config, &file, calls.as_deref(), json).await
        }
        Command::Config(ConfigCommand::Check) => config_check(&config).await,
        Command::Doctor { json } => cli::doctor::doctor(&config, json).await,
        Command::Audit(AuditCommand::Verify { file, key }) => audit_verify(&file, key.as_deref()),
        Command::Token(TokenCommand::New { principal, role }) => token_new(&config, &principal, &role),
        Command::Sim(args) => run_sim(args).await,
        Command::Demo { time_scale, seed, .. } => demo(config, time_scale, seed.as_deref()).await,
    }
}
