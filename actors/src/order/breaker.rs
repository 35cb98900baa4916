//! The circuit breaker of the payment call, as plain code driven by an
//! explicit clock (every method takes `now`), so every transition is unit
//! tested without sleeping.
//!
//! Vocabulary follows resilience4j; the rules are chosen for a payment call
//! on shared, sometimes loaded machines:
//! - **Closed**: calls pass. Outcomes go into a **time-based** sliding window
//!   of the last `sliding_window` (one bucket per second). Once the window
//!   holds at least `minimum_number_of_calls`, the breaker opens when the
//!   failure rate reaches `failure_rate_threshold` or the slow-call rate
//!   (successful calls slower than `slow_call_duration_threshold`) reaches
//!   `slow_call_rate_threshold`. A time-based window weighs a burst of
//!   timeouts against everything that succeeded around it: a CPU stall that
//!   times out every call in flight for a moment does not open the breaker
//!   (a count-based window of 50 calls filled with such a burst did).
//! - **Outage**: independently, the breaker opens when no call has succeeded
//!   for `outage_after` and at least `outage_min_failures` calls failed in
//!   that time: a payment node that froze or vanished is cut off within
//!   seconds even when too few calls arrive for the rates to be judged
//!   (0 disables the rule).
//! - **Open**: calls are refused at once for `wait_duration_in_open_state`.
//! - **HalfOpen**: `permitted_calls_in_half_open_state` probe calls pass;
//!   when all have reported, the breaker closes if their failure and slow
//!   rates are under the thresholds and opens again otherwise. A probe that
//!   fails while others are in flight re-opens at once.
//!
//! Every admitted call holds a [`Permit`] and must report exactly once, by
//! [`Breaker::on_success`], [`Breaker::on_failure`] or
//! [`Breaker::on_cancelled`] (a cancelled call releases its half-open slot
//! without counting), so the breaker can never be stuck in half-open with
//! its probe permits lost.

use std::{
    collections::VecDeque,
    time::{Duration, Instant},
};

/// When the breaker opens and how it recovers (resilience4j's names).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BreakerConfig {
    /// How far back the closed breaker looks (whole seconds count).
    pub sliding_window: Duration,
    /// Calls needed in the window before rates are judged.
    pub minimum_number_of_calls: usize,
    /// Failure percentage that opens the breaker.
    pub failure_rate_threshold: f64,
    /// A successful call slower than this is a slow call.
    pub slow_call_duration_threshold: Duration,
    /// Slow-call percentage that opens the breaker.
    pub slow_call_rate_threshold: f64,
    /// No success for this long, with enough failures, opens the breaker
    /// (zero: off).
    pub outage_after: Duration,
    /// Failures the outage rule needs in that time.
    pub outage_min_failures: u32,
    /// How long the breaker stays open.
    pub wait_duration_in_open_state: Duration,
    /// Probe calls let through while half-open.
    pub permitted_calls_in_half_open_state: usize,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            sliding_window: Duration::from_secs(10),
            minimum_number_of_calls: 20,
            failure_rate_threshold: 50.0,
            slow_call_duration_threshold: Duration::from_millis(1000),
            slow_call_rate_threshold: 100.0,
            outage_after: Duration::from_secs(2),
            outage_min_failures: 3,
            wait_duration_in_open_state: Duration::from_secs(2),
            permitted_calls_in_half_open_state: 3,
        }
    }
}

/// The breaker's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Calls pass.
    Closed,
    /// Calls are refused.
    Open,
    /// Probe calls pass.
    HalfOpen,
}

impl State {
    /// Name for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::HalfOpen => "half_open",
        }
    }
}

/// Proof that a call was admitted; report its outcome with it.
#[derive(Debug, PartialEq, Eq)]
#[must_use = "every permit must be reported exactly once"]
pub struct Permit {
    generation: u64,
}

/// A state change, for logs and metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transition {
    /// The state it left.
    pub from: State,
    /// The state it entered.
    pub to: State,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Ok,
    Slow,
    Failed,
}

/// Outcomes of one second (or of the half-open probes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Counts {
    ok: u32,
    slow: u32,
    failed: u32,
}

impl Counts {
    fn add(&mut self, o: Outcome) {
        match o {
            Outcome::Ok => self.ok += 1,
            Outcome::Slow => self.slow += 1,
            Outcome::Failed => self.failed += 1,
        }
    }

