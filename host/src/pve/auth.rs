//! Password login: a ticket from `POST /access/ticket`, sent as the
//! `PVEAuthCookie` cookie, with the `CSRFPreventionToken` header on writes.
//! PVE tickets live two hours; the client renews before that and once after
//! a 401.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::secret::Secret;

/// Renew a ticket once it is this old (PVE's tickets expire after 2 h).
pub const TICKET_RENEW_AFTER: Duration = Duration::from_secs(100 * 60);

/// A source of "now", so tests can move time forward.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current instant.
    fn now(&self) -> Instant;
}

/// The real clock.
#[derive(Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// A clock tests advance by hand.
#[derive(Debug)]
pub struct ManualClock {
    start: Instant,
    offset: std::sync::Mutex<Duration>,
}

impl ManualClock {
    /// A clock standing at the real now.
    pub fn new() -> Arc<ManualClock> {
        Arc::new(ManualClock { start: Instant::now(), offset: std::sync::Mutex::new(Duration::ZERO) })
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        if let Ok(mut o) = self.offset.lock() {
            *o += by;
        }
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        self.start + self.offset.lock().map(|o| *o).unwrap_or_default()
    }
}

/// A ticket and its CSRF token.
#[derive(Debug, Clone)]
pub struct Ticket {
    /// The `PVEAuthCookie` value.
    pub ticket: Secret,
    /// The `CSRFPreventionToken` header value.
    pub csrf: Secret,
    /// When it was obtained.
    pub obtained: Instant,
}

impl Ticket {
    /// Whether it should be renewed at `now`.
    pub fn stale(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.obtained) >= TICKET_RENEW_AFTER
    }
}
