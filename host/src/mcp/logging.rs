//! MCP logging: a client that sets a level (`logging/setLevel`) receives
//! the messages plugins log during its calls as `notifications/message`,
//! with the plugin as the logger. Each session has its own level.
//!
//! The 2026-07-28 revision deprecates logging (SEP-2577); it stays for
//! clients of the earlier revisions, which the conformance suite checks.
#![allow(deprecated)]

use std::sync::{Arc, Mutex};

use rmcp::RoleServer;
use rmcp::model::{LoggingLevel, LoggingMessageNotificationParam};
use rmcp::service::Peer;
use tokio::sync::mpsc::UnboundedReceiver;

use super::forward::{Pending, queue};
use crate::gate::LogSink;

/// One session's level; `None` until the client sets one.
#[derive(Clone, Default)]
pub struct SessionLevel(Arc<Mutex<Option<LoggingLevel>>>);

impl SessionLevel {
    pub fn set(&self, level: LoggingLevel) {
        *self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(level);
    }

    fn get(&self) -> Option<LoggingLevel> {
        *self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A sink that forwards messages at or above the session's level to
    /// `peer`, in order; `None` when no level is set.
    pub fn sink(&self, peer: &Peer<RoleServer>) -> Option<(LogSink, Pending)> {
        let min = rank(self.get()?);
        let peer = peer.clone();
        let (push, pending) = queue(move |mut rx: UnboundedReceiver<LoggingMessageNotificationParam>| async move {
            while let Some(message) = rx.recv().await {
                if peer.notify_logging_message(message).await.is_err() {
                    break;
                }
            }
        });
        let sink: LogSink = Arc::new(move |level, plugin, message| {
            let level = of_tracing(level);
            if rank(level) >= min {
                let mut param = LoggingMessageNotificationParam::new(level, serde_json::Value::from(message));
                param.logger = Some(plugin.to_string());
                push(param);
            }
        });
        Some((sink, pending))
    }
}

fn of_tracing(level: tracing::Level) -> LoggingLevel {
    match level {
        tracing::Level::ERROR => LoggingLevel::Error,
        tracing::Level::WARN => LoggingLevel::Warning,
        tracing::Level::INFO => LoggingLevel::Info,
        _ => LoggingLevel::Debug,
    }
}

/// Severity order, as RFC 5424 lists the levels.
fn rank(level: LoggingLevel) -> u8 {
    match level {
        LoggingLevel::Debug => 0,
        LoggingLevel::Info => 1,
        LoggingLevel::Notice => 2,
        LoggingLevel::Warning => 3,
        LoggingLevel::Error => 4,
        LoggingLevel::Critical => 5,
        LoggingLevel::Alert => 6,
        LoggingLevel::Emergency => 7,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_rank_by_severity_and_plugin_levels_map_onto_them() {
        assert!(rank(LoggingLevel::Warning) > rank(LoggingLevel::Info));
        assert_eq!(rank(of_tracing(tracing::Level::TRACE)), rank(LoggingLevel::Debug));
        assert_eq!(of_tracing(tracing::Level::WARN), LoggingLevel::Warning);
    }
}
