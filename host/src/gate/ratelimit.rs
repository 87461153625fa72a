//! Rate limits: a token bucket (GCRA, from `governor`) per principal.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// Per-principal rate limits.
pub struct RateLimits {
    limiter: DefaultKeyedRateLimiter<String>,
    clock: DefaultClock,
    per_minute: NonZeroU32,
    burst: NonZeroU32,
}

impl std::fmt::Debug for RateLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimits").field("per_minute", &self.per_minute).field("burst", &self.burst).finish()
    }
}

impl RateLimits {
    /// `per_minute` sustained calls with bursts of `burst` (default: a tenth
    /// of the rate, at least 1). `None` when `per_minute` is 0.
    pub fn new(per_minute: u32, burst: Option<u32>) -> Option<RateLimits> {
        let per_minute = NonZeroU32::new(per_minute)?;
        let burst = burst
            .and_then(NonZeroU32::new)
            .unwrap_or_else(|| NonZeroU32::new(per_minute.get() / 10).unwrap_or(NonZeroU32::MIN));
        let quota = Quota::per_minute(per_minute).allow_burst(burst);
        Some(RateLimits { limiter: RateLimiter::keyed(quota), clock: DefaultClock::default(), per_minute, burst })
    }

    /// Takes one call from `principal`'s bucket, or says how long until one
    /// is available.
    pub fn check(&self, principal: &str) -> Result<(), Duration> {
        self.limiter.check_key(&principal.to_string()).map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }

    /// The configured rate, for messages.
    pub fn describe(&self) -> String {
        format!("{} calls per minute, bursts of {}", self.per_minute, self.burst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_principal_has_its_own_bucket() {
        let limits = RateLimits::new(60, Some(2)).unwrap();
        assert!(limits.check("alice").is_ok());
        assert!(limits.check("alice").is_ok());
        let wait = limits.check("alice").unwrap_err();
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(1), "{wait:?}");
        assert!(limits.check("bob").is_ok(), "bob is not slowed down by alice");
    }

    #[test]
    fn zero_rate_means_no_limit_and_burst_defaults_to_a_tenth() {
        assert!(RateLimits::new(0, None).is_none());
        assert!(RateLimits::new(600, None).unwrap().describe().contains("bursts of 60"));
        assert!(RateLimits::new(5, None).unwrap().describe().contains("bursts of 1"));
    }
}
