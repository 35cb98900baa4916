//! When a consumer tries a failing event again, and when it gives up.
//!
//! A failure that may pass (Redis or the disk briefly unavailable:
//! `HandlerError::Retry`) leaves the event pending in its group; the
//! consumer delivers it to itself again after a wait that doubles from
//! `first` up to `max`, while the events after it flow on. Once the waits
//! add up to `total`, the event is dead-lettered. Poison (an event that can
//! never apply) is dead-lettered at once, without retries.
//!
//! Everything is decided from what Redis keeps for a pending entry (how
//! often it was delivered, how long ago last), so the schedule survives a
//! restart and holds whichever member of the group holds the entry. `max`
//! stays below the group's claim time (30 s): a live member's waiting entry
//! is never taken over by another.

use std::time::Duration;

/// The retry schedule of a consumer group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Wait before the second delivery.
    pub first: Duration,
    /// Longest wait between two deliveries.
    pub max: Duration,
    /// Waits in all, after which the event is dead-lettered.
    pub total: Duration,
}

impl Default for RetryPolicy {
    /// 250 ms doubling to 20 s, for 15 minutes in all (about 50
    /// deliveries): a full disk or a Redis failover has time to pass.
    fn default() -> Self {
        Self {
            first: Duration::from_millis(250),
            max: Duration::from_secs(20),
            total: Duration::from_secs(15 * 60),
        }
    }
}

impl RetryPolicy {
    /// The wait after the `deliveries`-th delivery failed.
    pub fn delay(&self, deliveries: u64) -> Duration {
        let doublings = deliveries.saturating_sub(1).min(32) as u32;
        self.first
            .checked_mul(1u32 << doublings.min(31))
            .unwrap_or(self.max)
            .min(self.max)
    }

    /// The waits before an entry's `deliveries`-th delivery, in all.
    pub fn waited(&self, deliveries: u64) -> Duration {
        (1..deliveries)
            .map(|k| self.delay(k))
            .fold(Duration::ZERO, |a, b| a.saturating_add(b))
    }

    /// Whether an entry whose `deliveries`-th delivery failed goes to the
    /// dead letters now: its waits have reached `total`.
    pub fn exhausted(&self, deliveries: u64) -> bool {
        self.waited(deliveries) >= self.total
    }

    /// Whether an entry delivered `deliveries` times, last `idle` ago, is
    /// due again.
    pub fn due(&self, deliveries: u64, idle: Duration) -> bool {
        idle >= self.delay(deliveries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_up_to_the_cap_and_add_up_to_the_total() {
        let p = RetryPolicy::default();
        assert_eq!(p.delay(1), Duration::from_millis(250));
        assert_eq!(p.delay(2), Duration::from_millis(500));
        assert_eq!(p.delay(7), Duration::from_secs(16));
        assert_eq!(p.delay(8), Duration::from_secs(20));
        assert_eq!(p.delay(1000), Duration::from_secs(20));
        assert!(!p.exhausted(1));
        assert!(!p.exhausted(5), "five deliveries are seconds, not minutes");
        let last = (1..).find(|n| p.exhausted(*n)).expect("it ends");
        assert!(p.waited(last) >= Duration::from_secs(15 * 60));
        assert!(p.waited(last - 1) < Duration::from_secs(15 * 60));
        assert!(
            p.waited(last) >= Duration::from_secs(600),
            "at least 10 minutes"
        );
        assert!((40..60).contains(&last), "{last} deliveries");
        assert!(p.due(3, Duration::from_secs(1)));
        assert!(!p.due(3, Duration::from_millis(999)));
    }

    #[test]
    fn no_total_means_no_retries() {
        let p = RetryPolicy {
            total: Duration::ZERO,
            ..RetryPolicy::default()
        };
        assert!(p.exhausted(1));
    }
}
