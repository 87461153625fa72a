//! Admission: which plugins load, with which grants, and which tools the
//! deployment offers — decided from manifests and the policy before any
//! plugin code runs.

use std::collections::BTreeMap;

use super::access::{self, Rbac};
use super::grants::{self, Grant, GrantError};
use super::ratelimit::RateLimits;
use super::retry::{APPROVAL_TTL, Sealer};
use super::{Entry, Gate, Policy};
use crate::pve::PveClient;
use crate::runtime::{LoadError, Manifest, PluginSource, Runtime};

/// Why the gate could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A plugin could not be loaded.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// A plugin's manifest has a grant that does not parse.
    #[error("plugin {plugin:?}: {source}")]
    Grant {
        /// The plugin.
        plugin: String,
        /// The parse error.
        source: GrantError,
    },
    /// A plugin's manifest asks for more than the operator granted it.
    #[error(
        "plugin {plugin:?} ({origin}) asks for \"{asked}\", which its grant does not cover, so it was not loaded; add \"{asked}\" to [grants] {plugin} in the config (granted now: {granted})"
    )]
    GrantNotCovered {
        /// The plugin.
        plugin: String,
        /// Where it came from.
        origin: String,
        /// The first requested grant that is not covered.
        asked: String,
        /// What the operator granted.
        granted: String,
    },
    /// A plugin that is not built in has no grant in the config.
    #[error(
        "plugin {plugin:?} ({origin}) is not granted anything, so it was not loaded; to load it, add to the config:\n[grants]\n{plugin} = [{asks}]"
    )]
    NotGranted {
        /// The plugin.
        plugin: String,
        /// Where it came from.
        origin: String,
        /// Its requested grants, ready to paste.
        asks: String,
    },
    /// `[grants]` names a plugin that is not configured.
    #[error(
        "[grants] names plugin {plugin:?}, which is not loaded; configured plugins: {known}. Fix the name or remove the entry"
    )]
    UnknownGrantPlugin {
        /// The name.
        plugin: String,
        /// The plugins that are.
        known: String,
    },
    /// A tool pattern matches no loaded tool: a typo must not silently
    /// widen (deny) or empty (allow) access.
    #[error(
        "{section} pattern {pattern:?} matches no loaded tool; fix it or remove it (tools: `proxmcp plugins list`)"
    )]
    PatternMatchesNothing {
        /// Where the pattern is.
        section: String,
        /// The pattern.
        pattern: String,
    },
    /// `[rbac]` is unusable.
    #[error("{0}")]
    Access(String),
    /// The targets do not fit together.
    #[error("{0}")]
    Targets(String),
    /// Two plugins share a name.
    #[error("two plugins are named {name:?} ({first} and {second}); remove one from the configuration")]
    DuplicatePlugin {
        /// The shared name.
        name: String,
        /// First origin.
        first: String,
        /// Second origin.
        second: String,
    },
    /// Two plugins offer the same tool.
    #[error("tool {tool:?} is offered by both plugin {first:?} and plugin {second:?}; remove one of the plugins")]
    DuplicateTool {
        /// The tool.
        tool: String,
        /// First plugin.
        first: String,
        /// Second plugin.
        second: String,
    },
    /// Two plugins offer the same resource URI or template.
    #[error("resource {uri:?} is offered by both plugin {first:?} and plugin {second:?}; remove one of the plugins")]
    DuplicateResource {
        /// The URI or template.
        uri: String,
        /// First plugin.
        first: String,
        /// Second plugin.
        second: String,
    },
    /// The system's random source failed (approval states need a key).
    #[error("the system's random source failed: {0}; proxmcp cannot seal approval states without it")]
    Random(String),
}

/// A plugin that was not loaded, and why.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Skipped {
    /// Where it came from.
    pub origin: String,
    /// Its name, if the manifest could be read.
    pub name: Option<String>,
    /// Why it was skipped.
    pub reason: String,
}

