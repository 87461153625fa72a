//! `proxmcp plugin new NAME --lang rust|python|js`: writes a ready plugin
//! project — manifest, one example tool, build script, README and a copy of
//! the contract — into `./NAME`.
//!
//! The templates are the examples in `examples/` (built and tested in CI)
//! with their names replaced; the Rust one also carries a copy of the SDK,
//! so it builds without this repository.

use std::path::{Path, PathBuf};

/// The contract files, written to `NAME/wit/`.
const WIT: &[(&str, &str)] = &[
    ("types.wit", include_str!("../../wit/types.wit")),
    ("pve.wit", include_str!("../../wit/pve.wit")),
    ("log.wit", include_str!("../../wit/log.wit")),
    ("tools.wit", include_str!("../../wit/tools.wit")),
    ("resources.wit", include_str!("../../wit/resources.wit")),
    ("api-schema.wit", include_str!("../../wit/api-schema.wit")),
    ("permissions.wit", include_str!("../../wit/permissions.wit")),
    ("progress.wit", include_str!("../../wit/progress.wit")),
    ("world.wit", include_str!("../../wit/world.wit")),
];

const SDK_SOURCES: &[(&str, &str)] = &[
    ("lib.rs", include_str!("../../sdk/src/lib.rs")),
    ("api_schema.rs", include_str!("../../sdk/src/api_schema.rs")),
    ("backups.rs", include_str!("../../sdk/src/backups.rs")),
    ("format.rs", include_str!("../../sdk/src/format.rs")),
    ("glue.rs", include_str!("../../sdk/src/glue.rs")),
    ("guest.rs", include_str!("../../sdk/src/guest.rs")),
    ("network.rs", include_str!("../../sdk/src/network.rs")),
    ("permissions.rs", include_str!("../../sdk/src/permissions.rs")),
    ("progress.rs", include_str!("../../sdk/src/progress.rs")),
    ("pve.rs", include_str!("../../sdk/src/pve.rs")),
    ("resources.rs", include_str!("../../sdk/src/resources.rs")),
    ("router.rs", include_str!("../../sdk/src/router.rs")),
    ("value.rs", include_str!("../../sdk/src/value.rs")),
    ("write.rs", include_str!("../../sdk/src/write.rs")),
];

const RUST_CARGO: &str = include_str!("../../examples/rust-stopped-guests/Cargo.toml");
const RUST_LIB: &str = include_str!("../../examples/rust-stopped-guests/src/lib.rs");
const RUST_CALLS: &str = include_str!("../../examples/rust-stopped-guests/calls.json");

const PY_APP: &str = include_str!("../../examples/python-nodes-over-memory/app.py");
const PY_BUILD: &str = include_str!("../../examples/python-nodes-over-memory/build.sh");
const PY_MANIFEST: &str = include_str!("../../examples/python-nodes-over-memory/nodes-over-memory.proxmcp.json");
const PY_CALLS: &str = include_str!("../../examples/python-nodes-over-memory/calls.json");

const JS_APP: &str = include_str!("../../examples/js-guests-without-agent/app.js");
const JS_BUILD: &str = include_str!("../../examples/js-guests-without-agent/build.mjs");
const JS_PACKAGE: &str = include_str!("../../examples/js-guests-without-agent/package.json");
const JS_MANIFEST: &str = include_str!("../../examples/js-guests-without-agent/guests-without-agent.proxmcp.json");
const JS_CALLS: &str = include_str!("../../examples/js-guests-without-agent/calls.json");

/// Languages with a template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    /// Rust with proxmcp-sdk (a copy is included).
    Rust,
    /// Python with componentize-py.
    Python,
    /// JavaScript with componentize-js.
    Js,
}

/// Why the project could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    /// The name is not a valid plugin name.
    #[error(
        "{0:?} is not a valid plugin name: use 1 to 64 lowercase letters, digits, - or _, starting with a letter (e.g. vm-report)"
    )]
    BadName(String),
    /// The directory exists.
    #[error("{0} already exists; choose another name or remove it")]
    Exists(PathBuf),
    /// Writing failed.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

