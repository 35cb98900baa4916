//! Recording outcomes and latencies while a run is under way.
//!
//! Each worker owns a [`Recorder`] (no locks on the hot path) and the
//! recorders are merged at the end. All of them also bump the shared
//! [`Live`] counters that the progress line reads.

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use hdrhistogram::Histogram;

use crate::outcome::Outcome;

/// Largest latency a histogram tells apart, in microseconds (10 minutes);
/// longer ones are recorded as this.
pub const MAX_MICROS: u64 = 600_000_000;

/// A latency histogram in microseconds with `sigfig` significant digits.
pub fn histogram(sigfig: u8) -> Histogram<u64> {
    // Constant, valid bounds: creation cannot fail.
    Histogram::new_with_bounds(1, MAX_MICROS, sigfig).expect("constant histogram bounds are valid")
}

/// Microseconds of `d`, at least 1 (the histogram's lowest value).
pub fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros())
        .unwrap_or(u64::MAX)
        .clamp(1, MAX_MICROS)
}

/// Counters shared by all workers, read once a second by the progress line.
#[derive(Debug, Default)]
pub struct Live {
    counts: [AtomicU64; 5],
}

impl Live {
    /// Counts one outcome.
    pub fn count(&self, o: Outcome) {
        self.counts[o.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// The counts so far, in [`Outcome::ALL`] order.
    pub fn snapshot(&self) -> [u64; 5] {
        std::array::from_fn(|i| self.counts[i].load(Ordering::Relaxed))
    }
}

/// One second of the measured window.
#[derive(Clone, Debug)]
pub struct Second {
    /// Requests that ended in this second, by outcome ([`Outcome::ALL`] order).
    pub counts: [u64; 5],
    /// Latency of the successful ones (2 significant digits).
    pub ok_latency: Histogram<u64>,
}

impl Second {
    fn new() -> Self {
        Self {
            counts: [0; 5],
            ok_latency: histogram(2),
        }
    }
}

/// A 503 answered faster than this is a *fast* 503 (shed at once, e.g. by
/// an open circuit breaker), a slower one waited for something (e.g. a
/// payment timeout), unless `--fast-503-ms` says otherwise.
pub const DEFAULT_FAST_BUSY: Duration = Duration::from_millis(100);

/// One worker's record.
#[derive(Clone, Debug)]
pub struct Recorder {
    measure_from: Instant,
    live: Arc<Live>,
    fast_busy: Duration,
    /// Latency by outcome ([`Outcome::ALL`] order), microseconds.
    pub latency: [Histogram<u64>; 5],
    /// Latency of the fast 503s (a subset of `latency[Busy]`).
    pub busy_fast: Histogram<u64>,
    /// Per second since `measure_from`, by the time requests ended.
    pub timeline: Vec<Second>,
}

impl Recorder {
    /// A recorder that ignores requests started before `measure_from`
    /// (the warm-up), except for the live counters.
    pub fn new(measure_from: Instant, live: Arc<Live>) -> Self {
        Self {
            measure_from,
            live,
            fast_busy: DEFAULT_FAST_BUSY,
            latency: std::array::from_fn(|_| histogram(3)),
            busy_fast: histogram(3),
            timeline: Vec::new(),
        }
    }

    /// Sets the fast-503 threshold.
    pub fn with_fast_busy(mut self, under: Duration) -> Self {
        self.fast_busy = under;
        self
    }

    /// Records a request that started (or was due) at `start` and ended at
    /// `end` with `outcome`.
    pub fn record(&mut self, outcome: Outcome, start: Instant, end: Instant) {
        self.live.count(outcome);
        if start < self.measure_from {
            return;
        }
        let took = end.saturating_duration_since(start);
        let us = micros(took);
        self.latency[outcome.index()].saturating_record(us);
        if outcome == Outcome::Busy && took < self.fast_busy {
            self.busy_fast.saturating_record(us);
        }
        let sec = end.saturating_duration_since(self.measure_from).as_secs() as usize;
        while self.timeline.len() <= sec {
            self.timeline.push(Second::new());
        }
        let s = &mut self.timeline[sec];
        s.counts[outcome.index()] += 1;
        if outcome == Outcome::Success {
            s.ok_latency.saturating_record(us);
        }
    }

    /// Adds another worker's record to this one.
    pub fn merge(&mut self, other: &Recorder) {
        for (mine, theirs) in self.latency.iter_mut().zip(&other.latency) {
            // Same bounds on both sides: adding cannot fail.
            let _ = mine.add(theirs);
        }
        let _ = self.busy_fast.add(&other.busy_fast);
        while self.timeline.len() < other.timeline.len() {
            self.timeline.push(Second::new());
        }
        for (mine, theirs) in self.timeline.iter_mut().zip(&other.timeline) {
            for (a, b) in mine.counts.iter_mut().zip(theirs.counts) {
                *a += b;
            }
            let _ = mine.ok_latency.add(&theirs.ok_latency);
        }
    }

    /// Requests recorded (after the warm-up), by outcome.
    pub fn counts(&self) -> [u64; 5] {
        std::array::from_fn(|i| self.latency[i].len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warm_up_requests_only_reach_the_live_counters() {
        let t0 = Instant::now();
        let live = Arc::new(Live::default());
        let mut r = Recorder::new(t0 + Duration::from_secs(1), live.clone());
        r.record(Outcome::Success, t0, t0 + Duration::from_millis(5));
        r.record(
            Outcome::Busy,
            t0 + Duration::from_secs(1),
            t0 + Duration::from_millis(2500),
        );
        assert_eq!(live.snapshot(), [1, 1, 0, 0, 0]);
        assert_eq!(r.counts(), [0, 1, 0, 0, 0]);
        assert_eq!(r.timeline.len(), 2, "ended 1.5 s into the window");
        assert_eq!(r.timeline[1].counts[Outcome::Busy.index()], 1);
    }

    #[test]
    fn fast_503s_are_split_from_slow_ones() {
        let t0 = Instant::now();
        let mut r =
            Recorder::new(t0, Arc::new(Live::default())).with_fast_busy(Duration::from_millis(100));
        r.record(Outcome::Busy, t0, t0 + Duration::from_millis(3));
        r.record(Outcome::Busy, t0, t0 + Duration::from_millis(301));
        r.record(Outcome::Success, t0, t0 + Duration::from_millis(2));
        assert_eq!(r.latency[Outcome::Busy.index()].len(), 2);
        assert_eq!(r.busy_fast.len(), 1);
        let mut other = Recorder::new(t0, Arc::new(Live::default()));
        other.record(Outcome::Busy, t0, t0 + Duration::from_millis(1));
        r.merge(&other);
        assert_eq!(r.busy_fast.len(), 2);
    }

    #[test]
    fn merging_adds_counts_and_seconds() {
        let t0 = Instant::now();
        let live = Arc::new(Live::default());
        let mut a = Recorder::new(t0, live.clone());
        let mut b = Recorder::new(t0, live);
        a.record(Outcome::Success, t0, t0 + Duration::from_millis(3));
        b.record(Outcome::Success, t0, t0 + Duration::from_millis(2003));
        b.record(Outcome::ConnectionError, t0, t0 + Duration::from_millis(10));
        a.merge(&b);
        assert_eq!(a.counts(), [2, 0, 0, 0, 1]);
        assert_eq!(a.timeline.len(), 3);
        assert_eq!(a.timeline[0].counts, [1, 0, 0, 0, 1]);
        assert_eq!(a.timeline[2].ok_latency.len(), 1);
    }

    #[test]
    fn latencies_are_clamped_into_the_histogram() {
        assert_eq!(micros(Duration::ZERO), 1);
        assert_eq!(micros(Duration::from_millis(3)), 3000);
        assert_eq!(micros(Duration::from_secs(100_000)), MAX_MICROS);
    }
}
