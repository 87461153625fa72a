//! `proxmcp plugins list|inspect` and `proxmcp plugin new|test`.

use anyhow::{Context, Result, bail};
use proxmcp::config::Config;
use proxmcp::plugins;
use proxmcp::runtime::SUPPORTED_CONTRACTS;

use super::setup::{build_gate, compile_cache, make_runtime, policy};

pub(crate) async fn plugins_list(config: &Config, json: bool) -> Result<()> {
    let gate = build_gate(config, None).await?;
    // Only offered tools count: `[tools]` may hide some of a plugin's.
    let offered: std::collections::BTreeMap<&str, usize> =
        gate.tools().map(|t| (t.name.as_str(), proxmcp::mcp::tools_list_bytes(t))).collect();
    let share = |p: &proxmcp::runtime::LoadedPlugin| -> usize {
        p.tools.iter().filter_map(|t| offered.get(t.name.as_str())).sum()
    };
    let total: usize = offered.values().sum();
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
                    "tools_list_bytes": share(p),
                })
            })
            .collect();
        let out = serde_json::json!({"loaded": loaded, "skipped": gate.skipped(), "tools_list_bytes": total});
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
        let offered = &p.resources;
        let uris: Vec<&str> = offered
            .resources
            .iter()
            .map(|r| r.uri.as_str())
            .chain(offered.templates.iter().map(|t| t.uri.as_str()))
            .collect();
        if !uris.is_empty() {
            println!("  resources: {}", uris.join(", "));
        }
        println!("  tools/list share: {} bytes", share(p));
    }
    println!("tools/list: {total} bytes for {} tools", offered.len());
    for s in gate.skipped() {
        println!("{} (skipped, {}): {}", s.name.as_deref().unwrap_or("?"), s.origin, s.reason);
    }
    Ok(())
}

pub(crate) async fn plugins_inspect(config: &Config, file: &std::path::Path) -> Result<()> {
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
    for r in &plugin.resources.resources {
        println!("resource {} — {} [{}, fresh {} ms]", r.uri, r.description, r.mime_type, r.ttl_ms);
    }
    for t in &plugin.resources.templates {
        println!("resource template {} — {} [{}, fresh {} ms]", t.uri, t.description, t.mime_type, t.ttl_ms);
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

pub(crate) fn plugin_new(name: &str, lang: proxmcp::scaffold::Lang) -> Result<()> {
    let (dir, files) = proxmcp::scaffold::new_plugin(std::path::Path::new("."), name, lang)?;
    println!("wrote {} files into {}:", files.len(), dir.display());
    for f in &files {
        println!("  {f}");
    }
    println!("\nnext: read {}/README.md (build, then `proxmcp plugin test`)", dir.display());
    Ok(())
}

pub(crate) async fn plugin_test(
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
