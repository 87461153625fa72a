//! The wasm runtime: one wasmtime engine, components compiled once and
//! cached, a fresh store per tool call, and the limits each call runs under.
//!
//! What a plugin gets when nobody grants anything: no filesystem (no
//! preopens), no network, no environment variables or arguments, stdin
//! closed, stdout/stderr into the host log, wall and monotonic clocks and
//! randomness (a language runtime needs them). Its only way out is the
//! `pve` import, and every request there goes through the [`Broker`] the
//! gate layer supplies for the call.

mod bindings;
mod engine;
pub mod guest_io;
mod limits;
pub mod manifest;
pub mod resources;

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use wasmtime::component::{Component, Linker};
use wasmtime::{Engine, Store};

pub use crate::cache::{CacheError, CompileCache};
pub use bindings::{Broker, CallState};
pub use engine::EngineKind;
pub use limits::Limits;
pub use manifest::{Inspection, Manifest, SUPPORTED_CONTRACTS};

use crate::pve::ApiError;

/// Why a plugin could not be loaded. Each message names the plugin and what
/// to change.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The bytes are not a wasm component.
    #[error("{origin} is not a wasm component: {reason}")]
    NotAComponent {
        /// Where the plugin came from.
        origin: String,
        /// What the parser said.
        reason: String,
    },
    /// No `proxmcp-manifest` section.
    #[error(
        "{origin} has no proxmcp-manifest section and no sidecar manifest; Rust plugins get one from proxmcp-sdk's plugin! macro, components from other languages need NAME.proxmcp.json next to NAME.wasm (proxmcp plugin new writes one)"
    )]
    NoManifest {
        /// Where the plugin came from.
        origin: String,
    },
    /// The manifest does not parse or is invalid.
    #[error("{origin} has an invalid manifest: {reason}")]
    BadManifest {
        /// Where the plugin came from.
        origin: String,
        /// What is wrong.
        reason: String,
    },
    /// Built for a contract version this host does not load.
    #[error(
        "plugin {plugin:?} was built for contract proxmcp:plugin@{found}, but this host loads only {supported}; rebuild it against a supported proxmcp-sdk version"
    )]
    UnsupportedContract {
        /// Plugin name.
        plugin: String,
        /// The version it was built for.
        found: String,
        /// The versions this host supports.
        supported: String,
    },
    /// Imports outside the contract and the minimal WASI set.
    #[error("plugin {plugin:?} imports {}, which proxmcp does not provide to plugins (no filesystem, network or HTTP); remove the code that uses them (e.g. std::fs, std::net) and reach Proxmox only through the pve import", imports.join(", "))]
    ForbiddenImports {
        /// Plugin name.
        plugin: String,
        /// The forbidden import names.
        imports: Vec<String>,
    },
    /// wasmtime refused to compile or link the component.
    #[error("plugin {plugin:?} could not be compiled or linked: {reason}")]
    Compile {
        /// Plugin name.
        plugin: String,
        /// wasmtime's message.
        reason: String,
    },
    /// `list-tools` failed or returned invalid tools.
    #[error("plugin {plugin:?} did not list its tools: {reason}")]
    BadTools {
        /// Plugin name.
        plugin: String,
        /// What went wrong.
        reason: String,
    },
}

/// Why a tool call did not produce a result.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The plugin returned an error; the message is the plugin's.
    #[error("{0}")]
    Tool(ToolFailure),
    /// The call ran past its deadline and was stopped.
    #[error(
        "the tool ran longer than its {limit:?} deadline and was stopped; if it waits on a slow Proxmox task, raise [limits] call_timeout_secs"
    )]
    DeadlineExceeded {
        /// The deadline.
        limit: Duration,
    },
    /// The plugin tried to use more memory than allowed.
    #[error(
        "the tool needed more than its {limit_mib} MiB memory limit and was stopped; narrow the request or raise [limits] memory_mib"
    )]
    MemoryExceeded {
        /// The limit in MiB.
        limit_mib: usize,
    },
    /// The plugin trapped (crashed).
    #[error("the plugin crashed: {0}; the server goes on, report this to the plugin's author")]
    Trapped(String),
    /// The result is larger than allowed.
    #[error(
        "the tool's result is {bytes} bytes, over the {limit} byte limit; ask for less (use limit or filters) or raise [limits] output_kib"
    )]
    OutputTooLarge {
        /// Size of the result.
        bytes: usize,
        /// The limit.
        limit: usize,
    },
}

