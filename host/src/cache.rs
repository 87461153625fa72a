//! The private on-disk cache: compiled components, and the API schemas
//! fetched from clusters (in an `api-schema` directory inside).
//!
//! Compiling a component with Cranelift takes far longer than loading its
//! machine code, so each compiled component is stored under a key made of
//! the SHA-256 of the wasm and the engine's precompile compatibility hash
//! (wasmtime version, target, settings). A changed engine or plugin simply
//! misses.
//!
//! Loading cached code is `unsafe` in wasmtime's sense: the bytes are run as
//! machine code. So, as ssh does for its keys, the directory must be owned
//! by the effective user and not writable by group or others, and every
//! ancestor must be owned by that user or root and be a real directory
//! that others cannot write (a sticky one such as `/tmp` is fine), with no
//! symbolic link on the way unless root owns it. Each entry must be a
//! regular file owned by the user and written by no one else; entries are
//! created 0600. The directory is opened through cap-std so that file names
//! can never step outside it.

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
    /// The directory or a directory above it could be swapped by someone
    /// else.
    #[error(
        "compile cache directory {path} cannot be trusted: {why}; its code would run as native code. Pick a [cache] dir inside a directory only you (or root) control, e.g. ~/.cache/proxmcp"
    )]
    Untrusted {
        /// The directory.
        path: PathBuf,
        /// What is wrong, naming the path at fault.
        why: String,
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
    /// Opens (creating with mode 0700 if needed) the cache at `path`, after
    /// checking its ownership and every directory above it.
    pub fn open(path: &Path) -> Result<Self, CacheError> {
        let io = |source| CacheError::Io { path: path.to_path_buf(), source };
        let absolute = std::path::absolute(path).map_err(io)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
            check_ancestors(&absolute)?;
            if std::fs::symlink_metadata(&absolute).is_err() {
                std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&absolute).map_err(io)?;
            }
            let meta = std::fs::symlink_metadata(&absolute).map_err(io)?;
            let untrusted = |why: String| CacheError::Untrusted { path: path.to_path_buf(), why };
            if meta.file_type().is_symlink() {
                return Err(untrusted(format!("{} is a symbolic link", absolute.display())));
            }
            if !meta.is_dir() {
                return Err(untrusted(format!("{} is not a directory", absolute.display())));
            }
            let uid = euid();
            if std::os::unix::fs::MetadataExt::uid(&meta) != uid {
                return Err(untrusted(format!(
                    "{} is owned by uid {}, not by you (uid {uid})",
                    absolute.display(),
                    std::os::unix::fs::MetadataExt::uid(&meta)
                )));
            }
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o022 != 0 {
                return Err(CacheError::Insecure { path: path.to_path_buf(), mode });
            }
        }
        #[cfg(not(unix))]
        std::fs::create_dir_all(&absolute).map_err(io)?;
        let dir = Dir::open_ambient_dir(&absolute, ambient_authority()).map_err(io)?;
        Ok(Self { dir, path: path.to_path_buf() })
    }

    /// The directory's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The SHA-256 of `wasm`, in hex.
    pub fn sha256_hex(wasm: &[u8]) -> String {
        hex::encode(Sha256::digest(wasm))
    }

    /// The cache key of the wasm whose SHA-256 is `wasm_sha256` (hex),
    /// compiled by `engine`.
    pub fn key(engine: &Engine, wasm_sha256: &str) -> String {
        let mut hasher = ShaHasher(Sha256::new());
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let engine_hash = hasher.0.finalize();
        format!("{wasm_sha256}-{}", &hex::encode(engine_hash)[..16])
    }

    /// The path of the cached code for `key`, if present and trustworthy
    /// as [`Self::get`] requires, for mapping it instead of reading it.
    pub fn trusted_path(&self, key: &str) -> Option<PathBuf> {
        let name = format!("{key}.cwasm");
        self.trusted(&name).then(|| std::path::absolute(self.path.join(&name)).ok()).flatten()
    }

    /// Cached compiled bytes for `key`, if present and trustworthy: a
    /// regular file of the effective user that no one else can write.
    pub fn get(&self, key: &str) -> Option<Vec<u8>> {
        self.get_file(&format!("{key}.cwasm"))
    }

    /// Whether entry `name` exists as a regular file of this user that no
    /// one else can write.
    fn trusted(&self, name: &str) -> bool {
        let Ok(meta) = self.dir.symlink_metadata(name) else {
            return false;
        };
        #[cfg(unix)]
        {
            use cap_std::fs::{MetadataExt, PermissionsExt};
            if !meta.is_file() || meta.uid() != euid() || meta.permissions().mode() & 0o022 != 0 {
                tracing::warn!(cache = %self.path.display(), entry = %name, "ignoring a cache entry that is not a private regular file of this user");
                return false;
            }
        }
        meta.is_file()
    }

    /// Stores compiled bytes under `key`, atomically (write then rename), so
    /// a concurrent reader never sees half a file.
    pub fn put(&self, key: &str, bytes: &[u8]) {
        self.put_file(&format!("{key}.cwasm"), bytes);
    }

    /// Removes a corrupt entry so it is rebuilt next time.
    pub fn evict(&self, key: &str) {
        let _ = self.dir.remove_file(format!("{key}.cwasm"));
    }

    /// The file `name` (a plain file name), if present and trustworthy as
    /// [`Self::get`] requires.
    pub fn get_file(&self, name: &str) -> Option<Vec<u8>> {
        if !self.trusted(name) {
            return None;
        }
        self.dir.read(name).ok()
    }

    /// Stores the file `name` atomically, as [`Self::put`] does.
    pub fn put_file(&self, name: &str, bytes: &[u8]) {
        let tmp = format!("{name}.{}.tmp", std::process::id());
        let result = self.write_private(&tmp, bytes).and_then(|()| self.dir.rename(&tmp, &self.dir, name));
        if let Err(e) = result {
            let _ = self.dir.remove_file(&tmp);
            tracing::warn!(cache = %self.path.display(), "could not store {name}: {e}");
        }
    }
}

