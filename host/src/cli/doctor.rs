//! `proxmcp doctor`: everything that decides whether the deployment's tools
//! will work against this cluster — TLS trust, PVE version, quorum, clock
//! skew, the plugins loaded, and the permissions doctor's report — with a
//! non-zero exit when a loaded tool cannot work.

use anyhow::{Context, Result, bail};
use proxmcp::config::{Config, TargetSettings};
use proxmcp::pve::{self, Method, PveClient};
use serde_json::{Value, json};

use super::setup::{build_gate, make_client};

/// Clock skew past which tickets and TOTP start to fail.
const SKEW_LIMIT_SECS: i64 = 30;

/// How the node's certificate is trusted: the client's own TLS setting.
fn trust(client: &PveClient, settings: Option<&TargetSettings>) -> String {
    if client.api_root().starts_with("http://") {
        return "plain HTTP, no TLS (allow_insecure_http)".into();
    }
    settings.map_or_else(|| "not configured".into(), |s| s.pve.tls.describe())
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
    let gate = build_gate(config, Some(client)).await?;
    let settings = config.targets()?;
    let plugins: Vec<Value> = gate
        .plugins()
        .map(|p| json!({"name": p.manifest.name, "version": p.manifest.version, "tools": p.tools.len()}))
        .collect();
    let skipped: Vec<String> = gate
        .skipped()
        .iter()
        .map(|s| format!("{} ({}): {}", s.name.as_deref().unwrap_or("?"), s.origin, s.reason))
        .collect();
    let several = gate.targets().count() > 1;
    let mut sections = Vec::new();
    let mut failing = Vec::new();
    for target in gate.targets() {
        let Some(client) = &target.pve else { continue };
        if target.caller_credentials {
            // Its permissions are each caller's; there is no one to judge.
            if !as_json {
                println!("target:      {} takes each caller's own token; not examined", target.name);
            }
            sections.push(json!({"target": target.name, "caller_credentials": true}));
            continue;
        }
        let tls = trust(client, settings.iter().find(|s| s.name == target.name));
        let (section, lines) = examine_target(&gate, target, client, tls).await?;
        for f in section["permissions"]["fails"].as_array().into_iter().flatten() {
            let tool = f["tool"].as_str().unwrap_or_default();
            failing.push(if several { format!("{tool} on {}", target.name) } else { tool.to_string() });
        }
        if !as_json {
            if several {
                println!("target:      {}{}", target.name, if target.read_only { " (read-only)" } else { "" });
            }
            for line in lines {
                println!("{line}");
            }
        }
        sections.push(section);
    }
    if as_json {
        let mut out = match (several, sections.first()) {
            (false, Some(only)) => only.clone(),
            _ => json!({ "targets": sections }),
        };
        out["read_only"] = json!(config.read_only());
        out["plugins"] = json!(plugins);
        out["skipped"] = json!(skipped);
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
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
    }
    if !failing.is_empty() {
        bail!(
            "{} loaded tools will fail with 403 ({}); grant what is listed above, or leave those tools out with [tools] deny or hide_unauthorized = true",
            failing.len(),
            failing.join(", ")
        );
    }
    Ok(())
}

/// One target's part of the report: its JSON, and its lines for people.
async fn examine_target(
    gate: &proxmcp::gate::Gate,
    target: &proxmcp::gate::Target,
    client: &PveClient,
    tls: String,
) -> Result<(Value, Vec<String>)> {
    let version = get(client, &["version"])
        .await
        .with_context(|| format!("Proxmox at {} did not answer ({tls})", client.api_root()))?;
    let status = get(client, &["cluster", "status"]).await;
    let nodes = get(client, &["nodes"]).await.unwrap_or(Value::Null);
    let online = nodes
        .as_array()
        .and_then(|n| n.iter().find(|n| n["status"] == "online"))
        .and_then(|n| n["node"].as_str().map(str::to_string));
    let skew = match &online {
        Some(node) => get(client, &["nodes", node, "time"]).await.ok().and_then(|t| t["time"].as_i64()).map(|t| {
            let here = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
            t - i64::try_from(here).unwrap_or(i64::MAX)
        }),
        None => None,
    };
    let report = gate.permissions_report_on(target).await.context("cannot read the credentials' permissions")?;
    let quorum = match &status {
        Ok(s) => quorum(s),
        Err(e) => format!("unknown ({e})"),
    };
    let mut lines = vec![
        format!("proxmox:     {}", client.api_root()),
        format!("tls:         {tls}"),
        format!("version:     PVE {}", version["version"].as_str().unwrap_or("unknown")),
        format!("quorum:      {quorum}"),
    ];
    lines.push(match (skew, &online) {
        (Some(s), Some(node)) if s.abs() > SKEW_LIMIT_SECS => {
            format!("clock:       {node} is {s:+} s off this host's clock: fix NTP (tickets and TOTP fail past a few minutes)")
        }
        (Some(s), Some(node)) => format!("clock:       {node} within {} s of this host", s.abs()),
        _ => "clock:       not checked (no online node answered /time)".to_string(),
    });
    lines.push(format!("credentials: {}", report.credentials));
    lines.push(format!("works:       {} tools", report.works.len()));
    for f in &report.fails {
        lines.push(format!("FAILS (403): {} — needs {}", f.tool, f.missing.join("; ")));
    }
    for p in &report.partly {
        lines.push(format!("partly:      {} — {}", p.tool, p.only.join("; ")));
    }
    for u in &report.unknown {
        lines.push(format!("unknown:     {} — {}", u.tool, u.why));
    }
    for g in &report.grant {
        lines.push(format!("grant:       {}   # for {}", g.command, g.tools.join(", ")));
    }
    if let Some(note) = &report.note {
        lines.push(format!("note:        {note}"));
    }
    let section = json!({
        "target": target.name,
        "proxmox": client.api_root(),
        "tls": tls,
        "version": version["version"],
        "quorum": quorum,
        "clock_skew_secs": skew,
        "target_read_only": target.read_only,
        "permissions": report,
    });
    Ok((section, lines))
}
