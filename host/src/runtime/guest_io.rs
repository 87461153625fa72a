//! Guest stdout/stderr and `log` calls, routed into `tracing` (stderr).
//!
//! In stdio mode the process's stdout is the MCP protocol stream, so guest
//! output must never reach it. Each call gets a budget; output beyond it is
//! counted and dropped, so a spamming plugin cannot flood the log either.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

/// Longest line kept; longer lines are cut.
const MAX_LINE: usize = 4096;

/// Per-call log budget shared by stdout, stderr and the `log` import.
#[derive(Clone)]
pub struct LogBudget {
    inner: Arc<Mutex<BudgetState>>,
}

struct BudgetState {
    plugin: Arc<str>,
    remaining: usize,
    dropped: usize,
}

impl LogBudget {
    /// A budget of `bytes` for plugin `plugin`.
    pub fn new(plugin: Arc<str>, bytes: usize) -> Self {
        Self { inner: Arc::new(Mutex::new(BudgetState { plugin, remaining: bytes, dropped: 0 })) }
    }

    /// Emits one message if the budget allows, else counts it as dropped;
    /// whether it was emitted.
    pub fn emit(&self, stream: &str, level: tracing::Level, message: &str) -> bool {
        let Ok(mut state) = self.inner.lock() else { return false };
        if state.remaining < message.len() {
            state.dropped += message.len();
            state.remaining = 0;
            return false;
        }
        state.remaining -= message.len();
        let plugin = state.plugin.clone();
        drop(state);
        let message: String = message.chars().take(MAX_LINE).collect();
        match level {
            tracing::Level::ERROR => tracing::error!(target: "plugin", %plugin, stream, "{message}"),
            tracing::Level::WARN => tracing::warn!(target: "plugin", %plugin, stream, "{message}"),
            tracing::Level::INFO => tracing::info!(target: "plugin", %plugin, stream, "{message}"),
            tracing::Level::DEBUG => tracing::debug!(target: "plugin", %plugin, stream, "{message}"),
            _ => tracing::trace!(target: "plugin", %plugin, stream, "{message}"),
        }
        true
    }

    /// Reports dropped output once the call is over.
    pub fn finish(&self) {
        if let Ok(state) = self.inner.lock()
            && state.dropped > 0
        {
            tracing::warn!(
                target: "plugin",
                plugin = %state.plugin,
                "dropped {} bytes of plugin output over the per-call log budget",
                state.dropped
            );
        }
    }
}

/// A guest stdio stream (stdout or stderr) that writes lines to the log.
#[derive(Clone)]
pub struct GuestStream {
    stream: &'static str,
    budget: LogBudget,
    pending: Arc<Mutex<Vec<u8>>>,
}

impl GuestStream {
    /// A stream named `stream` ("stdout" or "stderr") on `budget`.
    pub fn new(stream: &'static str, budget: LogBudget) -> Self {
        Self { stream, budget, pending: Arc::new(Mutex::new(Vec::new())) }
    }

    fn accept(&self, buf: &[u8]) {
        let Ok(mut pending) = self.pending.lock() else { return };
        pending.extend_from_slice(buf);
        while let Some(pos) = pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = pending.drain(..=pos).collect();
            self.budget.emit(self.stream, tracing::Level::INFO, String::from_utf8_lossy(&line).trim_end());
        }
        if pending.len() > MAX_LINE {
            let line: Vec<u8> = std::mem::take(&mut *pending);
            self.budget.emit(self.stream, tracing::Level::INFO, &String::from_utf8_lossy(&line));
        }
    }

    /// Emits a last unterminated line.
    pub fn flush_rest(&self) {
        let rest = self.pending.lock().map(|mut p| std::mem::take(&mut *p)).unwrap_or_default();
        if !rest.is_empty() {
            self.budget.emit(self.stream, tracing::Level::INFO, &String::from_utf8_lossy(&rest));
        }
    }
}

impl IsTerminal for GuestStream {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestStream {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl AsyncWrite for GuestStream {
    fn poll_write(self: Pin<&mut Self>, _cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        self.accept(buf);
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_drops_output_beyond_its_size() {
        let budget = LogBudget::new("p".into(), 10);
        budget.emit("stdout", tracing::Level::INFO, "12345");
        budget.emit("stdout", tracing::Level::INFO, "1234567");
        let state = budget.inner.lock().unwrap();
        assert_eq!(state.remaining, 0);
        assert_eq!(state.dropped, 7);
    }

    #[test]
    fn stream_splits_lines() {
        let budget = LogBudget::new("p".into(), 100);
        let s = GuestStream::new("stdout", budget.clone());
        s.accept(b"one\ntw");
        s.accept(b"o\n");
        assert_eq!(budget.inner.lock().unwrap().remaining, 100 - 6);
    }
}