impl CompileCache {
    /// Writes a new file readable and writable by the owner only.
    fn write_private(&self, name: &str, bytes: &[u8]) -> std::io::Result<()> {
        use std::io::Write;
        let mut options = cap_std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        cap_std::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = self.dir.open_with(name, &options)?;
        file.write_all(bytes)
    }
}

/// The effective user id.
#[cfg(unix)]
fn euid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// Every directory above `path` must be a real directory (or a link root
/// owns), owned by the user or root, and writable by no one else unless
/// sticky (so others cannot rename what is inside).
#[cfg(unix)]
fn check_ancestors(path: &Path) -> Result<(), CacheError> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let uid = euid();
    let untrusted = |why: String| CacheError::Untrusted { path: path.to_path_buf(), why };
    let mut ancestors: Vec<&Path> = path.ancestors().skip(1).collect();
    ancestors.reverse();
    for dir in ancestors {
        let Ok(meta) = std::fs::symlink_metadata(dir) else {
            // Not created yet: it will be created 0700 by us.
            continue;
        };
        if meta.file_type().is_symlink() {
            if meta.uid() != 0 {
                return Err(untrusted(format!("{} is a symbolic link not owned by root", dir.display())));
            }
            continue;
        }
        if meta.uid() != uid && meta.uid() != 0 {
            return Err(untrusted(format!("{} is owned by uid {}, neither you nor root", dir.display(), meta.uid())));
        }
        let mode = meta.permissions().mode();
        if mode & 0o022 != 0 && mode & 0o1000 == 0 {
            return Err(untrusted(format!(
                "{} is writable by group or others (mode {:o}), so the cache could be swapped",
                dir.display(),
                mode & 0o7777
            )));
        }
    }
    Ok(())
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

    #[cfg(unix)]
    #[test]
    fn a_cache_dir_owned_by_another_user_is_refused() {
        if euid() != 0 {
            eprintln!("skipped: giving a file to another user needs root");
            return;
        }
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("cache");
        std::fs::create_dir(&dir).unwrap();
        std::os::unix::fs::chown(&dir, Some(euid() + 1000), None).unwrap();
        let err = CompileCache::open(&dir).unwrap_err().to_string();
        assert!(err.contains("not by you"), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn a_symlinked_cache_dir_or_ancestor_is_refused() {
        if euid() != 0 {
            eprintln!("skipped: giving a file to another user needs root");
            return;
        }
        let tmp = tempfile::tempdir().unwrap();
        let real = tmp.path().join("real");
        std::fs::create_dir(&real).unwrap();
        let link = tmp.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        // A root-owned link is trusted as system layout; make it someone else's.
        std::os::unix::fs::lchown(&link, Some(euid() + 1000), None).unwrap();
        let err = CompileCache::open(&link.join("cache")).unwrap_err().to_string();
        assert!(err.contains("symbolic link"), "{err}");
        if euid() != 0 {
            let err = CompileCache::open(&link).unwrap_err().to_string();
            assert!(err.contains("symbolic link"), "{err}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_cache_under_a_parent_others_can_write_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let parent = tmp.path().join("shared");
        std::fs::create_dir(&parent).unwrap();
        std::fs::set_permissions(&parent, std::fs::Permissions::from_mode(0o777)).unwrap();
        let err = CompileCache::open(&parent.join("cache")).unwrap_err().to_string();
        assert!(err.contains("writable by group or others") && err.contains("shared"), "{err}");
        // Sticky, like /tmp: others cannot rename what is inside.
        std::fs::set_permissions(&parent, std::fs::Permissions::from_mode(0o1777)).unwrap();
        assert!(CompileCache::open(&parent.join("cache")).is_ok());
    }

    #[cfg(unix)]
    #[test]
    fn a_swapped_cache_entry_of_another_user_is_not_run() {
        if euid() != 0 {
            eprintln!("skipped: giving a file to another user needs root");
            return;
        }
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let cache = CompileCache::open(&tmp.path().join("c")).unwrap();
        cache.put("k", b"abc");
        let entry = tmp.path().join("c/k.cwasm");
        assert_eq!(std::fs::metadata(&entry).unwrap().permissions().mode() & 0o777, 0o600);
        std::os::unix::fs::chown(&entry, Some(euid() + 1000), None).unwrap();
        assert!(cache.get("k").is_none(), "a file of another user is ignored");
        std::os::unix::fs::chown(&entry, Some(euid()), None).unwrap();
        std::fs::set_permissions(&entry, std::fs::Permissions::from_mode(0o666)).unwrap();
        assert!(cache.get("k").is_none(), "a file others may write is ignored");
    }

    #[test]
    fn key_depends_on_wasm_bytes() {
        let engine = Engine::default();
        let (a, b) = (CompileCache::sha256_hex(b"a"), CompileCache::sha256_hex(b"b"));
        assert_ne!(CompileCache::key(&engine, &a), CompileCache::key(&engine, &b));
        assert_eq!(CompileCache::key(&engine, &a), CompileCache::key(&engine, &a));
    }
}