/// An error a plugin returned from `call-tool`.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ToolFailure {
    /// The arguments were wrong.
    #[error("invalid arguments: {0}")]
    InvalidArguments(String),
    /// The plugin has no such tool.
    #[error("the plugin has no tool {0:?}")]
    UnknownTool(String),
    /// A Proxmox request failed.
    #[error("{0}")]
    Api(ApiError),
    /// Anything else.
    #[error("{0}")]
    Other(String),
}

/// Behaviour hints of a tool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Hints {
    /// Changes nothing.
    pub read_only: bool,
    /// May destroy data.
    pub destructive: bool,
    /// Repeats are harmless.
    pub idempotent: bool,
    /// Reaches an outside system.
    pub open_world: bool,
}

/// A tool as a plugin declared it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ToolSpec {
    /// Unique name.
    pub name: String,
    /// Human title.
    pub title: Option<String>,
    /// Description for the model.
    pub description: String,
    /// Input JSON Schema (an object).
    pub input_schema: serde_json::Map<String, Value>,
    /// Output JSON Schema, if declared.
    pub output_schema: Option<serde_json::Map<String, Value>>,
    /// Behaviour hints.
    pub hints: Hints,
}

/// A successful tool result.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolOutput {
    /// Structured JSON, if any.
    pub structured: Option<Value>,
    /// Summary text.
    pub text: String,
}

/// Where a plugin's bytes came from, for messages and `plugins list`.
#[derive(Debug, Clone)]
pub struct PluginSource {
    /// `builtin:inventory` or a file path.
    pub origin: String,
    /// The component bytes (a built-in's stay in the binary's pages).
    pub bytes: bytes::Bytes,
    /// Their SHA-256 (hex) when known beforehand (built-ins), so a start
    /// with a warm cache need not read them.
    pub sha256: Option<String>,
    /// Compiled into this binary: its manifest's grants are the default
    /// grant. Any other plugin loads only when the operator grants it.
    pub builtin: bool,
    /// The `NAME.proxmcp.json` found next to `NAME.wasm`, for components
    /// that cannot carry the manifest section (Python, JS).
    pub sidecar_manifest: Option<Arc<[u8]>>,
}

/// A plugin compiled, linked and ready to instantiate per call.
pub struct LoadedPlugin {
    /// Its manifest.
    pub manifest: Manifest,
    /// Where it came from.
    pub origin: String,
    /// Its tools.
    pub tools: Vec<ToolSpec>,
    /// Whether the compiled code came from the cache.
    pub from_cache: bool,
    /// Its resources and templates (contract 0.1.1; none for 0.1.0).
    pub resources: resources::Offered,
    pre: bindings::Pre,
}

impl std::fmt::Debug for LoadedPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedPlugin")
            .field("name", &self.manifest.name)
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

/// What a plugin lists at load, as the compile cache keeps it beside the
/// code (checked when it was listed).
#[derive(serde::Serialize, serde::Deserialize)]
struct Listing {
    tools: Vec<ToolSpec>,
    resources: resources::Offered,
}

/// The cache entry of the listing of the code cached as `key`. The host's
/// version is part of the name: another version may check listings more
/// strictly, so it lists again.
fn listing_file(key: &str) -> String {
    format!("{key}.{}.listing.json", env!("CARGO_PKG_VERSION"))
}

