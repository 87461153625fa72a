//! The wasmtime engine and the epoch ticker that enforces deadlines.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use super::Limits;

/// How often the epoch advances: the granularity of deadlines and of the
/// yields that keep long-running guests from starving other tasks.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Memory per linear memory slot reset in place instead of released
/// (`just bench`: a read call writes about 1 MiB). Slots not used again
/// keep at most this much each.
const KEEP_RESIDENT: usize = 1 << 20;

/// Which instance allocator the engine ended up with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineKind {
    /// Pre-reserved slots: fast instantiation per call.
    Pooling,
    /// Allocation per instance; used where the pool cannot be reserved
    /// (for example under a tight `ulimit -v`).
    OnDemand,
}

fn base_config(limits: &Limits) -> Config {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    config.max_wasm_stack(limits.max_wasm_stack);
    config
}

/// Creates the engine, probing for the pooling allocator and falling back
/// to on-demand allocation when it cannot be set up.
pub fn create(limits: &Limits) -> wasmtime::Result<(Engine, EngineKind)> {
    let mut pooled = base_config(limits);
    let mut pool = PoolingAllocationConfig::new();
    let n = limits.pool_instances;
    pool.total_component_instances(n)
        .total_core_instances(n * 8)
        .total_memories(n * 4)
        .total_tables(n * 8)
        .total_stacks(n)
        .max_memory_size(limits.memory_bytes);
    // A call's memory is reset in place rather than handed back to the
    // kernel: PAGEMAP_SCAN (Linux 6.7+) finds the slot's resident pages and
    // only those are restored, so the next call neither faults its memory
    // in again nor pays an `madvise` and the TLB shoot-downs it brings.
    // (Without userfaultfd write tracking the kernel reports every present
    // page as written: a reset rewrites each page any call in this slot
    // has touched, not only this call's.)
    // Every call still gets a fresh instance with pristine memory.
    // Without the scan the whole kept size would be cleared on every call,
    // which costs more than the `madvise` it saves.
    if PoolingAllocationConfig::is_pagemap_scan_available() {
        pool.pagemap_scan(wasmtime::Enabled::Yes)
            .linear_memory_keep_resident(KEEP_RESIDENT)
            .table_keep_resident(KEEP_RESIDENT / 16);
    }
    pooled.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    match Engine::new(&pooled) {
        Ok(engine) => Ok((engine, EngineKind::Pooling)),
        Err(e) => {
            tracing::info!("pooling allocator unavailable ({e}); using on-demand allocation");
            Ok((Engine::new(&base_config(limits))?, EngineKind::OnDemand))
        }
    }
}

/// Advances the engine's epoch every tick until dropped.
pub struct EpochTicker {
    stop: Arc<AtomicBool>,
}

impl EpochTicker {
    /// Starts the ticker thread for `engine`.
    pub fn start(engine: &Engine) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let engine = engine.clone();
        let spawned = std::thread::Builder::new().name("proxmcp-epoch".into()).spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                std::thread::sleep(EPOCH_TICK);
                engine.increment_epoch();
            }
        });
        if let Err(e) = spawned {
            tracing::error!("cannot start the epoch ticker ({e}); plugin deadlines fall back to the outer timeout");
        }
        Self { stop }
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
