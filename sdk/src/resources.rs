//! MCP resources and completions a plugin offers (contract 0.1.1).
//!
//! A resource is data a client reads by URI without a tool call:
//! `pve://nodes`, or one of a template's family such as
//! `pve://guest/{vmid}/config`, where each `{variable}` stands for one URI
//! path segment. Reads run like read-only tool calls: the host refuses any
//! write they attempt. With a [`Router`](crate::Router), a resource is one
//! line that names the tool serving it.

use serde_json::{Map, Value};

use crate::ToolError;

/// One resource or template, as listed to MCP clients.
#[derive(Debug, Clone)]
pub struct ResourceDef {
    /// The URI, or a template with `{variable}`s (then it is listed as a
    /// resource template).
    pub uri: String,
    /// Short machine name, e.g. `guest-config`.
    pub name: String,
    /// Short human title.
    pub title: Option<String>,
    /// What it holds, for the model.
    pub description: String,
    /// MIME type of the contents; `application/json` by default.
    pub mime_type: String,
    /// How long a client may treat a read as fresh, in milliseconds;
    /// 5,000 by default.
    pub ttl_ms: u32,
}

impl ResourceDef {
    /// A JSON resource at `uri` (or template) with `name` and `description`.
    pub fn new(uri: impl Into<String>, name: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            uri: uri.into(),
            name: name.into(),
            title: None,
            description: description.into(),
            mime_type: "application/json".into(),
            ttl_ms: 5_000,
        }
    }

    /// Sets the human title.
    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.title = Some(title.into());
        self
    }

    /// Sets how long a read stays fresh, in milliseconds.
    pub fn ttl_ms(mut self, ttl_ms: u32) -> Self {
        self.ttl_ms = ttl_ms;
        self
    }

    /// Whether the URI is a template (it has a `{variable}`).
    pub fn is_template(&self) -> bool {
        self.uri.contains('{')
    }

    /// The variables of `uri` when it is one of this definition's
    /// resources: the URI itself for a fixed resource, one non-empty
    /// segment without `/` per variable for a template.
    pub fn capture(&self, uri: &str) -> Option<Vars> {
        let mut vars = Map::new();
        let mut rest = uri;
        let mut template = self.uri.as_str();
        while !template.is_empty() {
            if let Some(inner) = template.strip_prefix('{') {
                let end = inner.find('}')?;
                let name = &inner[..end];
                template = &inner[end + 1..];
                let next_lit = template.split('{').next().unwrap_or("");
                let stop = if next_lit.is_empty() { rest.len() } else { rest.find(next_lit)? };
                let value = &rest[..stop];
                if value.is_empty() || value.contains('/') {
                    return None;
                }
                vars.insert(name.to_string(), Value::String(value.to_string()));
                rest = &rest[stop..];
            } else {
                let lit_end = template.find('{').unwrap_or(template.len());
                rest = rest.strip_prefix(&template[..lit_end])?;
                template = &template[lit_end..];
            }
        }
        rest.is_empty().then_some(Vars(vars))
    }
}

/// The variables a URI filled into a template, by name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Vars(pub Map<String, Value>);

impl Vars {
    /// The value of variable `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).and_then(Value::as_str)
    }

    /// The variables as a JSON object of strings (tool arguments; a tool's
    /// integer arguments accept numeric strings).
    pub fn into_args(self) -> Value {
        Value::Object(self.0)
    }
}

/// A resource's contents.
#[derive(Debug, Clone, PartialEq)]
pub struct Contents {
    /// MIME type of `text`.
    pub mime_type: String,
    /// The contents.
    pub text: String,
}

impl Contents {
    /// JSON contents.
    pub fn json(value: &Value) -> Self {
        Self { mime_type: "application/json".into(), text: value.to_string() }
    }
}

/// The error for a URI the plugin does not serve.
pub fn unknown_resource(uri: &str) -> ToolError {
    ToolError::UnknownTool(format!("no resource {uri:?}; call resources/list and resources/templates/list"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capture_fills_one_segment_per_variable() {
        let t = ResourceDef::new("pve://task/{node}/{upid}/log", "task-log", "");
        let v = t.capture("pve://task/pve1/UPID:pve1:00:qmstart:100:root@pam:/log").expect("matches");
        assert_eq!(v.get("node"), Some("pve1"));
        assert_eq!(v.get("upid"), Some("UPID:pve1:00:qmstart:100:root@pam:"));
        assert!(t.capture("pve://task/pve1/a/b/log").is_none());
        assert!(t.capture("pve://task//x/log").is_none());
        let fixed = ResourceDef::new("pve://nodes", "nodes", "");
        assert_eq!(fixed.capture("pve://nodes"), Some(Vars::default()));
        assert!(fixed.capture("pve://nodes/x").is_none());
        let tail = ResourceDef::new("pve://node/{node}", "node", "");
        assert_eq!(
            tail.capture("pve://node/pve2").and_then(|v| v.get("node").map(str::to_string)),
            Some("pve2".into())
        );
    }
}
