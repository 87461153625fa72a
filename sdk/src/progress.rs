//! Progress and pauses (contract 0.1.4), for tools that wait for something
//! other than a Proxmox task, or that run many steps.
//!
//! ```no_run
//! use proxmcp_sdk::progress;
//! // Poll every second until something is ready or the call must answer.
//! let mut waited = 0;
//! while !ready() {
//!     progress::report(waited, 60, "waiting for the guest agent");
//!     if !progress::pause(1_000) {
//!         break; // cancelled, or the call's deadline is near
//!     }
//!     waited += 1;
//! }
//! # fn ready() -> bool { true }
//! ```

use crate::bindings::proxmcp::plugin::progress as raw;

/// Tells the MCP client that `done` of `total` steps are finished (`total`
/// 0: unknown). While a step waits for a task ([`crate::pve::wait_task`]),
/// the task's percentage moves the value between `done` and `done + 1`.
/// Reports that do not move forward are dropped.
pub fn report(done: u32, total: u32, message: &str) {
    raw::report(done, total, message);
}

/// Pauses the call for `ms` milliseconds, at most until shortly before its
/// deadline. `false` means stop: the call was cancelled or its deadline is
/// too close to wait.
pub fn pause(ms: u32) -> bool {
    raw::pause(ms)
}
