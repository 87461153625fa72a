//! MCP resources a plugin offers (contract 0.1.1): listed once at load,
//! read and completed per request in a fresh instance, like tool calls.
//!
//! URIs and templates are checked here, so the layers above can route a
//! URI to its plugin by plain matching.

use std::sync::Arc;

use super::bindings::{self, wit_resources};
use super::{Broker, CallError, LoadError, LoadedPlugin, Runtime};

/// A fixed resource, or a template of a family of them (`{name}` stands
/// for one URI path segment).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ResourceSpec {
    /// Its URI, or the template, e.g. `pve://guest/{vmid}/config`.
    pub uri: String,
    /// Short machine name.
    pub name: String,
    /// Human title.
    pub title: Option<String>,
    /// What it holds.
    pub description: String,
    /// MIME type.
    pub mime_type: String,
    /// Freshness for clients, in milliseconds.
    pub ttl_ms: u32,
}

impl ResourceSpec {
    /// The template's variable names, in order.
    pub fn variables(&self) -> impl Iterator<Item = &str> {
        parts(&self.uri).filter_map(|p| match p {
            Part::Var(v) => Some(v),
            Part::Lit(_) => None,
        })
    }

    /// Whether `uri` is one of this template's resources: each variable
    /// takes one non-empty segment without `/`.
    pub fn matches(&self, uri: &str) -> bool {
        let mut rest = uri;
        let mut parts = parts(&self.uri).peekable();
        while let Some(part) = parts.next() {
            match part {
                Part::Lit(lit) => match rest.strip_prefix(lit) {
                    Some(r) => rest = r,
                    None => return false,
                },
                Part::Var(_) => {
                    let end = match parts.peek() {
                        Some(Part::Lit(next)) => match rest.find(next) {
                            Some(i) => i,
                            None => return false,
                        },
                        _ => rest.len(),
                    };
                    let value = &rest[..end];
                    if value.is_empty() || value.contains('/') {
                        return false;
                    }
                    rest = &rest[end..];
                }
            }
        }
        rest.is_empty()
    }
}

/// What a plugin offers besides tools.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Offered {
    /// Fixed resources.
    pub resources: Vec<ResourceSpec>,
    /// Templates.
    pub templates: Vec<ResourceSpec>,
}

impl Offered {
    /// The resource or template `uri` is one of, if any.
    pub fn find(&self, uri: &str) -> Option<&ResourceSpec> {
        self.resources.iter().find(|r| r.uri == uri).or_else(|| self.templates.iter().find(|t| t.matches(uri)))
    }
}

/// A resource's contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contents {
    /// MIME type.
    pub mime_type: String,
    /// The text.
    pub text: String,
}

enum Part<'a> {
    Lit(&'a str),
    Var(&'a str),
}

fn parts(template: &str) -> impl Iterator<Item = Part<'_>> {
    let mut rest = template;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        if let Some(inner) = rest.strip_prefix('{')
            && let Some(end) = inner.find('}')
        {
            rest = &inner[end + 1..];
            return Some(Part::Var(&inner[..end]));
        }
        let end = rest[1..].find('{').map_or(rest.len(), |i| i + 1);
        let (lit, r) = rest.split_at(end);
        rest = r;
        Some(Part::Lit(lit))
    })
}

/// A URI: `scheme://rest`, no whitespace or control characters, at most
/// 512 bytes.
fn check_uri(uri: &str) -> Result<(), String> {
    let scheme_ok = uri.split_once("://").is_some_and(|(s, rest)| {
        !rest.is_empty()
            && s.starts_with(|c: char| c.is_ascii_lowercase())
            && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+-.".contains(c))
    });
    if !scheme_ok || uri.len() > 512 || uri.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("{uri:?} is not a URI of the form scheme://path without spaces"));
    }
    Ok(())
}

fn check_template(t: &str) -> Result<(), String> {
    check_uri(t)?;
    let mut vars = std::collections::HashSet::new();
    let mut last_was_var = false;
    for part in parts(t) {
        match part {
            Part::Var(v) => {
                let ok = !v.is_empty() && v.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
                if !ok {
                    return Err(format!("{t:?}: variable {{{v}}} must be lowercase letters, digits or '_'"));
                }
                if last_was_var {
                    return Err(format!("{t:?}: two variables need a literal between them"));
                }
                if !vars.insert(v) {
                    return Err(format!("{t:?}: variable {{{v}}} appears twice"));
                }
                last_was_var = true;
            }
            Part::Lit(l) => {
                if l.contains(['{', '}']) {
                    return Err(format!("{t:?}: unbalanced braces"));
                }
                last_was_var = false;
            }
        }
    }
    if vars.is_empty() {
        return Err(format!("{t:?} has no {{variable}}; list it as a fixed resource"));
    }
    Ok(())
}