    fn total(&self) -> u32 {
        self.ok + self.slow + self.failed
    }

    fn merge(&mut self, other: &Counts) {
        self.ok += other.ok;
        self.slow += other.slow;
        self.failed += other.failed;
    }
}

/// The circuit breaker.
#[derive(Debug)]
pub struct Breaker {
    config: BreakerConfig,
    state: State,
    // When the breaker was made: buckets are whole seconds since then.
    epoch: Instant,
    // Closed: outcomes per second, oldest first.
    buckets: VecDeque<(u64, Counts)>,
    // Half-open: the probes' outcomes.
    probes: Counts,
    // Closed: the last success (or when closed), and failures since.
    last_success: Instant,
    failures_since_success: u32,
    open_until: Option<Instant>,
    half_open_issued: usize,
    // Bumped on every transition: outcomes of calls admitted in an earlier
    // state are ignored (they describe a past the breaker has moved on from).
    generation: u64,
}

impl Breaker {
    /// A closed breaker.
    pub fn new(config: BreakerConfig, now: Instant) -> Self {
        Self {
            config,
            state: State::Closed,
            epoch: now,
            buckets: VecDeque::new(),
            probes: Counts::default(),
            last_success: now,
            failures_since_success: 0,
            open_until: None,
            half_open_issued: 0,
            generation: 0,
        }
    }

    /// The current state (open turns half-open only when a call asks).
    pub fn state(&self) -> State {
        self.state
    }

    /// Asks to make a call. `Err` carries how long until the breaker will
    /// let a probe through.
    pub fn try_acquire(&mut self, now: Instant) -> (Result<Permit, Duration>, Option<Transition>) {
        let mut transition = None;
        if self.state == State::Open {
            let until = self.open_until.unwrap_or(now);
            if now < until {
                return (Err(until - now), None);
            }
            transition = Some(self.move_to(State::HalfOpen, now));
        }
        if self.state == State::HalfOpen {
            if self.half_open_issued >= self.config.permitted_calls_in_half_open_state {
                return (Err(Duration::from_millis(100)), transition);
            }
            self.half_open_issued += 1;
        }
        (
            Ok(Permit {
                generation: self.generation,
            }),
            transition,
        )
    }

    /// The call succeeded after `took`.
    pub fn on_success(
        &mut self,
        permit: Permit,
        took: Duration,
        now: Instant,
    ) -> Option<Transition> {
        let outcome = if took >= self.config.slow_call_duration_threshold {
            Outcome::Slow
        } else {
            Outcome::Ok
        };
        self.record(permit, outcome, now)
    }

    /// The call failed (error or timeout).
    pub fn on_failure(&mut self, permit: Permit, now: Instant) -> Option<Transition> {
        self.record(permit, Outcome::Failed, now)
    }

    /// The call was abandoned before it had an outcome: its half-open slot
    /// is given back, nothing is counted.
    pub fn on_cancelled(&mut self, permit: Permit) {
        if permit.generation == self.generation && self.state == State::HalfOpen {
            self.half_open_issued = self.half_open_issued.saturating_sub(1);
        }
    }

    fn record(&mut self, permit: Permit, outcome: Outcome, now: Instant) -> Option<Transition> {
        if permit.generation != self.generation {
            return None;
        }
        match self.state {
            State::Open => None,
            State::Closed => {
                self.count(outcome, now);
                if outcome == Outcome::Failed {
                    self.failures_since_success += 1;
                } else {
                    self.last_success = now;
                    self.failures_since_success = 0;
                }
                let window = self.window();
                let rates = window.total() as usize >= self.config.minimum_number_of_calls
                    && self.over_thresholds(&window);
                let outage = !self.config.outage_after.is_zero()
                    && self.failures_since_success >= self.config.outage_min_failures
                    && now.duration_since(self.last_success) >= self.config.outage_after;
                (rates || outage).then(|| self.move_to(State::Open, now))
            }
            State::HalfOpen => {
                if outcome == Outcome::Failed {
                    return Some(self.move_to(State::Open, now));
                }
                self.probes.add(outcome);
                if (self.probes.total() as usize) < self.config.permitted_calls_in_half_open_state {
                    return None;
                }
                let to = if self.over_thresholds(&self.probes) {
                    State::Open
                } else {
                    State::Closed
                };
                Some(self.move_to(to, now))
            }
        }
    }

