//! Reading a plugin without running it: its manifest (custom section
//! `proxmcp-manifest`) and its imports.
//!
//! Both checks run before the component is compiled, so a plugin for an
//! unsupported contract or with a forbidden import costs nothing and never
//! executes.

use serde::{Deserialize, Serialize};
use wasmparser::{Chunk, Parser, Payload};

use super::LoadError;

/// Name of the custom section that holds the manifest JSON.
pub const MANIFEST_SECTION: &str = "proxmcp-manifest";

/// Contract versions (`proxmcp:plugin@X`) this host can load.
/// 0.1.1 added the optional `resources` export, 0.1.2 the `api-schema`
/// import, 0.1.3 the `permissions` import, 0.1.4 the `progress` import;
/// plugins built for earlier versions load as they are.
pub const SUPPORTED_CONTRACTS: &[&str] = &["0.1.0", "0.1.1", "0.1.2", "0.1.3", "0.1.4"];

/// WASI interfaces a plugin may import: what a language runtime needs for
/// stdio, clocks, randomness, environment and exit. All of them are inert
/// here (empty env, stdio to the log). Filesystem, sockets and HTTP are not
/// in the list, so a plugin importing them is refused.
pub const ALLOWED_WASI: &[&str] = &[
    "wasi:cli/environment",
    "wasi:cli/exit",
    "wasi:cli/stdin",
    "wasi:cli/stdout",
    "wasi:cli/stderr",
    "wasi:cli/terminal-input",
    "wasi:cli/terminal-output",
    "wasi:cli/terminal-stdin",
    "wasi:cli/terminal-stdout",
    "wasi:cli/terminal-stderr",
    "wasi:io/error",
    "wasi:io/poll",
    "wasi:io/streams",
    "wasi:clocks/wall-clock",
    "wasi:clocks/monotonic-clock",
    "wasi:random/random",
    "wasi:random/insecure",
    "wasi:random/insecure-seed",
];

/// The contract interfaces a plugin may import.
const CONTRACT_IMPORTS: &[&str] = &[
    "proxmcp:plugin/types",
    "proxmcp:plugin/pve",
    "proxmcp:plugin/log",
    "proxmcp:plugin/api-schema",
    "proxmcp:plugin/permissions",
    "proxmcp:plugin/progress",
];

/// What a plugin says about itself, readable without running it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Contract version the plugin was built against, e.g. `0.1.0`.
    pub contract: String,
    /// Plugin name, unique per host.
    pub name: String,
    /// Plugin version.
    pub version: String,
    /// One line about the plugin.
    #[serde(default)]
    pub description: String,
    /// Requested grants, `"METHOD /path/pattern"`.
    #[serde(default)]
    pub grants: Vec<String>,
}

/// What inspection found: the manifest and the component's imports.
#[derive(Debug, Clone)]
pub struct Inspection {
    /// The manifest.
    pub manifest: Manifest,
    /// Names of the component's top-level imports.
    pub imports: Vec<String>,
}

/// Reads the manifest and imports of a component and checks them.
pub fn inspect(origin: &str, bytes: &[u8], sidecar: Option<&[u8]>) -> Result<Inspection, LoadError> {
    let mut manifest_bytes: Option<Vec<u8>> = None;
    let mut imports = Vec::new();
    let mut is_component = false;
    let not_component = |reason: String| LoadError::NotAComponent { origin: origin.into(), reason };
    // Section by section, stepping over function bodies: inspecting a
    // plugin reads its headers only, so the pages of a built-in's code stay
    // out of memory when its compiled form comes from the cache.
    let mut parser = Parser::new(0);
    let mut outer: Vec<Parser> = Vec::new();
    let mut rest = bytes;
    loop {
        let payload = match parser.parse(rest, true).map_err(|e| not_component(e.to_string()))? {
            Chunk::Parsed { consumed, payload } => {
                rest = &rest[consumed..];
                payload
            }
            Chunk::NeedMoreData(_) => return Err(not_component("it ends in the middle of a section".into())),
        };
        let depth = outer.len();
        match payload {
            Payload::Version { encoding, .. } if depth == 0 => {
                is_component = encoding == wasmparser::Encoding::Component;
            }
            Payload::CodeSectionStart { size, .. } => {
                parser.skip_section();
                rest = rest.get(size as usize..).ok_or_else(|| not_component("a code section is cut short".into()))?;
            }
            Payload::ModuleSection { parser: inner, .. } | Payload::ComponentSection { parser: inner, .. } => {
                outer.push(std::mem::replace(&mut parser, inner));
            }
            Payload::End(_) => match outer.pop() {
                Some(p) => parser = p,
                None => break,
            },
            Payload::CustomSection(reader) if reader.name() == MANIFEST_SECTION => {
                manifest_bytes = Some(reader.data().to_vec());
            }
            Payload::ComponentImportSection(reader) if depth == 0 => {
                for import in reader {
                    let import = import.map_err(|e| not_component(e.to_string()))?;
                    imports.push(import.name.name.to_string());
                }
            }
            _ => {}
        }
    }
    if !is_component {
        return Err(LoadError::NotAComponent {
            origin: origin.into(),
            reason: "it is a core module; build it as a component (cargo build --target wasm32-wasip2)".into(),
        });
    }
    // Rust plugins carry the manifest in a custom section; components built
    // by other toolchains (componentize-py, componentize-js) cannot, and
    // bring it as a sidecar file next to the .wasm instead.
    let raw = manifest_bytes
        .or_else(|| sidecar.map(<[u8]>::to_vec))
        .ok_or_else(|| LoadError::NoManifest { origin: origin.into() })?;
    let manifest: Manifest = serde_json::from_slice(&raw)
        .map_err(|e| LoadError::BadManifest { origin: origin.into(), reason: e.to_string() })?;
    check_name(origin, &manifest.name)?;
    if !SUPPORTED_CONTRACTS.contains(&manifest.contract.as_str()) {
        return Err(LoadError::UnsupportedContract {
            plugin: manifest.name,
            found: manifest.contract,
            supported: SUPPORTED_CONTRACTS.join(", "),
        });
    }
    check_imports(&manifest, &imports)?;
    Ok(Inspection { manifest, imports })
}

