//! The limits every tool call runs under. Each default is stated here.

use std::time::Duration;

/// Per-call resource limits.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Wall-clock deadline of one call, including time spent waiting on
    /// Proxmox. Default 60 s: a write's default 30 s task wait plus the
    /// requests around it, while a stuck plugin still frees its slot.
    pub call_timeout: Duration,
    /// Linear memory one call may use. Default 64 MiB: JSON for thousands
    /// of guests fits several times over.
    pub memory_bytes: usize,
    /// Largest result (text plus structured JSON). Default 1 MiB, far above
    /// any useful answer to a model.
    pub output_bytes: usize,
    /// Guest stdout/stderr/log bytes kept per call. Default 64 KiB.
    pub log_bytes: usize,
    /// Wasm stack per call. Default 512 KiB.
    pub max_wasm_stack: usize,
    /// Instances kept ready in the pooling allocator. Default 64: the most
    /// calls expected to run at once.
    pub pool_instances: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            call_timeout: crate::defaults::CALL_TIMEOUT,
            memory_bytes: crate::defaults::MEMORY_MIB << 20,
            output_bytes: crate::defaults::OUTPUT_KIB << 10,
            log_bytes: 64 << 10,
            max_wasm_stack: 512 << 10,
            pool_instances: 64,
        }
    }
}
