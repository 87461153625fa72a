//! `proxmcp serve`: MCP over stdio or HTTP until a signal, then a drain.

use std::sync::Arc;

use anyhow::{Context, Result, bail};
use proxmcp::config::Config;
use proxmcp::gate::Target;
use proxmcp::mcp::ProxmcpServer;
use proxmcp::mcp::http::{HttpOptions, HttpServer, HttpTransport};
use proxmcp::pve;

use super::setup::{build_gate, make_client};

/// Serves until a signal; `hints` prints what to run against an HTTP
/// endpoint once it is bound.
pub(crate) async fn serve(config: &Config, hints: Option<&dyn Fn(&str)>) -> Result<()> {
    let Some(client) = make_client(config)? else {
        bail!(pve::ConfigError::MissingBaseUrl);
    };
    let log = proxmcp::gate::AuditLog::open(
        config.audit.file.as_deref(),
        config.audit.redact.clone(),
        config.audit.key_file.as_deref(),
    )?;
    let mut gate = build_gate(config, Some(client.clone()))
        .await?
        .with_audit(proxmcp::gate::Auditing { log: Arc::new(log), fail_open: config.audit.fail_open.unwrap_or(false) });
    for skipped in gate.skipped() {
        tracing::info!(origin = %skipped.origin, "plugin not loaded: {}", skipped.reason);
    }
    if config.tools.hide_unauthorized == Some(true) {
        // A convenience, not a gate (Proxmox refuses what the credentials
        // lack either way): when the privileges cannot be read, keep every
        // tool and say so.
        match gate.hide_unauthorized().await {
            Ok(hidden) if hidden.is_empty() => tracing::info!("hide_unauthorized: the credentials can use every tool"),
            Ok(hidden) => tracing::info!(
                "hide_unauthorized: left out {} tools the credentials cannot use: {} (proxmcp doctor says what to grant)",
                hidden.len(),
                hidden.join(", ")
            ),
            Err(e) => {
                tracing::warn!("hide_unauthorized: cannot read the credentials' permissions ({e}); offering every tool")
            }
        }
    }
    let targets: Vec<Arc<Target>> = gate.targets().cloned().collect();
    for t in &targets {
        match &t.pve {
            Some(_) if t.caller_credentials => {
                tracing::info!(target_name = %t.name, "each call carries the caller's own Proxmox token")
            }
            Some(client) => check_proxmox(&t.name, client).await,
            None => {}
        }
    }
    let tools = gate.tools().count();
    let plugins = gate.plugins().count();
    let rbac = gate.rbac().clone();
    let server = ProxmcpServer::new(Arc::new(gate));
    let grace =
        config.mcp.shutdown_grace_secs.map_or(proxmcp::defaults::SHUTDOWN_GRACE, std::time::Duration::from_secs_f64);
    let transport = match config.transport() {
        "stdio" => {
            tracing::info!(tools, plugins, read_only = config.read_only(), transport = "stdio", "proxmcp ready");
            server.serve_stdio(shutdown_signal(), grace).await.context("the MCP session ended with an error")?;
            return Ok(());
        }
        "sse" => HttpTransport::Sse,
        _ => HttpTransport::Streamable,
    };
    let options = HttpOptions {
        addr: config.listen_addr()?,
        path: config.mcp_path().to_string(),
        transport,
        allowed_hosts: config.mcp.allowed_hosts.clone(),
        allowed_origins: config.mcp.allowed_origins.clone(),
        allow_unauthenticated: config.mcp.allow_unauthenticated.unwrap_or(false),
        limits: http_limits(config),
        ready: Arc::new(move || {
            let targets = targets.clone();
            Box::pin(async move {
                let checks = targets.iter().filter_map(|t| Some((t, t.pve.clone()?))).map(|(t, client)| async move {
                    let answer = client.request(pve::Method::Get, &["version"], &serde_json::Value::Null).await;
                    // Without a caller's token, an answer at all is ready.
                    let answer = match answer {
                        Err(pve::ApiError::Unauthorized(_)) if t.caller_credentials => Ok(serde_json::Value::Null),
                        other => other,
                    };
                    let result =
                        answer.map(|_| ()).map_err(|e| format!("Proxmox at {} is not usable: {e}", client.api_root()));
                    (t.name.clone(), result)
                });
                futures::future::join_all(checks).await
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
    if let Some(hints) = hints {
        hints(&endpoint);
    }
    let draining = server.clone();
    http.run(async move {
        shutdown_signal().await;
        draining.drain(grace).await;
    })
    .await?;
    tracing::info!("proxmcp stopped");
    Ok(())
}

pub(crate) fn http_limits(config: &Config) -> proxmcp::mcp::http::HttpLimits {
    use proxmcp::defaults::*;
    use proxmcp::mcp::http::HttpLimits;
    use std::time::Duration;
    let secs = |v: Option<f64>, default: Duration| v.map_or(default, |s| Duration::from_secs_f64(s.max(0.1)));
    let m = &config.mcp;
    HttpLimits {
        header_timeout: secs(m.header_timeout_secs, HEADER_TIMEOUT),
        body_timeout: secs(m.body_timeout_secs, BODY_TIMEOUT),
        max_connections: m.max_connections.unwrap_or(MAX_CONNECTIONS),
        max_sessions: m.max_sessions.unwrap_or(MAX_SESSIONS),
        max_sessions_per_principal: m.max_sessions_per_principal.unwrap_or(MAX_SESSIONS_PER_PRINCIPAL),
        session_idle: secs(m.session_idle_secs, SESSION_IDLE),
    }
}

/// SIGINT or SIGTERM.
pub(crate) async fn shutdown_signal() {
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

/// Says before "ready" whether Proxmox answers with these credentials: a
/// wrong secret is reported at start, not at the first call. A cluster that
/// cannot be reached now is no reason not to start.
async fn check_proxmox(target: &str, client: &pve::PveClient) {
    let root = client.api_root();
    let asked = client.request(pve::Method::Get, &["version"], &serde_json::Value::Null);
    // Bounded: a cluster that is down must not hold up the start for long.
    match tokio::time::timeout(std::time::Duration::from_secs(2), asked).await {
        Ok(Ok(v)) => {
            let version = v.get("version").and_then(serde_json::Value::as_str).unwrap_or("?").to_string();
            tracing::info!(target_name = target, %root, version, "Proxmox answers; the credentials are accepted");
        }
        Ok(Err(e @ (pve::ApiError::Unauthorized(_) | pve::ApiError::Forbidden(_)))) => {
            tracing::error!(target_name = target, %root, "Proxmox refused the credentials; every call will fail until they are fixed: {e}");
        }
        Ok(Err(e)) => {
            tracing::warn!(target_name = target, %root, "Proxmox cannot be used now; calls will fail until it can: {e}")
        }
        Err(_) => {
            tracing::warn!(target_name = target, %root, "Proxmox did not answer within 2 s; calls will fail until it does")
        }
    }
}
