//! What several commands build the same way: the runtime, the compile
//! cache, the Proxmox client, the policy and the gate.

use anyhow::Result;
use proxmcp::config::{Config, ProtectSection};
use proxmcp::gate::{Gate, Policy, Protection, RateLimits, Rbac, Target, ToolSelection};
use proxmcp::plugins;
use proxmcp::pve::PveClient;
use proxmcp::runtime::{CompileCache, Runtime};

use super::env::env_var;

pub(crate) fn make_runtime(config: &Config) -> Result<Runtime> {
    Ok(Runtime::new(config.limits(), compile_cache(config)?)?)
}

/// The configured compile cache, or `None` when it is off.
pub(crate) fn compile_cache(config: &Config) -> Result<Option<CompileCache>> {
    Ok(config.cache_dir(&env_var).map(|dir| CompileCache::open(&dir)).transpose()?)
}

pub(crate) fn make_client(config: &Config) -> Result<Option<PveClient>> {
    match config.pve()? {
        Some(pve_config) => Ok(Some(client(config, pve_config)?)),
        None => Ok(None),
    }
}

fn client(config: &Config, mut pve_config: proxmcp::pve::PveConfig) -> Result<PveClient> {
    // The API schema is cached beside compiled plugins; a cache that
    // cannot be used only means fetching it again next start.
    pve_config.schema_cache = config.cache_dir(&env_var).and_then(|dir| {
        CompileCache::open(&dir.join("api-schema"))
            .map_err(|e| tracing::warn!("the API schema will not be cached on disk: {e}"))
            .ok()
            .map(std::sync::Arc::new)
    });
    Ok(PveClient::new(pve_config)?)
}

/// Every configured target, each with its own client; the default one
/// reuses `default_client` when given.
fn make_targets(config: &Config, default_client: Option<PveClient>) -> Result<Vec<Target>> {
    let default = config.default_target_name();
    let mut out = Vec::new();
    for t in config.targets()? {
        let pve = match &default_client {
            Some(c) if Some(&t.name) == default.as_ref() => c.clone(),
            _ => client(config, t.pve)?,
        };
        out.push(Target {
            name: t.name,
            pve: Some(pve),
            read_only: t.read_only,
            protection: protection(&t.protect),
            caller_credentials: t.caller_credentials,
        });
    }
    Ok(out)
}

pub(crate) async fn build_gate(config: &Config, pve: Option<PveClient>) -> Result<Gate> {
    let runtime = make_runtime(config)?;
    let sources = plugins::sources(config)?;
    let rbac = Rbac::from_config(&config.rbac)?;
    let rate = config.rate_limit.per_minute.and_then(|n| RateLimits::new(n, config.rate_limit.burst));
    let mut gate = Gate::build(runtime, &sources, pve.clone(), policy(config)).await?.with_access(rbac, rate)?;
    let targets = make_targets(config, pve)?;
    if let Some(default) = config.default_target_name().filter(|_| !targets.is_empty()) {
        gate = gate.with_targets(targets, &default)?;
    }
    Ok(gate)
}

pub(crate) fn policy(config: &Config) -> Policy {
    Policy {
        read_only: config.read_only(),
        task_wait: config.task_wait(),
        grants: config.grants.clone(),
        tools: ToolSelection { allow: config.tools.allow.clone(), deny: config.tools.deny.clone() },
        protection: protection(&config.protect),
    }
}

/// The guests a `[protect]` section protects.
fn protection(p: &ProtectSection) -> Protection {
    Protection {
        tag: match p.tag.as_deref() {
            None => Some(proxmcp::defaults::PROTECT_TAG.into()),
            Some("") => None,
            Some(t) => Some(t.to_string()),
        },
        vmids: p.vmids.iter().copied().collect(),
        unknown_writes: p.unknown_writes,
    }
}
