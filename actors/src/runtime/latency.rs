//! Injected latency: the slow payment provider of the original's
//! circuit-breaker experiment (`--inject-latency-ms 200-310`), made to
//! wait what it says.
//!
//! The original drew `(long) (200 + Math.random() * 110)`, a whole number
//! of milliseconds from 200 to 309, and waited with `Thread.sleep`, which
//! is precise to a fraction of a millisecond. So does this:
//! - [`InjectedLatency::draw`] takes a whole millisecond from `MIN..MAX`
//!   (`MAX` excluded; `MIN-MIN` is always `MIN`);
//! - [`InjectedLatency::wait`] sleeps on tokio's timer until the last
//!   couple of milliseconds and then on a blocking thread for the rest.
//!   tokio's timer has a 1 ms grain and fires up to about 2 ms late: on
//!   it alone every injected wait was longer than drawn, and the
//!   experiment harsher than the original's (`benches/README.md`, "Third
//!   sitting").

use std::time::{Duration, Instant};

use rand::Rng;

/// Below this much left, the wait finishes on a blocking thread.
const PRECISE_TAIL: Duration = Duration::from_millis(3);

/// A wait drawn for every call, in whole milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InjectedLatency {
    min_ms: u64,
    max_ms: u64,
}

impl InjectedLatency {
    /// Waits of `min_ms..max_ms` (`max_ms` excluded unless it equals
    /// `min_ms`); `None` if `min_ms > max_ms`.
    pub fn new(min_ms: u64, max_ms: u64) -> Option<Self> {
        (min_ms <= max_ms).then_some(Self { min_ms, max_ms })
    }

    /// The next wait.
    pub fn draw(&self, rng: &mut impl Rng) -> Duration {
        let ms = if self.max_ms > self.min_ms {
            rng.random_range(self.min_ms..self.max_ms)
        } else {
            self.min_ms
        };
        Duration::from_millis(ms)
    }

    /// Draws a wait and waits it; returns what was drawn.
    pub async fn wait(&self) -> Duration {
        let wait = self.draw(&mut rand::rng());
        wait_precisely(wait).await;
        wait
    }
}

/// Waits `wait`, to within the OS's sleep precision (tens of µs) rather
/// than tokio's timer grain.
pub async fn wait_precisely(wait: Duration) {
    let deadline = Instant::now() + wait;
    if let Some(coarse) = wait.checked_sub(PRECISE_TAIL) {
        tokio::time::sleep(coarse).await;
    }
    let rest = deadline.saturating_duration_since(Instant::now());
    if rest.is_zero() {
        return;
    }
    // A blocking thread holds for at most PRECISE_TAIL (plus the timer's
    // lateness); if the pool is gone (shutdown), the wait is simply over.
    let _ = tokio::task::spawn_blocking(move || std::thread::sleep(rest)).await;
}

#[cfg(test)]
mod tests {
    use rand::{rngs::StdRng, SeedableRng};

    use super::*;

    #[test]
    fn draws_whole_milliseconds_from_min_up_to_but_not_including_max() {
        let l = InjectedLatency::new(200, 310).expect("a range");
        let mut rng = StdRng::seed_from_u64(7);
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..20_000 {
            let d = l.draw(&mut rng);
            assert_eq!(d.subsec_nanos() % 1_000_000, 0, "{d:?} is not whole ms");
            seen.insert(d.as_millis());
        }
        assert_eq!(seen.first(), Some(&200));
        assert_eq!(
            seen.last(),
            Some(&309),
            "310 is excluded, like the original"
        );
        assert_eq!(seen.len(), 110, "every millisecond of 200..310 comes up");
    }

    #[test]
    fn a_fixed_range_always_waits_its_one_value_and_a_reversed_one_is_refused() {
        let l = InjectedLatency::new(299, 299).expect("a range");
        let mut rng = StdRng::seed_from_u64(1);
        assert!((0..100).all(|_| l.draw(&mut rng) == Duration::from_millis(299)));
        assert_eq!(InjectedLatency::new(5, 4), None);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_precise_wait_ends_after_its_time_and_not_long_after() {
        // How precise it is (tokio's own sleep ends up to ~2 ms late) is
        // measured by the breaker bench, not here: this machine is shared.
        for ms in [0, 1, 3, 4, 200] {
            let wait = Duration::from_millis(ms);
            let started = Instant::now();
            wait_precisely(wait).await;
            let took = started.elapsed();
            assert!(took >= wait, "{ms} ms ended early: {took:?}");
            assert!(
                took < wait + Duration::from_millis(50),
                "{ms} ms took {took:?}"
            );
        }
    }
}
