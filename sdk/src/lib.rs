//! Write proxmcp tool plugins in Rust.
//!
//! A plugin is a `cdylib` crate built for `wasm32-wasip2`. It implements
//! [`Plugin`] and declares itself with [`plugin!`], which exports the
//! contract's `tools` interface and writes the plugin's manifest (contract
//! version, name, version, requested grants) into the `proxmcp-manifest`
//! custom section, where the host reads it without running the plugin.
//!
//! ```ignore
//! use proxmcp_sdk::{Hints, Output, Plugin, ToolDef, ToolError, pve};
//! use serde_json::{Value, json};
//!
//! struct Hello;
//!
//! impl Plugin for Hello {
//!     fn tools() -> Vec<ToolDef> {
//!         vec![ToolDef::new("hello_version", "Proxmox version", json!({"type": "object"}))
//!             .hints(Hints::READ_ONLY)]
//!     }
//!     fn call(name: &str, _args: Value) -> Result<Output, ToolError> {
//!         match name {
//!             "hello_version" => {
//!                 let v = pve::get(&["version"], &json!({}))?;
//!                 Ok(Output::new(v, "version read"))
//!             }
//!             other => Err(ToolError::UnknownTool(other.to_string())),
//!         }
//!     }
//! }
//!
//! proxmcp_sdk::plugin! {
//!     plugin: Hello,
//!     name: "hello",
//!     description: "Says which Proxmox version runs",
//!     grants: ["GET /version"],
//! }
//! ```
//!
//! Everything a plugin asks of the host goes through [`pve`] and [`log`];
//! the host enforces the grant, confirmation for writes and read-only mode on
//! each request, whatever the plugin's hints say.

pub mod api_schema;
pub mod backups;
pub mod format;
pub mod guest;
pub mod network;
pub mod permissions;
pub mod progress;
pub mod pve;
pub mod resources;
#[cfg(feature = "schema")]
pub mod router;
pub mod value;
pub mod write;

#[cfg(feature = "schema")]
pub use router::{NoArgs, Router};

use serde::de::DeserializeOwned;
use serde_json::Value;

#[doc(hidden)]
pub mod bindings {
    //! Raw bindings generated from `wit/` (the contract). Plugin code uses
    //! the typed wrappers of this crate instead.
    #![allow(missing_docs, unsafe_code, clippy::all)]
    wit_bindgen::generate!({
        path: "../wit",
        world: "plugin-with-resources",
        pub_export_macro: true,
        default_bindings_module: "proxmcp_sdk::bindings",
    });
}

pub use bindings::proxmcp::plugin::types::{
    ApiError, BadRequest, FieldError, GuestInfo, GuestKind, Method, TaskResult, TaskStatus, UpstreamError,
};

/// The contract version this SDK builds plugins for. The host refuses a
/// plugin whose manifest names a version it does not support.
pub const CONTRACT_VERSION: &str = "0.1.4";

/// Behaviour hints shown to MCP clients as tool annotations. The host never
/// trusts them for safety; they help the client and the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hints {
    /// The tool changes nothing.
    pub read_only: bool,
    /// The tool may destroy data or disrupt service.
    pub destructive: bool,
    /// Repeating the call has no further effect.
    pub idempotent: bool,
    /// The tool reaches a system outside the server (Proxmox).
    pub open_world: bool,
}

impl Hints {
    /// A tool that only reads from Proxmox.
    pub const READ_ONLY: Hints = Hints { read_only: true, destructive: false, idempotent: true, open_world: true };
    /// A tool that changes state but destroys nothing.
    pub const WRITE: Hints = Hints { read_only: false, destructive: false, idempotent: false, open_world: true };
    /// A tool that may destroy data or disrupt service.
    pub const DESTRUCTIVE: Hints = Hints { read_only: false, destructive: true, idempotent: false, open_world: true };
}

/// Deserializes the arguments of a tool that writes: `confirm` and
/// `dry_run` (which the host and [`write::Writes`] handle) are checked to be
/// booleans and taken out, so an argument type holds only the tool's own
/// fields.
pub fn parse_write_args<T: DeserializeOwned>(mut args: Value) -> Result<T, ToolError> {
    take_write_flags(&mut args)?;
    parse_args(args)
}