    /// Adds an outcome to its second's bucket and forgets seconds that left
    /// the window.
    fn count(&mut self, outcome: Outcome, now: Instant) {
        let second = now.duration_since(self.epoch).as_secs();
        let keep = self.config.sliding_window.as_secs().max(1);
        while self
            .buckets
            .front()
            .is_some_and(|(s, _)| second.saturating_sub(*s) >= keep)
        {
            self.buckets.pop_front();
        }
        match self.buckets.back_mut() {
            Some((s, counts)) if *s == second => counts.add(outcome),
            _ => {
                let mut counts = Counts::default();
                counts.add(outcome);
                self.buckets.push_back((second, counts));
            }
        }
    }

    fn window(&self) -> Counts {
        let mut all = Counts::default();
        for (_, c) in &self.buckets {
            all.merge(c);
        }
        all
    }

    fn over_thresholds(&self, c: &Counts) -> bool {
        let total = c.total();
        if total == 0 {
            return false;
        }
        let rate = |n: u32| 100.0 * f64::from(n) / f64::from(total);
        rate(c.failed) >= self.config.failure_rate_threshold
            || rate(c.slow) >= self.config.slow_call_rate_threshold
    }

    fn move_to(&mut self, to: State, now: Instant) -> Transition {
        let from = self.state;
        self.state = to;
        self.generation += 1;
        self.buckets.clear();
        self.probes = Counts::default();
        self.last_success = now;
        self.failures_since_success = 0;
        self.half_open_issued = 0;
        self.open_until =
            (to == State::Open).then(|| now + self.config.wait_duration_in_open_state);
        Transition { from, to }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> BreakerConfig {
        BreakerConfig {
            sliding_window: Duration::from_secs(10),
            minimum_number_of_calls: 4,
            failure_rate_threshold: 50.0,
            slow_call_duration_threshold: Duration::from_millis(100),
            slow_call_rate_threshold: 80.0,
            outage_after: Duration::ZERO,
            outage_min_failures: 3,
            wait_duration_in_open_state: Duration::from_secs(2),
            permitted_calls_in_half_open_state: 2,
        }
    }

    fn admit(b: &mut Breaker, now: Instant) -> Permit {
        b.try_acquire(now).0.expect("admitted")
    }

    fn open_it(b: &mut Breaker, now: Instant) {
        for _ in 0..4 {
            let p = admit(b, now);
            let _ = b.on_failure(p, now);
        }
        assert_eq!(b.state(), State::Open);
    }

    #[test]
    fn failures_under_the_minimum_do_not_open() {
        let t = Instant::now();
        let mut b = Breaker::new(config(), t);
        for _ in 0..3 {
            let p = admit(&mut b, t);
            assert_eq!(b.on_failure(p, t), None);
        }
        assert_eq!(b.state(), State::Closed);
    }

    #[test]
    fn a_failure_rate_at_the_threshold_opens_and_open_refuses_with_the_wait() {
        let t = Instant::now();
        let mut b = Breaker::new(config(), t);
        for ok in [true, true, false] {
            let p = admit(&mut b, t);
            if ok {
                let _ = b.on_success(p, Duration::from_millis(1), t);
            } else {
                let _ = b.on_failure(p, t);
            }
        }
        let p = admit(&mut b, t);
        assert_eq!(
            b.on_failure(p, t),
            Some(Transition {
                from: State::Closed,
                to: State::Open
            })
        );
        let (r, tr) = b.try_acquire(t + Duration::from_millis(500));
        assert_eq!(r, Err(Duration::from_millis(1500)));
        assert_eq!(tr, None);
    }

    #[test]
    fn slow_calls_open_the_breaker() {
        let t = Instant::now();
        let mut b = Breaker::new(config(), t);
        let mut last = None;
        for _ in 0..4 {
            let p = admit(&mut b, t);
            last = b.on_success(p, Duration::from_millis(150), t);
        }
        assert_eq!(last.map(|x| x.to), Some(State::Open));
    }

    #[test]
    fn no_success_for_the_outage_time_opens_even_below_the_minimum() {
        let t = Instant::now();
        let mut b = Breaker::new(
            BreakerConfig {
                outage_after: Duration::from_secs(2),
                minimum_number_of_calls: 100,
                ..config()
            },
            t,
        );
        let ok = admit(&mut b, t);
        let _ = b.on_success(ok, Duration::from_millis(1), t);
        // Three failures within two seconds of the last success: not yet.
        for ms in [300, 600, 1900] {
            let now = t + Duration::from_millis(ms);
            let p = admit(&mut b, now);
            assert_eq!(b.on_failure(p, now), None, "{ms} ms");
        }
        let now = t + Duration::from_millis(2200);
        let p = admit(&mut b, now);
        assert_eq!(b.on_failure(p, now).map(|x| x.to), Some(State::Open));
    }

    #[test]
    fn a_burst_of_timeouts_among_many_successes_does_not_open() {
        // A CPU stall: 200 calls a second succeed, then 60 in flight time
        // out together, then calls succeed again.
        let t = Instant::now();
        let mut b = Breaker::new(
            BreakerConfig {
                minimum_number_of_calls: 20,
                outage_after: Duration::from_secs(2),
                ..config()
            },
            t,
        );
        for i in 0..1000u64 {
            let now = t + Duration::from_millis(i * 5);
            let p = admit(&mut b, now);
            let _ = b.on_success(p, Duration::from_millis(1), now);
        }
        let stall = t + Duration::from_millis(5000);
        for _ in 0..60 {
            let p = admit(&mut b, stall);
            assert_eq!(b.on_failure(p, stall), None);
        }
        let after = stall + Duration::from_millis(300);
        let p = admit(&mut b, after);
        assert_eq!(b.on_success(p, Duration::from_millis(1), after), None);
        assert_eq!(b.state(), State::Closed);
    }

    #[test]
    fn seconds_that_left_the_window_are_forgotten() {
        let t = Instant::now();
        let mut b = Breaker::new(config(), t);
        for _ in 0..3 {
            let p = admit(&mut b, t);
            let _ = b.on_failure(p, t);
        }
        // Ten seconds later the failures are gone: one more is 1 of 1...
        let later = t + Duration::from_secs(10);
        let p = admit(&mut b, later);
        assert_eq!(b.on_failure(p, later), None, "below the minimum again");
        // ...and three successes dilute it under the threshold.
        for _ in 0..3 {
            let p = admit(&mut b, later);
            assert_eq!(b.on_success(p, Duration::from_millis(1), later), None);
        }
        assert_eq!(b.state(), State::Closed);
    }

    #[test]
    fn after_the_wait_probes_pass_and_good_probes_close() {
        let t = Instant::now();
        let mut b = Breaker::new(config(), t);
        open_it(&mut b, t);
        let later = t + Duration::from_secs(2);
        let (p1, tr) = b.try_acquire(later);
        assert_eq!(
            tr,
            Some(Transition {
                from: State::Open,
                to: State::HalfOpen
            })
        );
        let p1 = p1.expect("probe");
        let p2 = admit(&mut b, later);
        assert!(b.try_acquire(later).0.is_err(), "only two probes");
        assert_eq!(b.on_success(p1, Duration::from_millis(1), later), None);
        assert_eq!(
            b.on_success(p2, Duration::from_millis(1), later),
            Some(Transition {
                from: State::HalfOpen,
                to: State::Closed
            })
        );
    }

    #[test]
    fn a_failing_probe_reopens_and_late_outcomes_are_ignored() {
        let t = Instant::now();
        let mut b = Breaker::new(config(), t);
        open_it(&mut b, t);
        let later = t + Duration::from_secs(3);
        let p1 = admit(&mut b, later);
        let p2 = admit(&mut b, later);
        assert_eq!(b.on_failure(p1, later).map(|x| x.to), Some(State::Open));
        assert_eq!(
            b.on_success(p2, Duration::ZERO, later),
            None,
            "a probe from before the reopen"
        );
        assert_eq!(b.state(), State::Open);
    }

    #[test]
    fn cancelled_probes_give_their_slot_back() {
        let t = Instant::now();
        let mut b = Breaker::new(config(), t);
        open_it(&mut b, t);
        let later = t + Duration::from_secs(2);
        let p1 = admit(&mut b, later);
        let p2 = admit(&mut b, later);
        b.on_cancelled(p1);
        b.on_cancelled(p2);
        let p3 = admit(&mut b, later);
        let p4 = admit(&mut b, later);
        let _ = b.on_success(p3, Duration::ZERO, later);
        assert_eq!(
            b.on_success(p4, Duration::ZERO, later).map(|x| x.to),
            Some(State::Closed)
        );
    }
}
