//! `proxmcp token new`, `proxmcp audit verify` and `proxmcp config check`.

use anyhow::{Context, Result, bail};
use proxmcp::config::Config;
use proxmcp::gate::Rbac;
use proxmcp::pve;

use super::setup::{build_gate, make_client};

pub(crate) fn token_new(config: &Config, principal: &str, role: &str) -> Result<()> {
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

pub(crate) fn audit_verify(file: &std::path::Path, key: Option<&std::path::Path>) -> Result<()> {
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

pub(crate) async fn config_check(config: &Config) -> Result<()> {
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
    if client.is_none() {
        bail!(pve::ConfigError::MissingBaseUrl);
    }
    for target in gate.targets() {
        let Some(client) = &target.pve else { continue };
        if target.caller_credentials {
            let reached = client.request(pve::Method::Get, &["version"], &serde_json::Value::Null).await;
            if let Some(e) = reached.as_ref().err().filter(|e| !matches!(e, pve::ApiError::Unauthorized(_))) {
                bail!("target {}: Proxmox at {} did not answer: {e}", target.name, client.api_root());
            }
            println!("proxmox:   {} reachable (target {}, each caller's own token)", client.api_root(), target.name);
            continue;
        }
        let version = client
            .request(pve::Method::Get, &["version"], &serde_json::Value::Null)
            .await
            .with_context(|| format!("target {}: Proxmox at {} did not answer", target.name, client.api_root()))?;
        println!(
            "proxmox:   {} reachable, version {}{}",
            client.api_root(),
            version["version"].as_str().unwrap_or("unknown"),
            match (gate.targets().count() > 1, target.read_only) {
                (false, _) => String::new(),
                (true, false) => format!(" (target {})", target.name),
                (true, true) => format!(" (target {}, read-only)", target.name),
            }
        );
    }
    println!("configuration OK");
    Ok(())
}