/// Checks that `confirm` and `dry_run` are booleans and takes them out.
pub(crate) fn take_write_flags(args: &mut Value) -> Result<(), ToolError> {
    if let Value::Object(map) = args {
        for key in ["confirm", "dry_run"] {
            match map.remove(key) {
                None | Some(Value::Bool(_)) => {}
                Some(other) => {
                    return Err(ToolError::InvalidArguments(format!("{key} must be true or false, not {other}")));
                }
            }
        }
    }
    Ok(())
}

/// The definition of one tool, as listed to MCP clients.
#[derive(Debug, Clone)]
pub struct ToolDef {
    /// Unique `snake_case` name.
    pub name: String,
    /// Short human title.
    pub title: Option<String>,
    /// What the tool does and when to use it.
    pub description: String,
    /// JSON Schema of the arguments (an object schema).
    pub input_schema: Value,
    /// JSON Schema of the structured output.
    pub output_schema: Option<Value>,
    /// Behaviour hints.
    pub hints: Hints,
}

impl ToolDef {
    /// A tool with `name`, `description` and an input schema; read-only by
    /// default.
    pub fn new(name: impl Into<String>, description: impl Into<String>, input_schema: Value) -> Self {
        Self {
            name: name.into(),
            title: None,
            description: description.into(),
            input_schema,
            output_schema: None,
            hints: Hints::READ_ONLY,
        }
    }

    /// Sets the human title.
    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.title = Some(title.into());
        self
    }

    /// Declares the JSON Schema of the structured output.
    pub fn output_schema(mut self, schema: Value) -> Self {
        self.output_schema = Some(schema);
        self
    }

    /// Sets the behaviour hints.
    pub fn hints(mut self, hints: Hints) -> Self {
        self.hints = hints;
        self
    }
}

/// JSON Schemas derived from Rust types (feature `schema`).
#[cfg(feature = "schema")]
pub use schemars;

#[cfg(feature = "schema")]
impl ToolDef {
    /// A tool whose input schema is derived from its argument type `A`
    /// (`#[derive(Deserialize, schemars::JsonSchema)]`; add
    /// `#[serde(deny_unknown_fields)]` so unknown arguments are refused).
    /// Read with [`parse_args`]`::<A>`. A [`Router`] does this for you.
    pub fn typed<A: schemars::JsonSchema>(name: impl Into<String>, description: impl Into<String>) -> Self {
        Self::new(name, description, router::input_schema::<A>())
    }

    /// Declares the output schema, derived from the output type `O`.
    pub fn typed_output<O: schemars::JsonSchema>(mut self) -> Self {
        self.output_schema = router::output_schema::<O>();
        self
    }
}

/// A tool's answer: typed structured data and a one-line summary. Keep
/// guest-controlled strings (names, notes, command output) out of `text`.
#[derive(Debug, Clone)]
pub struct Answer<O> {
    /// Becomes `structuredContent`; with a [`Router`](router::Router) its
    /// type's schema is the tool's `outputSchema`.
    pub data: O,
    /// Becomes the text content.
    pub text: String,
}

impl<O> Answer<O> {
    /// Data with its summary line.
    pub fn new(data: O, text: impl Into<String>) -> Self {
        Self { data, text: text.into() }
    }
}

impl<O: serde::Serialize> Answer<O> {
    /// The untyped [`Output`] the contract carries.
    pub fn into_output(self) -> Result<Output, ToolError> {
        let data = serde_json::to_value(self.data)
            .map_err(|e| ToolError::Other(format!("the tool's answer could not be encoded: {e}")))?;
        Ok(Output::new(data, self.text))
    }
}

/// A successful tool result: structured JSON plus a one-line summary.
#[derive(Debug, Clone)]
pub struct Output {
    /// Becomes MCP `structuredContent`.
    pub structured: Option<Value>,
    /// Becomes the MCP text content. Keep guest-controlled strings out of it.
    pub text: String,
}

impl Output {
    /// Structured data with a summary line.
    pub fn new(structured: Value, text: impl Into<String>) -> Self {
        Self { structured: Some(structured), text: text.into() }
    }

    /// A text-only result.
    pub fn text(text: impl Into<String>) -> Self {
        Self { structured: None, text: text.into() }
    }
}

/// Why a tool call failed; the host shows the message to the caller.
#[derive(Debug, Clone)]
pub enum ToolError {
    /// The arguments are wrong; the message says how to fix them.
    InvalidArguments(String),
    /// No tool of that name in this plugin.
    UnknownTool(String),
    /// A Proxmox request failed.
    Api(ApiError),
    /// Anything else.
    Other(String),
}

