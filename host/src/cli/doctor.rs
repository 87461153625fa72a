//! `proxmcp doctor`: everything that decides whether the deployment's tools
//! will work against this cluster — TLS trust, PVE version, quorum, clock
//! skew, the plugins loaded, and the permissions doctor's report — with a
//! non-zero exit when a loaded tool cannot work.

use anyhow::{Context, Result, bail};
use proxmcp::config::Config;
use proxmcp::pve::{self, Method, PveClient};
use serde_json::{Value, json};

use super::setup::{build_gate, make_client};

/// Clock skew past which tickets and TOTP start to fail.
const SKEW_LIMIT_SECS: i64 = 30;

/// How the node's certificate is trusted: the client's own TLS setting.
fn trust(config: &Config, client: &PveClient) -> Result<String> {
    if client.api_root().starts_with("http://") {
        return Ok("plain HTTP, no TLS (allow_insecure_http)".into());
    }
    Ok(config.pve()?.map_or_else(|| "not configured".into(), |p| p.tls.describe()))
}

async fn get(client: &PveClient, path: &[&str]) -> Result<Value, pve::ApiError> {
    client.request(Method::Get, path, &Value::Null).await
}

/// Quorum from `/cluster/status`: a cluster's `quorate`, or a single node.
fn quorum(status: &Value) -> String {
    let entries = status.as_array().map(Vec::as_slice).unwrap_or_default();
    match entries.iter().find(|e| e["type"] == "cluster") {
        Some(c) if c["quorate"].as_u64() == Some(1) => {
            format!(
                "quorate ({} nodes, cluster {})",
                c["nodes"].as_u64().unwrap_or(0),
                c["name"].as_str().unwrap_or("?")
            )
        }
        Some(c) => format!(
            "NOT quorate (cluster {}): writes will fail until quorum returns",
            c["name"].as_str().unwrap_or("?")
        ),
        None => "single node (no cluster)".into(),
    }
}

pub(crate) async fn doctor(config: &Config, as_json: bool) -> Result<()> {
    let client = make_client(config)?.ok_or(pve::ConfigError::MissingBaseUrl)?;
    let gate = build_gate(config, Some(client.clone())).await?;
    let plugins: Vec<Value> = gate
        .plugins()
        .map(|p| json!({"name": p.manifest.name, "version": p.manifest.version, "tools": p.tools.len()}))
        .collect();
    let skipped: Vec<String> = gate
        .skipped()
        .iter()
        .map(|s| format!("{} ({}): {}", s.name.as_deref().unwrap_or("?"), s.origin, s.reason))
        .collect();
    let tls = trust(config, &client)?;
    let version = get(&client, &["version"])
        .await
        .with_context(|| format!("Proxmox at {} did not answer ({tls})", client.api_root()))?;
    let status = get(&client, &["cluster", "status"]).await;
    let nodes = get(&client, &["nodes"]).await.unwrap_or(Value::Null);
    let online = nodes
        .as_array()
        .and_then(|n| n.iter().find(|n| n["status"] == "online"))
        .and_then(|n| n["node"].as_str().map(str::to_string));
    let skew = match &online {
        Some(node) => get(&client, &["nodes", node, "time"]).await.ok().and_then(|t| t["time"].as_i64()).map(|t| {
            let here = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
            t - i64::try_from(here).unwrap_or(i64::MAX)
        }),
        None => None,
    };
    let report = gate.permissions_report().await.context("cannot read the credentials' permissions")?;
    let quorum = match &status {
        Ok(s) => quorum(s),
        Err(e) => format!("unknown ({e})"),
    };
    if as_json {
        let out = json!({
            "proxmox": client.api_root(),
            "tls": tls,
            "version": version["version"],
            "quorum": quorum,
            "clock_skew_secs": skew,
            "read_only": config.read_only(),
            "plugins": plugins,
            "skipped": skipped,
            "permissions": report,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!("proxmox:     {}", client.api_root());
        println!("tls:         {tls}");
        println!("version:     PVE {}", version["version"].as_str().unwrap_or("unknown"));
        println!("quorum:      {quorum}");
        match (skew, &online) {
            (Some(s), Some(node)) if s.abs() > SKEW_LIMIT_SECS => {
                println!(
                    "clock:       {node} is {s:+} s off this host's clock: fix NTP (tickets and TOTP fail past a few minutes)"
                )
            }
            (Some(s), Some(node)) => println!("clock:       {node} within {} s of this host", s.abs()),
            _ => println!("clock:       not checked (no online node answered /time)"),
        }
        println!("read-only:   {}", config.read_only());
        for p in &plugins {
            println!(
                "plugin:      {} {} ({} tools)",
                p["name"].as_str().unwrap_or(""),
                p["version"].as_str().unwrap_or(""),
                p["tools"]
            );
        }
        for s in &skipped {
            println!("skipped:     {s}");
        }
        println!("credentials: {}", report.credentials);
        println!("works:       {} tools", report.works.len());
        for f in &report.fails {
            println!("FAILS (403): {} — needs {}", f.tool, f.missing.join("; "));
        }
        for p in &report.partly {
            println!("partly:      {} — {}", p.tool, p.only.join("; "));
        }
        for u in &report.unknown {
            println!("unknown:     {} — {}", u.tool, u.why);
        }
        for g in &report.grant {
            println!("grant:       {}   # for {}", g.command, g.tools.join(", "));
        }
        if let Some(note) = &report.note {
            println!("note:        {note}");
        }
    }
    if !report.fails.is_empty() {
        bail!(
            "{} loaded tools will fail with 403 ({}); grant what is listed above, or leave those tools out with [tools] deny or hide_unauthorized = true",
            report.fails.len(),
            report.fails.iter().map(|f| f.tool.as_str()).collect::<Vec<_>>().join(", ")
        );
    }
    Ok(())
}