/// The engine, linker, limits and compile cache shared by every plugin.
pub struct Runtime {
    engine: Engine,
    linker: Linker<CallState>,
    limits: Limits,
    cache: Option<CompileCache>,
    kind: EngineKind,
    _ticker: engine::EpochTicker,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime").field("limits", &self.limits).field("kind", &self.kind).finish_non_exhaustive()
    }
}

/// Why the runtime could not start.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The engine could not be created.
    #[error("cannot create the wasm engine: {0}")]
    Engine(String),
}

impl Runtime {
    /// Creates the engine (pooling allocator when the machine allows it)
    /// and starts the epoch ticker.
    pub fn new(limits: Limits, cache: Option<CompileCache>) -> Result<Self, RuntimeError> {
        let (engine, kind) = engine::create(&limits).map_err(|e| RuntimeError::Engine(format!("{e:#}")))?;
        let linker = bindings::linker(&engine).map_err(|e| RuntimeError::Engine(format!("{e:#}")))?;
        let ticker = engine::EpochTicker::start(&engine);
        Ok(Self { engine, linker, limits, cache, kind, _ticker: ticker })
    }

    /// The limits every call runs under.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Which instance allocator the engine uses.
    pub fn engine_kind(&self) -> EngineKind {
        self.kind
    }

    /// Reads a plugin's manifest and imports without compiling it.
    pub fn inspect(&self, source: &PluginSource) -> Result<Inspection, LoadError> {
        manifest::inspect(&source.origin, &source.bytes, source.sidecar_manifest.as_deref())
    }

    /// Inspects, compiles (or loads from cache), links and lists the tools
    /// of a plugin.
    pub async fn load(&self, source: &PluginSource) -> Result<LoadedPlugin, LoadError> {
        let inspection = self.inspect(source)?;
        let name = inspection.manifest.name.clone();
        let compile_err = |reason: String| LoadError::Compile { plugin: name.clone(), reason };
        let sha256 = source.sha256.clone().unwrap_or_else(|| CompileCache::sha256_hex(&source.bytes));
        let key = CompileCache::key(&self.engine, &sha256);
        let (component, from_cache) = self.compile(source, &key).await.map_err(compile_err)?;
        let instance_pre = self.linker.instantiate_pre(&component).map_err(|e| compile_err(format!("{e:#}")))?;
        let pre = bindings::Pre::new(instance_pre).map_err(|e| compile_err(format!("{e:#}")))?;
        let mut plugin = LoadedPlugin {
            manifest: inspection.manifest,
            origin: source.origin.clone(),
            tools: Vec::new(),
            resources: resources::Offered::default(),
            from_cache,
            pre,
        };
        let listing = match self.cached_listing(&key) {
            Some(listing) => listing,
            None => {
                let listing =
                    Listing { tools: self.list_tools(&plugin).await?, resources: self.list_resources(&plugin).await? };
                if let (Some(cache), Ok(bytes)) = (&self.cache, serde_json::to_vec(&listing)) {
                    cache.put_file(&listing_file(&key), &bytes);
                }
                listing
            }
        };
        plugin.tools = listing.tools;
        plugin.resources = listing.resources;
        Ok(plugin)
    }

    /// The tools and resources listed when `key` was compiled: the same
    /// code lists the same, and a warm start that does not run every
    /// plugin leaves their code unread until a call needs it.
    fn cached_listing(&self, key: &str) -> Option<Listing> {
        let bytes = self.cache.as_ref()?.get_file(&listing_file(key))?;
        serde_json::from_slice(&bytes).ok()
    }

