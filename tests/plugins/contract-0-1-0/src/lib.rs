//! A test-only plugin built against the frozen contract in
//! `wit/versions/0.1.0` with wit-bindgen alone, as a third party did before
//! contract 0.1.1: the host must keep loading and calling it.

#![allow(unsafe_code)]

mod bindings {
    //! Generated from the frozen contract.
    #![allow(missing_docs, unsafe_code, clippy::all)]
    wit_bindgen::generate!({
        path: "../../../wit/versions/0.1.0",
        world: "plugin",
    });
}

use bindings::exports::proxmcp::plugin::tools::{Guest, Hints, Output, Tool, ToolError};
use bindings::proxmcp::plugin::pve;
use bindings::proxmcp::plugin::types::Method;

struct Legacy;

impl Guest for Legacy {
    fn list_tools() -> Vec<Tool> {
        vec![Tool {
            name: "legacy_version".into(),
            title: None,
            description: "Proxmox version, from a plugin built for contract 0.1.0.".into(),
            input_schema: r#"{"type":"object","properties":{}}"#.into(),
            output_schema: None,
            hints: Hints { read_only: true, destructive: false, idempotent: true, open_world: true },
        }]
    }

    fn call_tool(name: String, _arguments: String) -> Result<Output, ToolError> {
        if name != "legacy_version" {
            return Err(ToolError::UnknownTool(name));
        }
        let version = pve::request(Method::Get, &["version".to_string()], "").map_err(ToolError::Api)?;
        Ok(Output { structured: Some(version), text: "version read by a 0.1.0 plugin".into() })
    }
}

bindings::export!(Legacy with_types_in bindings);

const MANIFEST: &[u8] =
    br#"{"contract":"0.1.0","name":"legacy","version":"0.1.0","description":"Built for contract 0.1.0","grants":["GET /version"]}"#;

#[cfg_attr(target_arch = "wasm32", unsafe(link_section = "proxmcp-manifest"))]
#[used]
static MANIFEST_SECTION: [u8; MANIFEST.len()] = {
    let mut out = [0u8; MANIFEST.len()];
    let mut i = 0;
    while i < MANIFEST.len() {
        out[i] = MANIFEST[i];
        i += 1;
    }
    out
};
