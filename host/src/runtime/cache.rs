//! On-disk cache of compiled components.
//!
//! Compiling a component with Cranelift takes far longer than loading its
//! machine code, so each compiled component is stored under a key made of
//! the SHA-256 of the wasm and the engine's precompile compatibility hash
//! (wasmtime version, target, settings). A changed engine or plugin simply
//! misses.
//!
//! Loading cached code is `unsafe` in wasmtime's sense: the bytes are run as
//! machine code. The directory is therefore created `0700` and refused when
//! group- or world-writable, and it is opened through cap-std so that file
//! names can never step outside it.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use cap_std::ambient_authority;
use cap_std::fs::Dir;
use sha2::{Digest, Sha256};
use wasmtime::Engine;

/// Why the cache directory cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// Creating or opening the directory failed.
    #[error(
        "cannot use compile cache directory {path}: {source}; set [cache] dir to a writable directory or disable the cache with [cache] enabled = false"
    )]
    Io {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The directory is writable by others, so its contents cannot be trusted.
    #[error(
        "compile cache directory {path} is writable by group or others (mode {mode:o}); its code could be tampered with. Run `chmod 700 {path}` or pick another [cache] dir"
    )]
    Insecure {
        /// The directory.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
}

/// A directory of compiled components.
pub struct CompileCache {
    dir: Dir,
    path: PathBuf,
}

impl std::fmt::Debug for CompileCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompileCache").field("path", &self.path).finish()
    }
}

impl CompileCache {
    /// Opens (creating with mode 0700 if needed) the cache at `path`.
    pub fn open(path: &Path) -> Result<Self, CacheError> {
        let io = |source| CacheError::Io { path: path.to_path_buf(), source };
        #[cfg(unix)]
        {
            use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
            if !path.exists() {
                std::fs::DirBuilder::new().recursive(true).mode(0o700).create(path).map_err(io)?;
            }
            let mode = std::fs::metadata(path).map_err(io)?.permissions().mode() & 0o777;
            if mode & 0o022 != 0 {
                return Err(CacheError::Insecure { path: path.to_path_buf(), mode });
            }
        }
        #[cfg(not(unix))]
        std::fs::create_dir_all(path).map_err(io)?;
        let dir = Dir::open_ambient_dir(path, ambient_authority()).map_err(io)?;
        Ok(Self { dir, path: path.to_path_buf() })
    }

    /// The directory's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The cache key of `wasm` compiled by `engine`.
    pub fn key(engine: &Engine, wasm: &[u8]) -> String {
        let mut hasher = ShaHasher(Sha256::new());
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let engine_hash = hasher.0.finalize();
        let wasm_hash = Sha256::digest(wasm);
        format!("{}-{}", hex::encode(wasm_hash), &hex::encode(engine_hash)[..16])
    }

    /// Cached compiled bytes for `key`, if present.
    pub fn get(&self, key: &str) -> Option<Vec<u8>> {
        self.dir.read(format!("{key}.cwasm")).ok()
    }

    /// Stores compiled bytes under `key`, atomically (write then rename), so
    /// a concurrent reader never sees half a file.
    pub fn put(&self, key: &str, bytes: &[u8]) {
        let tmp = format!("{key}.{}.tmp", std::process::id());
        let result =
            self.dir.write(&tmp, bytes).and_then(|()| self.dir.rename(&tmp, &self.dir, format!("{key}.cwasm")));
        if let Err(e) = result {
            let _ = self.dir.remove_file(&tmp);
            tracing::warn!(cache = %self.path.display(), "could not store a compiled plugin: {e}");
        }
    }

    /// Removes a corrupt entry so it is rebuilt next time.
    pub fn evict(&self, key: &str) {
        let _ = self.dir.remove_file(format!("{key}.cwasm"));
    }
}

/// Feeds `Hash` output into SHA-256, giving a key that is stable across
/// processes (unlike `DefaultHasher`, whose output is not promised stable).
struct ShaHasher(Sha256);

impl Hasher for ShaHasher {
    fn finish(&self) -> u64 {
        0
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_dir_is_created_private_and_round_trips() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("nested/cache");
        let cache = CompileCache::open(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o700);
        }
        assert!(cache.get("k").is_none());
        cache.put("k", b"abc");
        assert_eq!(cache.get("k").as_deref(), Some(&b"abc"[..]));
        cache.evict("k");
        assert!(cache.get("k").is_none());
    }

    #[cfg(unix)]
    #[test]
    fn world_writable_cache_dir_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let err = CompileCache::open(tmp.path()).unwrap_err().to_string();
        assert!(err.contains("chmod 700"), "{err}");
    }

    #[test]
    fn key_depends_on_wasm_bytes() {
        let engine = Engine::default();
        assert_ne!(CompileCache::key(&engine, b"a"), CompileCache::key(&engine, b"b"));
        assert_eq!(CompileCache::key(&engine, b"a"), CompileCache::key(&engine, b"a"));
    }
}