    async fn compile(&self, source: &PluginSource, key: &str) -> Result<(Component, bool), String> {
        if let Some(component) = self.cached(source, key) {
            return Ok((component, true));
        }
        let engine = self.engine.clone();
        let bytes = source.bytes.clone();
        let component = tokio::task::spawn_blocking(move || {
            let compiled = Component::new(&engine, &bytes);
            release_freed_memory();
            compiled
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("{e:#}"))?;
        if let Some(cache) = &self.cache {
            match component.serialize() {
                Ok(bytes) => cache.put(key, &bytes),
                Err(e) => tracing::warn!("could not serialize a compiled plugin: {e}"),
            }
            // Run from the file just written, as every later start will:
            // its code pages are then the file's, not anonymous memory.
            if let Some(mapped) = self.cached(source, key) {
                return Ok((mapped, false));
            }
        }
        Ok((component, false))
    }

    /// The compiled code for `key` from the cache, mapped from its file.
    fn cached(&self, source: &PluginSource, key: &str) -> Option<Component> {
        let cache = self.cache.as_ref()?;
        let path = cache.trusted_path(key)?;
        // SAFETY: the file was produced by `Component::serialize` of an
        // engine with the same compatibility hash (it is part of the key)
        // and lies in a private (0700) directory whose every ancestor only
        // this user or root can change, as a regular file only this user
        // can write. It is mapped, not read, so its pages are the file's own
        // and the kernel may drop them when idle.
        #[allow(unsafe_code)]
        let loaded = unsafe { Component::deserialize_file(&self.engine, &path) };
        match loaded {
            Ok(component) => Some(component),
            Err(e) => {
                tracing::warn!(origin = %source.origin, "cached code unusable, recompiling: {e}");
                cache.evict(key);
                None
            }
        }
    }

    async fn list_tools(&self, plugin: &LoadedPlugin) -> Result<Vec<ToolSpec>, LoadError> {
        let bad = |reason: String| LoadError::BadTools { plugin: plugin.manifest.name.clone(), reason };
        let raw = self
            .run(plugin, Arc::new(bindings::NoRequests), |pre, instance, store| {
                Box::pin(async move { pre.tools.load(&mut *store, instance)?.call_list_tools(store).await })
            })
            .await
            .map_err(|e| bad(e.to_string()))?;
        let mut tools = Vec::with_capacity(raw.len());
        let mut seen = std::collections::HashSet::new();
        for t in raw {
            if !valid_tool_name(&t.name) {
                return Err(bad(format!("tool name {:?} must be 1-64 characters of a-z, 0-9 or '_'", t.name)));
            }
            if !seen.insert(t.name.clone()) {
                return Err(bad(format!("tool {:?} is listed twice", t.name)));
            }
            let input_schema =
                parse_schema(&t.input_schema).map_err(|e| bad(format!("input schema of {}: {e}", t.name)))?;
            let output_schema = match &t.output_schema {
                Some(s) => Some(parse_schema(s).map_err(|e| bad(format!("output schema of {}: {e}", t.name)))?),
                None => None,
            };
            tools.push(ToolSpec {
                name: t.name,
                title: t.title,
                description: t.description,
                input_schema,
                output_schema,
                hints: Hints {
                    read_only: t.hints.read_only,
                    destructive: t.hints.destructive,
                    idempotent: t.hints.idempotent,
                    open_world: t.hints.open_world,
                },
            });
        }
        Ok(tools)
    }

    /// Runs tool `tool` of `plugin` with `arguments` in a fresh store; every
    /// Proxmox request goes through `broker`.
    pub async fn call(
        &self,
        plugin: &LoadedPlugin,
        tool: &str,
        arguments: &Value,
        broker: Arc<dyn Broker>,
    ) -> Result<ToolOutput, CallError> {
        let args = arguments.to_string();
        let name = tool.to_string();
        let result = self
            .run(plugin, broker, move |pre, instance, store| {
                Box::pin(
                    async move { pre.tools.load(&mut *store, instance)?.call_call_tool(store, &name, &args).await },
                )
            })
            .await?;
        let output = match result {
            Ok(out) => out,
            Err(e) => return Err(CallError::Tool(bindings::tool_failure(e))),
        };
        let bytes = output.text.len() + output.structured.as_ref().map_or(0, String::len);
        if bytes > self.limits.output_bytes {
            return Err(CallError::OutputTooLarge { bytes, limit: self.limits.output_bytes });
        }
        let structured = match output.structured {
            Some(s) => Some(
                serde_json::from_str(&s)
                    .map_err(|e| CallError::Trapped(format!("structured output is not valid JSON ({e})")))?,
            ),
            None => None,
        };
        Ok(ToolOutput { structured, text: output.text })
    }

    /// Instantiates `plugin` in a fresh store with the call's limits and
    /// runs `f` on its exports, stopping it at the deadline.
    async fn run<R, F>(&self, plugin: &LoadedPlugin, broker: Arc<dyn Broker>, f: F) -> Result<R, CallError>
    where
        F: for<'a> FnOnce(
            &'a bindings::Pre,
            &'a wasmtime::component::Instance,
            &'a mut Store<CallState>,
        )
            -> std::pin::Pin<Box<dyn std::future::Future<Output = wasmtime::Result<R>> + Send + 'a>>,
    {
        let limits = &self.limits;
        let deadline = Instant::now() + limits.call_timeout;
        let state = CallState::new(plugin.manifest.name.as_str().into(), broker, limits);
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| s.limiter());
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            if Instant::now() >= deadline {
                Err(wasmtime::Error::new(bindings::DeadlineReached))
            } else {
                Ok(wasmtime::UpdateDeadline::Yield(1))
            }
        });
        let work = async {
            let instance = plugin.pre.instance.instantiate_async(&mut store).await?;
            f(&plugin.pre, &instance, &mut store).await
        };
        // The epoch callback stops wasm code; this outer timeout also covers
        // time spent in host calls (a slow Proxmox answer).
        let outcome = tokio::time::timeout(limits.call_timeout + Duration::from_millis(250), work).await;
        store.data().finish();
        match outcome {
            Err(_) => Err(CallError::DeadlineExceeded { limit: limits.call_timeout }),
            Ok(Ok(r)) => Ok(r),
            Ok(Err(e)) => Err(classify_trap(&e, store.data(), limits)),
        }
    }
}