impl Gate {
    /// Loads `sources` under `policy`. In read-only mode a plugin that asks
    /// for any non-GET grant is skipped before it is compiled, so its code
    /// never runs in this process.
    pub async fn build(
        runtime: Runtime,
        sources: &[PluginSource],
        pve: Option<PveClient>,
        policy: Policy,
    ) -> Result<Gate, BuildError> {
        let mut entries: Vec<Entry> = Vec::new();
        let mut skipped = Vec::new();
        for source in sources {
            let inspection = runtime.inspect(source)?;
            let manifest = &inspection.manifest;
            let grants = match admit(&policy, source, manifest)? {
                Admission::Load(grants) => grants,
                Admission::Skip(reason) => {
                    skipped.push(Skipped { origin: source.origin.clone(), name: Some(manifest.name.clone()), reason });
                    continue;
                }
            };
            if let Some(other) = entries.iter().find(|e| e.plugin.manifest.name == manifest.name) {
                return Err(BuildError::DuplicatePlugin {
                    name: manifest.name.clone(),
                    first: other.plugin.origin.clone(),
                    second: source.origin.clone(),
                });
            }
            let plugin = runtime.load(source).await?;
            tracing::debug!(plugin = %plugin.manifest.name, cached = plugin.from_cache, "plugin loaded");
            entries.push(Entry { plugin, grants: grants.into() });
        }
        let mut tools = BTreeMap::new();
        for (i, entry) in entries.iter().enumerate() {
            for tool in &entry.plugin.tools {
                if let Some((j, _)) = tools.get(&tool.name) {
                    let first: &Entry = &entries[*j];
                    return Err(BuildError::DuplicateTool {
                        tool: tool.name.clone(),
                        first: first.plugin.manifest.name.clone(),
                        second: entry.plugin.manifest.name.clone(),
                    });
                }
                tools.insert(tool.name.clone(), (i, tool.clone()));
            }
        }
        let mut uris: BTreeMap<&str, &str> = BTreeMap::new();
        for entry in &entries {
            let offered = &entry.plugin.resources;
            let all = offered.resources.iter().map(|r| r.uri.as_str());
            for uri in all.chain(offered.templates.iter().map(|t| t.uri.as_str())) {
                let plugin = entry.plugin.manifest.name.as_str();
                if let Some(first) = uris.insert(uri, plugin) {
                    return Err(BuildError::DuplicateResource {
                        uri: uri.to_string(),
                        first: first.to_string(),
                        second: plugin.to_string(),
                    });
                }
            }
        }
        let configured: Vec<&str> = entries
            .iter()
            .map(|e| e.plugin.manifest.name.as_str())
            .chain(skipped.iter().filter_map(|s| s.name.as_deref()))
            .collect();
        if let Some(name) = policy.grants.keys().find(|n| !configured.contains(&n.as_str())) {
            return Err(BuildError::UnknownGrantPlugin { plugin: name.clone(), known: configured.join(", ") });
        }
        for (section, patterns) in [("[tools] allow", &policy.tools.allow), ("[tools] deny", &policy.tools.deny)] {
            check_patterns(section, patterns, tools.keys())?;
        }
        tools.retain(|name, _| policy.tools.offers(name));
        let rbac = Rbac::from_config(&Default::default()).map_err(|e| BuildError::Access(e.to_string()))?;
        let sealer = Sealer::new(APPROVAL_TTL).map_err(|e| BuildError::Random(e.to_string()))?;
        let catalog = tools
            .values()
            .map(|(i, spec)| {
                // A built-in's tools are in the endpoint model, whether it
                // was loaded from the binary or from its file.
                let name = entries[*i].plugin.manifest.name.as_str();
                super::doctor::ToolFacts::of(spec, crate::plugins::BUILTINS.iter().any(|b| b.name == name))
            })
            .collect();
        let targets = super::targets::Targets::single(pve, policy.protection.clone());
        Ok(Gate {
            auditing: None,
            runtime,
            targets,
            policy,
            entries,
            tools,
            skipped,
            rbac,
            rate: None,
            sealer,
            catalog,
            host_tools: Vec::new(),
        })
    }

    /// Puts calls under `rbac`'s roles and `rate`'s limits. Every pattern of
    /// a role in use must match a tool the deployment offers.
    pub fn with_access(mut self, rbac: Rbac, rate: Option<RateLimits>) -> Result<Gate, BuildError> {
        for role in rbac.roles_in_use() {
            check_patterns(&format!("[rbac.roles.{}] tools", role.name), &role.tools, self.tools.keys())?;
        }
        self.rbac = rbac;
        self.rate = rate;
        Ok(self)
    }
}

/// What the policy decides about a plugin before its code is compiled.
#[derive(Debug)]
pub enum Admission {
    /// Load it with these grants (the operator's, or a built-in's manifest).
    Load(Vec<Grant>),
    /// Do not load it (read-only mode and a write grant); the reason.
    Skip(String),
}

/// Decides from the manifest alone whether `source` may load under
/// `policy`, and with which grants; refusals name the grant to add.
pub fn admit(policy: &Policy, source: &PluginSource, manifest: &Manifest) -> Result<Admission, BuildError> {
    let asked = parse_grants(&manifest.grants, &manifest.name)?;
    // A plugin that asks for everything (the raw API) is a generic
    // requester: the operator may grant it any part of the API.
    let narrowable = asked.iter().any(Grant::is_everything);
    let effective = match (narrowable, policy.grants.get(&manifest.name)) {
        (true, Some(texts)) => parse_grants(texts, &format!("[grants] {}", manifest.name))?,
        _ => asked.clone(),
    };
    if policy.read_only
        && let Some(write) = effective.iter().find(|g| !g.is_read_only())
    {
        return Ok(Admission::Skip(format!("read-only mode: the plugin asks for {write}")));
    }
    match policy.grants.get(&manifest.name) {
        Some(_) if narrowable => Ok(Admission::Load(effective)),
        Some(texts) => {
            let granted = parse_grants(texts, &format!("[grants] {}", manifest.name))?;
            if let Some(missing) = grants::first_uncovered(&granted, &asked) {
                return Err(BuildError::GrantNotCovered {
                    plugin: manifest.name.clone(),
                    origin: source.origin.clone(),
                    asked: missing.to_string(),
                    granted: if texts.is_empty() { "nothing".into() } else { texts.join(", ") },
                });
            }
            Ok(Admission::Load(granted))
        }
        None if source.builtin => Ok(Admission::Load(asked)),
        None => {
            let asks: Vec<String> = asked.iter().map(|g| format!("\"{g}\"")).collect();
            Err(BuildError::NotGranted {
                plugin: manifest.name.clone(),
                origin: source.origin.clone(),
                asks: asks.join(", "),
            })
        }
    }
}

/// Parses grant strings; a bad one fails naming `whose` (plugin or config entry).
fn parse_grants(texts: &[String], whose: &str) -> Result<Vec<Grant>, BuildError> {
    texts
        .iter()
        .map(|g| Grant::parse(g))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| BuildError::Grant { plugin: whose.to_string(), source })
}

/// Fails when one of `patterns` matches none of `tools`.
fn check_patterns<'a>(
    section: &str,
    patterns: &[String],
    tools: impl Iterator<Item = &'a String> + Clone,
) -> Result<(), BuildError> {
    for p in patterns {
        if !tools.clone().any(|t| access::pattern_matches(p, t)) {
            return Err(BuildError::PatternMatchesNothing { section: section.to_string(), pattern: p.clone() });
        }
    }
    Ok(())
}