impl Runtime {
    /// Lists a plugin's resources and templates once, at load, and checks
    /// them; a plugin without the export offers none.
    pub(super) async fn list_resources(&self, plugin: &LoadedPlugin) -> Result<Offered, LoadError> {
        if plugin.pre.resources.is_none() {
            return Ok(Offered::default());
        }
        let bad = |reason: String| LoadError::BadTools { plugin: plugin.manifest.name.clone(), reason };
        let (resources, templates) = self
            .run(plugin, Arc::new(bindings::NoRequests), |pre, instance, store| {
                Box::pin(async move {
                    let Some(indices) = &pre.resources else { return Ok((Vec::new(), Vec::new())) };
                    let guest = indices.load(&mut *store, instance)?;
                    let resources = guest.call_list_resources(&mut *store).await?;
                    let templates = guest.call_list_templates(&mut *store).await?;
                    Ok((resources, templates))
                })
            })
            .await
            .map_err(|e| bad(format!("resources: {e}")))?;
        let spec = |uri, name, title, description, mime_type, ttl_ms| ResourceSpec {
            uri,
            name,
            title,
            description,
            mime_type,
            ttl_ms,
        };
        let mut offered = Offered::default();
        for r in resources {
            check_uri(&r.uri).map_err(|e| bad(format!("resource {e}")))?;
            offered.resources.push(spec(r.uri, r.name, r.title, r.description, r.mime_type, r.ttl_ms));
        }
        for t in templates {
            check_template(&t.uri_template).map_err(|e| bad(format!("resource template {e}")))?;
            offered.templates.push(spec(t.uri_template, t.name, t.title, t.description, t.mime_type, t.ttl_ms));
        }
        let all = offered.resources.iter().chain(&offered.templates);
        let mut seen = std::collections::HashSet::new();
        if let Some(twice) = all.map(|r| r.uri.as_str()).find(|uri| !seen.insert(*uri)) {
            return Err(bad(format!("resource {twice:?} is listed twice")));
        }
        Ok(offered)
    }

    /// Reads resource `uri` of `plugin` in a fresh store; every Proxmox
    /// request goes through `broker`.
    pub async fn read_resource(
        &self,
        plugin: &LoadedPlugin,
        uri: &str,
        broker: Arc<dyn Broker>,
    ) -> Result<Contents, CallError> {
        let uri = uri.to_string();
        let result = self
            .run(plugin, broker, move |pre, instance, store| {
                Box::pin(async move { resources_of(pre, instance, store)?.call_read_resource(store, &uri).await })
            })
            .await?;
        let contents = result.map_err(|e| CallError::Tool(bindings::tool_failure(e)))?;
        if contents.text.len() > self.limits.output_bytes {
            return Err(CallError::OutputTooLarge { bytes: contents.text.len(), limit: self.limits.output_bytes });
        }
        Ok(Contents { mime_type: contents.mime_type, text: contents.text })
    }

    /// Asks `plugin` for values of template variable `argument` starting
    /// with `value`; at most 100 are kept.
    pub async fn complete(
        &self,
        plugin: &LoadedPlugin,
        argument: &str,
        value: &str,
        broker: Arc<dyn Broker>,
    ) -> Result<Vec<String>, CallError> {
        let (argument, value) = (argument.to_string(), value.to_string());
        let result = self
            .run(plugin, broker, move |pre, instance, store| {
                Box::pin(
                    async move { resources_of(pre, instance, store)?.call_complete(store, &argument, &value).await },
                )
            })
            .await?;
        let mut values = result.map_err(|e| CallError::Tool(bindings::tool_failure(e)))?;
        values.truncate(100);
        Ok(values)
    }
}

fn resources_of(
    pre: &bindings::Pre,
    instance: &wasmtime::component::Instance,
    store: &mut wasmtime::Store<super::CallState>,
) -> wasmtime::Result<wit_resources::Guest> {
    match &pre.resources {
        Some(indices) => indices.load(store, instance),
        None => Err(wasmtime::Error::msg("the plugin exports no resources")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(t: &str) -> ResourceSpec {
        ResourceSpec {
            uri: t.into(),
            name: "t".into(),
            title: None,
            description: String::new(),
            mime_type: "application/json".into(),
            ttl_ms: 0,
        }
    }

    #[test]
    fn a_template_matches_one_segment_per_variable() {
        let t = template("pve://guest/{vmid}/config");
        assert!(t.matches("pve://guest/100/config"));
        assert!(!t.matches("pve://guest//config"));
        assert!(!t.matches("pve://guest/1/2/config"));
        assert!(!t.matches("pve://guest/100/status"));
        assert!(!t.matches("pve://guest/100/config/x"));
        let tail = template("pve://task/{node}/{upid}/log");
        assert!(tail.matches("pve://task/pve1/UPID:pve1:0001:qmstart:100:root@pam:/log"));
        let end = template("pve://node/{node}");
        assert!(end.matches("pve://node/pve1") && !end.matches("pve://node/pve1/x"));
        assert_eq!(tail.variables().collect::<Vec<_>>(), ["node", "upid"]);
    }

    #[test]
    fn templates_and_uris_are_checked() {
        assert!(check_template("pve://guest/{vmid}/config").is_ok());
        assert!(check_template("pve://nodes").unwrap_err().contains("fixed resource"));
        assert!(check_template("pve://x/{a}{b}").unwrap_err().contains("literal between"));
        assert!(check_template("pve://x/{a}/{a}").unwrap_err().contains("twice"));
        assert!(check_template("pve://x/{A}").unwrap_err().contains("lowercase"));
        assert!(check_uri("nodes").is_err());
        assert!(check_uri("pve://has space").is_err());
        assert!(check_uri("pve://nodes").is_ok());
    }
}
