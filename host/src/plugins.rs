//! Where plugin components come from: the built-ins embedded in the binary
//! and the files an operator adds by config. Files are read through cap-std
//! handles on their directories, so a configured name cannot resolve
//! outside the directory it names.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use cap_std::ambient_authority;
use cap_std::fs::Dir;

use crate::config::Config;
use crate::runtime::PluginSource;

/// A plugin compiled into the binary.
#[derive(Debug, Clone, Copy)]
pub struct Builtin {
    /// Its name (as in its manifest).
    pub name: &'static str,
    /// The component.
    pub bytes: &'static [u8],
    /// Its SHA-256 (hex), computed at build time.
    pub sha256: &'static str,
    /// Loaded when the config names no built-ins.
    pub default: bool,
}

/// A built-in from the artifact `build.rs` names in `PROXMCP_WASM_<VAR>`,
/// with its hash from `PROXMCP_WASM_<VAR>_SHA256`.
macro_rules! builtin {
    ($name:literal, $var:literal, default: $default:literal) => {
        Builtin {
            name: $name,
            bytes: include_bytes!(env!(concat!("PROXMCP_WASM_", $var))),
            sha256: env!(concat!("PROXMCP_WASM_", $var, "_SHA256")),
            default: $default,
        }
    };
}

/// The built-in plugins, built from `plugins/` by `build.rs`.
pub const BUILTINS: &[Builtin] = &[
    builtin!("inventory", "INVENTORY", default: true),
    builtin!("lifecycle", "LIFECYCLE", default: true),
    builtin!("provisioning", "PROVISIONING", default: true),
    // Opt-in: running commands inside guests, and raw API access.
    builtin!("guest-exec", "GUEST_EXEC", default: false),
    builtin!("raw-api", "RAW_API", default: false),
    // Opt-in: firewall, HA and replication; reads and writes apart, so
    // read-only mode can load the reads.
    builtin!("firewall-ha-read", "FIREWALL_HA_READ", default: false),
    builtin!("firewall-ha", "FIREWALL_HA", default: false),
    // Opt-in: backup jobs and coverage, reads and writes apart.
    builtin!("backups-read", "BACKUPS_READ", default: false),
    builtin!("backups", "BACKUPS", default: false),
    // Opt-in: guest info and waiting, appliance catalogue (reads);
    // templates, disks, downloads and volumes (writes); node evacuation.
    builtin!("provisioning-read", "PROVISIONING_READ", default: false),
    builtin!("storage-disks", "STORAGE_DISKS", default: false),
    builtin!("node-maintenance", "NODE_MAINTENANCE", default: false),
];

/// Why plugin files could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The config names a built-in that does not exist.
    #[error("[plugins] builtin names {0:?}, which is not a built-in plugin; choose from: {1}")]
    UnknownBuiltin(String, String),
    /// A plugin file or directory could not be read.
    #[error("cannot read plugin {path}: {source}; check the path in [plugins] files/dirs or --plugin")]
    Io {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A plugin path has no file name.
    #[error("plugin path {0} does not name a file; give the path of a .wasm component")]
    NotAFile(PathBuf),
}

/// The plugin sources the config selects, built-ins first.
pub fn sources(config: &Config) -> Result<Vec<PluginSource>, SourceError> {
    let mut out = Vec::new();
    match &config.plugins.builtin {
        None => {
            out.extend(BUILTINS.iter().filter(|b| b.default).map(builtin_source));
            if config.plugins.enable_exec == Some(true) {
                out.extend(BUILTINS.iter().filter(|b| b.name == "guest-exec").map(builtin_source));
            }
        }
        Some(names) => {
            for name in names {
                let b = BUILTINS.iter().find(|b| b.name == name).ok_or_else(|| {
                    let all: Vec<&str> = BUILTINS.iter().map(|b| b.name).collect();
                    SourceError::UnknownBuiltin(name.clone(), all.join(", "))
                })?;
                out.push(builtin_source(b));
            }
        }
    }
    for file in &config.plugins.files {
        out.push(read_file(file)?);
    }
    for dir in &config.plugins.dirs {
        out.extend(read_dir(dir)?);
    }
    Ok(out)
}

fn builtin_source(b: &Builtin) -> PluginSource {
    PluginSource {
        origin: format!("builtin:{}", b.name),
        bytes: bytes::Bytes::from_static(b.bytes),
        sha256: Some(b.sha256.to_string()),
        builtin: true,
        sidecar_manifest: None,
    }
}

/// Reads one plugin file.
pub fn read_file(path: &Path) -> Result<PluginSource, SourceError> {
    let io = |source| SourceError::Io { path: path.to_path_buf(), source };
    let name = path.file_name().ok_or_else(|| SourceError::NotAFile(path.to_path_buf()))?;
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let dir = Dir::open_ambient_dir(parent, ambient_authority()).map_err(io)?;
    let bytes = dir.read(name).map_err(io)?;
    let sidecar = read_sidecar(&dir, name).map_err(io)?;
    Ok(PluginSource {
        origin: path.display().to_string(),
        bytes: bytes.into(),
        sha256: None,
        builtin: false,
        sidecar_manifest: sidecar,
    })
}

fn read_dir(path: &Path) -> Result<Vec<PluginSource>, SourceError> {
    let io = |source| SourceError::Io { path: path.to_path_buf(), source };
    let dir = Dir::open_ambient_dir(path, ambient_authority()).map_err(io)?;
    let mut names = Vec::new();
    for entry in dir.entries().map_err(io)? {
        let entry = entry.map_err(io)?;
        let name = entry.file_name();
        if name.to_string_lossy().ends_with(".wasm") && entry.file_type().map_err(io)?.is_file() {
            names.push(name);
        }
    }
    names.sort();
    names
        .into_iter()
        .map(|name| {
            let bytes = dir.read(&name).map_err(io)?;
            let sidecar = read_sidecar(&dir, &name).map_err(io)?;
            Ok(PluginSource {
                origin: path.join(&name).display().to_string(),
                bytes: bytes.into(),
                sha256: None,
                builtin: false,
                sidecar_manifest: sidecar,
            })
        })
        .collect()
}

/// The sidecar manifest of `NAME.wasm`: `NAME.proxmcp.json` in the same
/// directory, if there is one.
fn read_sidecar(dir: &Dir, wasm: &std::ffi::OsStr) -> std::io::Result<Option<Arc<[u8]>>> {
    let name = wasm.to_string_lossy();
    let stem = name.strip_suffix(".wasm").unwrap_or(&name);
    match dir.read(format!("{stem}.proxmcp.json")) {
        Ok(bytes) => Ok(Some(bytes.into())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}