fn valid_name(name: &str) -> bool {
    name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// Writes the project for `name` in `lang` into `parent/name`; returns the
/// directory and the files written (relative).
pub fn new_plugin(parent: &Path, name: &str, lang: Lang) -> Result<(PathBuf, Vec<String>), ScaffoldError> {
    if !valid_name(name) {
        return Err(ScaffoldError::BadName(name.to_string()));
    }
    let dir = parent.join(name);
    if dir.exists() {
        return Err(ScaffoldError::Exists(dir));
    }
    let snake = name.replace('-', "_");
    let mut files: Vec<(String, String)> = WIT.iter().map(|(f, text)| (format!("wit/{f}"), text.to_string())).collect();
    match lang {
        Lang::Python => {
            let tool = format!("{snake}_nodes_over_memory");
            let fix = |s: &str| s.replace("py_nodes_over_memory", &tool).replace("nodes-over-memory", name);
            files.push(("app.py".into(), fix(PY_APP)));
            files.push(("build.sh".into(), fix(PY_BUILD).replace("../../wit", "wit")));
            files.push((format!("{name}.proxmcp.json"), fix(PY_MANIFEST)));
            files.push(("calls.json".into(), fix(PY_CALLS)));
            files.push(("README.md".into(), readme(name, &tool, lang)));
        }
        Lang::Js => {
            let tool = format!("{snake}_guests_without_agent");
            let fix = |s: &str| {
                s.replace("js_guests_without_agent", &tool)
                    .replace("proxmcp-example-guests-without-agent", name)
                    .replace("guests-without-agent", name)
            };
            files.push(("app.js".into(), fix(JS_APP)));
            files.push((
                "build.mjs".into(),
                fix(JS_BUILD).replace("join(here, '..', '..', 'wit')", "join(here, 'wit')").replace("../../wit", "wit"),
            ));
            files.push(("package.json".into(), fix(JS_PACKAGE)));
            files.push((format!("{name}.proxmcp.json"), fix(JS_MANIFEST)));
            files.push(("calls.json".into(), fix(JS_CALLS)));
            files.push(("README.md".into(), readme(name, &tool, lang)));
        }
        Lang::Rust => {
            let tool = format!("{snake}_stopped_guests");
            let fix = |s: &str| s.replace("rust_stopped_guests", &tool).replace("stopped-guests", name);
            let cargo = fix(RUST_CARGO)
                .replace("../../sdk", "proxmcp-sdk")
                .replace("not as part of the proxmcp workspace", "with the copy of proxmcp-sdk in proxmcp-sdk/");
            files.push(("Cargo.toml".into(), cargo));
            files.push((".cargo/config.toml".into(), "[build]\ntarget = \"wasm32-wasip2\"\n".into()));
            files.push(("src/lib.rs".into(), fix(RUST_LIB)));
            files.push(("calls.json".into(), fix(RUST_CALLS)));
            files.push(("proxmcp-sdk/Cargo.toml".into(), SDK_CARGO.into()));
            for (f, text) in SDK_SOURCES {
                files.push((format!("proxmcp-sdk/src/{f}"), text.to_string()));
            }
            files.push(("README.md".into(), readme(name, &tool, lang)));
        }
    }
    let mut written = Vec::new();
    for (rel, text) in files {
        let path = dir.join(&rel);
        let io = |source| ScaffoldError::Write { path: path.clone(), source };
        if let Some(p) = path.parent() {
            std::fs::create_dir_all(p).map_err(io)?;
        }
        std::fs::write(&path, text).map_err(io)?;
        written.push(rel);
    }
    #[cfg(unix)]
    if lang == Lang::Python {
        use std::os::unix::fs::PermissionsExt;
        let script = dir.join("build.sh");
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))
            .map_err(|source| ScaffoldError::Write { path: script.clone(), source })?;
    }
    Ok((dir, written))
}

const SDK_CARGO: &str = r#"[package]
name = "proxmcp-sdk"
description = "Write proxmcp tool plugins in Rust (copy written by proxmcp plugin new)"
version = "0.1.0"
edition = "2024"
publish = false

[dependencies]
serde = { version = "1", features = ["derive"] }
serde_json = "1"
wit-bindgen = { version = "0.63", default-features = false, features = ["macros", "realloc", "std"] }
schemars = { version = "1", optional = true }

[features]
schema = ["dep:schemars"]
"#;

fn readme(name: &str, tool: &str, lang: Lang) -> String {
    let (build, wasm) = match lang {
        Lang::Rust => (
            "cargo build --release          # needs: rustup target add wasm32-wasip2".to_string(),
            format!("target/wasm32-wasip2/release/{}.wasm", name.replace('-', "_")),
        ),
        Lang::Python => (
            "pip install componentize-py==0.25.1\n./build.sh                     # writes NAME.wasm next to NAME.proxmcp.json".replace("NAME", name),
            format!("{name}.wasm"),
        ),
        Lang::Js => (
            "npm install\nnode build.mjs                 # writes NAME.wasm next to NAME.proxmcp.json".replace("NAME", name),
            format!("{name}.wasm"),
        ),
    };
    let manifest = match lang {
        Lang::Rust => "the `proxmcp_sdk::plugin!` call in `src/lib.rs` (written into the component)".to_string(),
        _ => format!("`{name}.proxmcp.json` (a sidecar: keep it next to the .wasm)"),
    };
    format!(
        "# {name}\n\nA proxmcp plugin with one example tool, `{tool}`. Its manifest (contract version,\nname, grants) is {manifest}; `wit/` is the proxmcp:plugin@0.1.4 contract.\n\n## Build\n\n```sh\n{build}\n```\n\n## Test against the simulator\n\n```sh\nproxmcp plugin test {wasm} --calls calls.json\n```\n\n## Load it\n\nproxmcp loads a plugin only once the operator grants it. In the config:\n\n```toml\n[grants]\n{name} = [\"GET /...\"]   # what the manifest asks for; `proxmcp plugins inspect {wasm}` prints the line\n```\n\nthen `proxmcp --config proxmcp.toml --plugin {wasm} serve`.\n\nSee docs/plugin-authoring.md in the proxmcp repository for the grant model,\nlimits and errors.\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_and_existing_directories_kept() {
        let dir = tempfile::tempdir().unwrap();
        for bad in ["", "Vm", "1vm", "vm report", "../x", &"a".repeat(65)] {
            assert!(matches!(new_plugin(dir.path(), bad, Lang::Rust), Err(ScaffoldError::BadName(_))), "{bad:?}");
        }
        let (made, files) = new_plugin(dir.path(), "vm-report", Lang::Python).unwrap();
        assert!(files.contains(&"vm-report.proxmcp.json".to_string()) && files.contains(&"wit/world.wit".to_string()));
        let manifest = std::fs::read_to_string(made.join("vm-report.proxmcp.json")).unwrap();
        assert!(manifest.contains("\"name\": \"vm-report\""), "{manifest}");
        assert!(std::fs::read_to_string(made.join("app.py")).unwrap().contains("vm_report_nodes_over_memory"));
        assert!(matches!(new_plugin(dir.path(), "vm-report", Lang::Js), Err(ScaffoldError::Exists(_))));
    }
}