fn check_name(origin: &str, name: &str) -> Result<(), LoadError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(LoadError::BadManifest {
            origin: origin.into(),
            reason: format!("plugin name {name:?} must be 1-64 characters of a-z, 0-9, '-' or '_'"),
        })
    }
}

/// Refuses imports outside the contract and the minimal WASI set, and
/// contract imports of another version than the manifest states.
fn check_imports(manifest: &Manifest, imports: &[String]) -> Result<(), LoadError> {
    let mut forbidden = Vec::new();
    for import in imports {
        let (name, version) = import.split_once('@').unwrap_or((import.as_str(), ""));
        if CONTRACT_IMPORTS.contains(&name) {
            if version != manifest.contract {
                return Err(LoadError::UnsupportedContract {
                    plugin: manifest.name.clone(),
                    found: format!("{version} (import {import}; the manifest says {})", manifest.contract),
                    supported: SUPPORTED_CONTRACTS.join(", "),
                });
            }
        } else if !ALLOWED_WASI.contains(&name) {
            forbidden.push(import.clone());
        }
    }
    if forbidden.is_empty() {
        Ok(())
    } else {
        Err(LoadError::ForbiddenImports { plugin: manifest.name.clone(), imports: forbidden })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `package proxmcp:plugin@X;` version of a WIT folder.
    fn wit_version(dir: &std::path::Path) -> String {
        let world = std::fs::read_to_string(dir.join("world.wit")).unwrap();
        let line = world.lines().find(|l| l.starts_with("package proxmcp:plugin@")).unwrap();
        line.trim_start_matches("package proxmcp:plugin@").trim_end_matches(';').to_string()
    }

    #[test]
    fn the_current_contract_and_every_frozen_one_are_loaded() {
        // wit/ is the current contract; released versions live unchanged in
        // wit/versions/<version>/. The host must keep loading all of them.
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../wit");
        let current = wit_version(&root);
        assert_eq!(SUPPORTED_CONTRACTS.last(), Some(&current.as_str()), "wit/ is {current}");
        if let Ok(entries) = std::fs::read_dir(root.join("versions")) {
            for e in entries.flatten() {
                let v = wit_version(&e.path());
                assert_eq!(e.file_name().to_string_lossy(), v, "folder name and package version differ");
                assert!(SUPPORTED_CONTRACTS.contains(&v.as_str()), "frozen contract {v} is no longer loaded");
            }
        }
    }

    fn manifest() -> Manifest {
        Manifest {
            contract: "0.1.0".into(),
            name: "x".into(),
            version: "1".into(),
            description: String::new(),
            grants: vec![],
        }
    }

    #[test]
    fn contract_and_minimal_wasi_imports_pass() {
        let imports = vec![
            "proxmcp:plugin/pve@0.1.0".to_string(),
            "wasi:io/streams@0.2.6".to_string(),
            "wasi:cli/stdout@0.2.6".to_string(),
        ];
        assert!(check_imports(&manifest(), &imports).is_ok());
    }

    #[test]
    fn sockets_and_filesystem_imports_are_named_in_the_refusal() {
        let imports = vec!["wasi:sockets/tcp@0.2.6".to_string(), "wasi:filesystem/types@0.2.6".to_string()];
        let err = check_imports(&manifest(), &imports).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("wasi:sockets/tcp@0.2.6") && err.contains("wasi:filesystem/types@0.2.6"), "{err}");
    }

    #[test]
    fn a_contract_import_of_another_version_is_refused() {
        let imports = vec!["proxmcp:plugin/pve@0.2.0".to_string()];
        assert!(matches!(check_imports(&manifest(), &imports), Err(LoadError::UnsupportedContract { .. })));
    }

    #[test]
    fn a_core_module_is_not_a_component() {
        let core = b"\0asm\x01\0\0\0";
        assert!(matches!(inspect("t", core, None), Err(LoadError::NotAComponent { .. })));
        assert!(matches!(inspect("t", b"nonsense", None), Err(LoadError::NotAComponent { .. })));
    }
}