fn classify_trap(e: &wasmtime::Error, state: &CallState, limits: &Limits) -> CallError {
    if e.downcast_ref::<bindings::DeadlineReached>().is_some() {
        return CallError::DeadlineExceeded { limit: limits.call_timeout };
    }
    if state.memory_exceeded() {
        return CallError::MemoryExceeded { limit_mib: limits.memory_bytes >> 20 };
    }
    if let Some(trap) = e.downcast_ref::<wasmtime::Trap>() {
        let what = match trap {
            wasmtime::Trap::StackOverflow => "it exhausted its stack (runaway recursion)".to_string(),
            wasmtime::Trap::UnreachableCodeReached => "it aborted (a Rust panic or allocation failure)".to_string(),
            // Rust and C guests keep their stack in linear memory; running
            // off its end is the usual cause of this trap.
            wasmtime::Trap::MemoryOutOfBounds => {
                "it accessed memory out of bounds (typically its own stack overflowing from runaway recursion)"
                    .to_string()
            }
            other => other.to_string(),
        };
        return CallError::Trapped(what);
    }
    CallError::Trapped(format!("{e:#}"))
}

/// Compiling a component leaves tens of MB of freed memory in the
/// allocator, which keeps it for a while; hand it back so an idle server
/// stays small after a cold start. The binary allocates with mimalloc, the
/// library's own tests and benches with glibc's malloc: both are asked.
fn release_freed_memory() {
    // SAFETY: mi_collect only frees and decommits memory mimalloc holds
    // unused; without mimalloc as the allocator its heaps are empty.
    #[allow(unsafe_code)]
    unsafe {
        libmimalloc_sys::mi_collect(true);
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free memory to the kernel.
    #[allow(unsafe_code)]
    unsafe {
        libc::malloc_trim(0);
    }
}

fn valid_tool_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn parse_schema(text: &str) -> Result<serde_json::Map<String, Value>, String> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err("it is not a JSON object".into()),
        Err(e) => Err(format!("it is not JSON: {e}")),
    }
}
