//! When operations start: the run's stop conditions and, in open loop, the
//! fixed schedule.
//!
//! Operations are numbered `0, 1, 2, ...` in the order workers claim them.
//! In a closed loop an operation starts as soon as a worker is free. In an
//! open loop operation `i` is *due* at `start + i / rate` no matter how the
//! server is doing; a worker that claims it late still measures its latency
//! from the due time (the queueing delay is part of what a real client at
//! that rate would see), which avoids coordinated omission.

use std::time::{Duration, Instant};

/// How operations are paced.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Pace {
    /// Each worker sends its next operation when the previous one answered.
    Closed,
    /// Operations are due at fixed intervals: `rate` per second.
    Open {
        /// Operations per second.
        rate: f64,
    },
}

/// What a worker should do with the operation it claimed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slot {
    /// Run it; latency counts from this instant (sleep until then if it is
    /// in the future).
    Go(Instant),
    /// The run is over.
    Stop,
}

/// A run's schedule.
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    /// Pacing.
    pub pace: Pace,
    /// When operation 0 is due.
    pub start: Instant,
    /// No operation starts at or after this.
    pub end: Option<Instant>,
    /// At most this many operations.
    pub max_ops: Option<u64>,
}

impl Plan {
    /// A plan for `duration` and/or `max_ops`; with neither, 10 seconds.
    pub fn new(
        pace: Pace,
        start: Instant,
        duration: Option<Duration>,
        max_ops: Option<u64>,
    ) -> Self {
        let duration = match (duration, max_ops) {
            (None, None) => Some(Duration::from_secs(10)),
            (d, _) => d,
        };
        Self {
            pace,
            start,
            end: duration.map(|d| start + d),
            max_ops,
        }
    }

    /// How long after the start operation `i` is due at `rate` per second.
    pub fn offset(rate: f64, i: u64) -> Duration {
        Duration::from_secs_f64(i as f64 / rate)
    }

    /// Decides about operation `i`, claimed at `now`.
    pub fn slot(&self, i: u64, now: Instant) -> Slot {
        if self.max_ops.is_some_and(|m| i >= m) || self.end.is_some_and(|e| now >= e) {
            return Slot::Stop;
        }
        match self.pace {
            Pace::Closed => Slot::Go(now),
            Pace::Open { rate } => {
                let due = self.start + Self::offset(rate, i);
                if self.end.is_some_and(|e| due >= e) {
                    Slot::Stop
                } else {
                    Slot::Go(due)
                }
            }
        }
    }

    /// In open loop, how many operations fall due during the run (those not
    /// started by the end were never sent). `None` for a closed loop.
    pub fn scheduled(&self) -> Option<u64> {
        let Pace::Open { rate } = self.pace else {
            return None;
        };
        let by_time = self
            .end
            .map(|e| ((e - self.start).as_secs_f64() * rate).ceil() as u64);
        match (by_time, self.max_ops) {
            (Some(t), Some(m)) => Some(t.min(m)),
            (Some(t), None) => Some(t),
            (None, m) => m,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_loop_offsets_are_evenly_spaced() {
        assert_eq!(Plan::offset(1000.0, 0), Duration::ZERO);
        assert_eq!(Plan::offset(1000.0, 1), Duration::from_millis(1));
        assert_eq!(Plan::offset(1000.0, 1000), Duration::from_secs(1));
        assert_eq!(Plan::offset(4.0, 3), Duration::from_millis(750));
        // No drift after many operations.
        let far = Plan::offset(7.0, 7_000_000);
        assert_eq!(far, Duration::from_secs(1_000_000));
    }

    #[test]
    fn open_loop_slots_are_due_on_schedule_even_when_claimed_late() {
        let t0 = Instant::now();
        let plan = Plan::new(
            Pace::Open { rate: 100.0 },
            t0,
            Some(Duration::from_secs(1)),
            None,
        );
        assert_eq!(plan.slot(5, t0), Slot::Go(t0 + Duration::from_millis(50)));
        // Claimed 300 ms late: still due at 50 ms, so the wait is measured.
        let late = t0 + Duration::from_millis(350);
        assert_eq!(plan.slot(5, late), Slot::Go(t0 + Duration::from_millis(50)));
        // Operation 100 would be due at the end: not part of the run.
        assert_eq!(plan.slot(100, t0), Slot::Stop);
        assert_eq!(plan.slot(99, t0 + Duration::from_secs(1)), Slot::Stop);
        assert_eq!(plan.scheduled(), Some(100));
    }

    #[test]
    fn closed_loop_goes_now_until_the_count_or_the_end() {
        let t0 = Instant::now();
        let plan = Plan::new(Pace::Closed, t0, None, Some(3));
        let now = t0 + Duration::from_secs(100);
        assert_eq!(plan.slot(2, now), Slot::Go(now));
        assert_eq!(plan.slot(3, now), Slot::Stop);
        assert_eq!(plan.scheduled(), None);
        let timed = Plan::new(Pace::Closed, t0, Some(Duration::from_secs(2)), None);
        assert_eq!(timed.slot(1_000_000, t0), Slot::Go(t0));
        assert_eq!(timed.slot(0, t0 + Duration::from_secs(2)), Slot::Stop);
    }

    #[test]
    fn without_count_or_duration_a_run_lasts_ten_seconds() {
        let t0 = Instant::now();
        let plan = Plan::new(Pace::Open { rate: 2.5 }, t0, None, None);
        assert_eq!(plan.end, Some(t0 + Duration::from_secs(10)));
        assert_eq!(plan.scheduled(), Some(25));
        let counted = Plan::new(Pace::Open { rate: 2.5 }, t0, None, Some(7));
        assert_eq!(counted.end, None);
        assert_eq!(counted.scheduled(), Some(7));
    }
}