impl From<ApiError> for ToolError {
    fn from(err: ApiError) -> Self {
        ToolError::Api(err)
    }
}

/// Deserializes tool arguments into `T`, turning serde's complaint into an
/// [`ToolError::InvalidArguments`] the caller can act on.
pub fn parse_args<T: DeserializeOwned>(args: Value) -> Result<T, ToolError> {
    serde_json::from_value(args).map_err(invalid_arguments)
}

/// serde's complaint about arguments, with the next step.
pub(crate) fn invalid_arguments(e: serde_json::Error) -> ToolError {
    ToolError::InvalidArguments(format!("{e}; check the tool's input schema"))
}

/// What a plugin implements. Each call runs in a fresh instance, so
/// implementations keep no state between calls.
pub trait Plugin {
    /// The plugin's tools. Must not make requests.
    fn tools() -> Vec<ToolDef>;
    /// Runs tool `name` with `args` (always a JSON object).
    fn call(name: &str, args: Value) -> Result<Output, ToolError>;
    /// The plugin's resources and templates (see [`resources`]); none by
    /// default. Must not make requests.
    fn resources() -> Vec<resources::ResourceDef> {
        Vec::new()
    }
    /// Reads resource `uri`.
    fn read(uri: &str) -> Result<resources::Contents, ToolError> {
        Err(resources::unknown_resource(uri))
    }
    /// Values of template variable `argument` that start with `value`.
    fn complete(_argument: &str, _value: &str) -> Result<Vec<String>, ToolError> {
        Ok(Vec::new())
    }
}

/// Logging into the host's log (stderr), tagged with the plugin's name.
pub mod log {
    use crate::bindings::proxmcp::plugin::log as raw;

    /// Logs at debug level.
    pub fn debug(message: &str) {
        raw::log(raw::Level::Debug, message);
    }
    /// Logs at info level.
    pub fn info(message: &str) {
        raw::log(raw::Level::Info, message);
    }
    /// Logs at warn level.
    pub fn warn(message: &str) {
        raw::log(raw::Level::Warn, message);
    }
    /// Logs at error level.
    pub fn error(message: &str) {
        raw::log(raw::Level::Error, message);
    }
}
#[doc(hidden)]
#[path = "glue.rs"]
pub mod __private;

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest_text(name: &str, description: &str, grants: &[&[&str]]) -> Value {
        const N: usize = 256;
        let len = __private::manifest_len(name, "1.2.3", description, grants);
        assert!(len <= N);
        let bytes: [u8; N] = __private::manifest(name, "1.2.3", description, grants);
        serde_json::from_slice(&bytes[..len]).unwrap_or_default()
    }

    #[test]
    fn the_manifest_is_json_with_the_contract_version_and_every_grant_list_joined() {
        let lists: &[&[&str]] = &[&["GET /version"], &[], &["GET /nodes/*/status", "GET /version"]];
        let v = manifest_text("demo", "A \"quoted\" demo", lists);
        assert_eq!(v["contract"], CONTRACT_VERSION);
        assert_eq!(v["name"], "demo");
        assert_eq!(v["version"], "1.2.3");
        assert_eq!(v["description"], "A \"quoted\" demo");
        assert_eq!(v["grants"], serde_json::json!(["GET /version", "GET /nodes/*/status"]), "each grant once");
        assert_eq!(manifest_text("demo", "x", &[])["grants"], serde_json::json!([]));
    }

    #[test]
    fn write_arguments_lose_confirm_and_dry_run_but_keep_their_type_check() {
        #[derive(serde::Deserialize, Debug, PartialEq)]
        #[serde(deny_unknown_fields)]
        struct A {
            vmid: u32,
        }
        let a: A = parse_write_args(serde_json::json!({"vmid": 100, "confirm": true, "dry_run": false})).unwrap();
        assert_eq!(a, A { vmid: 100 });
        let err = parse_write_args::<A>(serde_json::json!({"vmid": 100, "confirm": "yes"})).unwrap_err();
        assert!(matches!(err, ToolError::InvalidArguments(m) if m.contains("confirm must be true or false")));
        assert!(
            parse_write_args::<A>(serde_json::json!({"vmid": 100, "force": 1})).is_err(),
            "other fields still count"
        );
    }
}
