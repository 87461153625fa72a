//! `proxmcp sim` and `proxmcp demo`: the embedded simulator alone, or the
//! whole server against it.

use anyhow::{Context, Result, bail};
use proxmcp::config::Config;
use proxmcp::sim;

use super::serve::serve;
use crate::SimArgs;

pub(crate) fn load_seed(path: Option<&std::path::Path>) -> Result<sim::Seed> {
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

pub(crate) fn check_time_scale(scale: f64) -> Result<()> {
    if !(0.0..=100.0).contains(&scale) {
        bail!("--time-scale {scale} is out of range; use 0 (instant) to 100");
    }
    Ok(())
}

pub(crate) async fn run_sim(args: SimArgs) -> Result<()> {
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

pub(crate) async fn demo(mut config: Config, time_scale: f64, seed: Option<&std::path::Path>) -> Result<()> {
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
            eprintln!(
                "proxmcp demo: serving MCP over {transport} against a simulated 3-node cluster ({})",
                server.base_url()
            );
        }
    }
    // The HTTP hints name the bound address, so MCP_PORT=0 shows the real port.
    // With bearer tokens configured, the hints show where the token goes.
    let bearer = !config.rbac.tokens.is_empty();
    let hints = move |endpoint: &str| {
        let flag = if endpoint.ends_with("/sse") { "sse" } else { "http" };
        let (inspector, claude) = if bearer {
            (" --header \"Authorization: Bearer YOUR_TOKEN\"", " --header \"Authorization: Bearer YOUR_TOKEN\"")
        } else {
            ("", "")
        };
        eprintln!(
            "  list the tools:           npx @modelcontextprotocol/inspector --cli {endpoint} --transport {flag}{inspector} --method tools/list"
        );
        eprintln!("  or add it to Claude Code: claude mcp add --transport {flag}{claude} proxmox-demo {endpoint}");
    };
    serve(&config, Some(&hints)).await
}
