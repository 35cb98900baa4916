//! The circuit breaker of the payment call, as plain code driven by an
//! explicit clock (every method takes `now`), so every transition is unit
//! tested without sleeping.
//!
//! Vocabulary and rules follow resilience4j:
//! - **Closed**: calls pass. Outcomes go into a count-based sliding window of
//!   the last `sliding_window_size` calls. Once the window holds at least
//!   `minimum_number_of_calls`, the breaker opens when the failure rate
//!   reaches `failure_rate_threshold` or the slow-call rate (successful calls
//!   slower than `slow_call_duration_threshold`) reaches
//!   `slow_call_rate_threshold`. Independently it opens after
//!   `consecutive_failures_threshold` failures in a row (0 disables it).
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
    /// Calls remembered while closed.
    pub sliding_window_size: usize,
    /// Calls needed in the window before rates are judged.
    pub minimum_number_of_calls: usize,
    /// Failure percentage that opens the breaker.
    pub failure_rate_threshold: f64,
    /// A successful call slower than this is a slow call.
    pub slow_call_duration_threshold: Duration,
    /// Slow-call percentage that opens the breaker.
    pub slow_call_rate_threshold: f64,
    /// Failures in a row that open the breaker (0: off).
    pub consecutive_failures_threshold: u32,
    /// How long the breaker stays open.
    pub wait_duration_in_open_state: Duration,
    /// Probe calls let through while half-open.
    pub permitted_calls_in_half_open_state: usize,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            sliding_window_size: 50,
            minimum_number_of_calls: 20,
            failure_rate_threshold: 50.0,
            slow_call_duration_threshold: Duration::from_millis(1000),
            slow_call_rate_threshold: 100.0,
            consecutive_failures_threshold: 10,
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

/// The circuit breaker.
#[derive(Debug)]
pub struct Breaker {
    config: BreakerConfig,
    state: State,
    // Outcomes while closed (or of the probes while half-open).
    window: VecDeque<Outcome>,
    consecutive_failures: u32,
    open_until: Option<Instant>,
    half_open_issued: usize,
    // Bumped on every transition: outcomes of calls admitted in an earlier
    // state are ignored (they describe a past the breaker has moved on from).
    generation: u64,
}

impl Breaker {
    /// A closed breaker.
    pub fn new(config: BreakerConfig) -> Self {
        Self {
            config,
            state: State::Closed,
            window: VecDeque::new(),
            consecutive_failures: 0,
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
                if outcome == Outcome::Failed {
                    self.consecutive_failures += 1;
                } else {
                    self.consecutive_failures = 0;
                }
                self.window.push_back(outcome);
                while self.window.len() > self.config.sliding_window_size {
                    self.window.pop_front();
                }
                let streak = self.config.consecutive_failures_threshold > 0
                    && self.consecutive_failures >= self.config.consecutive_failures_threshold;
                let rates = self.window.len() >= self.config.minimum_number_of_calls
                    && self.over_thresholds();
                (streak || rates).then(|| self.move_to(State::Open, now))
            }
            State::HalfOpen => {
                if outcome == Outcome::Failed {
                    return Some(self.move_to(State::Open, now));
                }
                self.window.push_back(outcome);
                if self.window.len() < self.config.permitted_calls_in_half_open_state {
                    return None;
                }
                let to = if self.over_thresholds() {
                    State::Open
                } else {
                    State::Closed
                };
                Some(self.move_to(to, now))
            }
        }
    }

    fn rate(&self, of: Outcome) -> f64 {
        if self.window.is_empty() {
            return 0.0;
        }
        let n = self.window.iter().filter(|o| **o == of).count();
        100.0 * n as f64 / self.window.len() as f64
    }

    fn over_thresholds(&self) -> bool {
        self.rate(Outcome::Failed) >= self.config.failure_rate_threshold
            || self.rate(Outcome::Slow) >= self.config.slow_call_rate_threshold
    }

    fn move_to(&mut self, to: State, now: Instant) -> Transition {
        let from = self.state;
        self.state = to;
        self.generation += 1;
        self.window.clear();
        self.consecutive_failures = 0;
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
            sliding_window_size: 10,
            minimum_number_of_calls: 4,
            failure_rate_threshold: 50.0,
            slow_call_duration_threshold: Duration::from_millis(100),
            slow_call_rate_threshold: 80.0,
            consecutive_failures_threshold: 0,
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
        let mut b = Breaker::new(config());
        for _ in 0..3 {
            let p = admit(&mut b, t);
            assert_eq!(b.on_failure(p, t), None);
        }
        assert_eq!(b.state(), State::Closed);
    }

    #[test]
    fn a_failure_rate_at_the_threshold_opens_and_open_refuses_with_the_wait() {
        let t = Instant::now();
        let mut b = Breaker::new(config());
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
        let mut b = Breaker::new(config());
        let mut last = None;
        for _ in 0..4 {
            let p = admit(&mut b, t);
            last = b.on_success(p, Duration::from_millis(150), t);
        }
        assert_eq!(last.map(|x| x.to), Some(State::Open));
    }

    #[test]
    fn consecutive_failures_open_even_below_the_minimum() {
        let t = Instant::now();
        let mut b = Breaker::new(BreakerConfig {
            consecutive_failures_threshold: 2,
            minimum_number_of_calls: 100,
            ..config()
        });
        let p = admit(&mut b, t);
        assert_eq!(b.on_failure(p, t), None);
        let p = admit(&mut b, t);
        assert_eq!(b.on_failure(p, t).map(|x| x.to), Some(State::Open));
    }

    #[test]
    fn after_the_wait_probes_pass_and_good_probes_close() {
        let t = Instant::now();
        let mut b = Breaker::new(config());
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
        let mut b = Breaker::new(config());
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
        let mut b = Breaker::new(config());
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
