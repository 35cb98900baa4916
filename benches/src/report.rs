//! The numbers of one run: built from the merged [`Recorder`], rendered as
//! text, and serialised as JSON (`--json`).

use std::fmt::Write as _;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::{outcome::Outcome, recorder::Recorder};

/// Latency percentiles in milliseconds.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    /// Samples.
    pub count: u64,
    /// Mean.
    pub mean: f64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Largest.
    pub max: f64,
}

impl Percentiles {
    /// Percentiles of a histogram of microseconds.
    pub fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Self::default();
        }
        let ms = |us: u64| us as f64 / 1000.0;
        Self {
            count: h.len(),
            mean: h.mean() / 1000.0,
            p50: ms(h.value_at_quantile(0.5)),
            p90: ms(h.value_at_quantile(0.9)),
            p99: ms(h.value_at_quantile(0.99)),
            p999: ms(h.value_at_quantile(0.999)),
            max: ms(h.max()),
        }
    }
}

/// Requests by outcome.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Outcomes {
    /// 2xx.
    pub ok: u64,
    /// 503 with `Retry-After`.
    pub busy: u64,
    /// Other 4xx.
    pub client_errors: u64,
    /// Other 5xx (and unexpected statuses).
    pub server_errors: u64,
    /// No HTTP answer.
    pub connection_errors: u64,
}

impl Outcomes {
    /// From counts in [`Outcome::ALL`] order.
    pub fn from_counts(c: [u64; 5]) -> Self {
        Self {
            ok: c[0],
            busy: c[1],
            client_errors: c[2],
            server_errors: c[3],
            connection_errors: c[4],
        }
    }

    /// All requests.
    pub fn total(&self) -> u64 {
        self.ok + self.busy + self.client_errors + self.server_errors + self.connection_errors
    }
}

/// One second of the run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SecondStats {
    /// Seconds since the measured window began.
    pub second: u64,
    /// How much of this second the run covered (1 except at the end).
    pub covered_secs: f64,
    /// Requests that ended in it.
    pub outcomes: Outcomes,
    /// Median latency of its successful requests, ms.
    pub ok_p50_ms: f64,
    /// 99th percentile latency of its successful requests, ms.
    pub ok_p99_ms: f64,
}

impl SecondStats {
    /// Successful requests per second.
    pub fn ok_rate(&self) -> f64 {
        self.outcomes.ok as f64 / self.covered_secs.max(1e-3)
    }

    /// Other requests per second.
    pub fn other_rate(&self) -> f64 {
        (self.outcomes.total() - self.outcomes.ok) as f64 / self.covered_secs.max(1e-3)
    }
}

/// Event lag: from a `201` on `POST /orders` to the order showing on
/// `GET /myPages/{id}`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LagReport {
    /// Probes whose order was placed.
    pub probes: u64,
    /// Probes whose order never showed within the deadline.
    pub timeouts: u64,
    /// Probes whose `POST /orders` failed.
    pub failed_places: u64,
    /// Poll interval, ms (the lag's resolution).
    pub poll_ms: u64,
    /// Lag of the visible ones, ms.
    pub lag_ms: Percentiles,
    /// Every probe: `[seconds into the measured window, lag ms]` (lag
    /// `null` for a probe that timed out), to see whether the lag grows.
    pub samples: Vec<(f64, Option<f64>)>,
}

/// How the run was set up.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Setup {
    /// The run's name (`--label`).
    pub label: Option<String>,
    /// Scenario name.
    pub scenario: String,
    /// `closed` or `open`.
    pub mode: String,
    /// Connections (closed) or most requests in flight (open).
    pub connections: usize,
    /// Open loop: operations per second asked for.
    pub target_rate: Option<f64>,
    /// Edge URLs.
    pub urls: Vec<String>,
    /// Warm-up, seconds (not counted).
    pub warmup_secs: f64,
    /// Extra environment of a spawned system.
    pub env: Vec<String>,
}

/// The numbers of one run. Fields missing from an older JSON report read
/// as their defaults (for `--replot`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Report {
    /// How it was run.
    pub setup: Setup,
    /// HTTP requests in the measured window.
    pub requests: u64,
    /// Length of the measured window, seconds.
    pub elapsed_secs: f64,
    /// Requests per second.
    pub throughput: f64,
    /// Successful requests per second.
    pub ok_throughput: f64,
    /// Requests by outcome.
    pub outcomes: Outcomes,
    /// Share of 2xx, percent.
    pub ok_pct: f64,
    /// Share of 503 with `Retry-After`, percent.
    pub busy_pct: f64,
    /// Latency of 2xx.
    pub latency_ms: Percentiles,
    /// Latency of 503 with `Retry-After`.
    pub busy_latency_ms: Percentiles,
    /// 503s answered under the fast threshold (`--fast-503-ms`), percent of
    /// all requests: load shed at once (open breaker, full bulkhead).
    pub fast_busy_pct: f64,
    /// Latency of those fast 503s.
    pub fast_busy_latency_ms: Percentiles,
    /// Latency of the other, slow 503s (they waited, e.g. for a timeout).
    pub slow_busy_latency_ms: Percentiles,
    /// Latency of every answered or failed request.
    pub all_latency_ms: Percentiles,
    /// Open loop: operations that started more than 1 ms after they were due
    /// because every connection was busy.
    pub late_starts: Option<u64>,
    /// Open loop: operations due during the run that were never sent.
    pub unsent: Option<u64>,
    /// Event lag, with `--probe-lag`.
    pub event_lag: Option<LagReport>,
    /// Per second of the measured window.
    pub timeline: Vec<SecondStats>,
}

impl Report {
    /// Builds the report of a merged record over `elapsed_secs`.
    pub fn build(setup: Setup, rec: &Recorder, elapsed_secs: f64) -> Self {
        let outcomes = Outcomes::from_counts(rec.counts());
        let requests = outcomes.total();
        let elapsed = elapsed_secs.max(1e-9);
        let pct = |n: u64| {
            if requests == 0 {
                0.0
            } else {
                100.0 * n as f64 / requests as f64
            }
        };
        let mut all = crate::recorder::histogram(3);
        for h in &rec.latency {
            let _ = all.add(h);
        }
        let mut slow_busy = rec.latency[Outcome::Busy.index()].clone();
        let _ = slow_busy.subtract(&rec.busy_fast);
        let timeline = rec
            .timeline
            .iter()
            .enumerate()
            .map(|(i, s)| SecondStats {
                second: i as u64,
                covered_secs: (elapsed_secs - i as f64).clamp(0.0, 1.0),
                outcomes: Outcomes::from_counts(s.counts),
                ok_p50_ms: Percentiles::of(&s.ok_latency).p50,
                ok_p99_ms: Percentiles::of(&s.ok_latency).p99,
            })
            .collect();
        Self {
            setup,
            requests,
            elapsed_secs,
            throughput: requests as f64 / elapsed,
            ok_throughput: outcomes.ok as f64 / elapsed,
            ok_pct: pct(outcomes.ok),
            busy_pct: pct(outcomes.busy),
            latency_ms: Percentiles::of(&rec.latency[Outcome::Success.index()]),
            busy_latency_ms: Percentiles::of(&rec.latency[Outcome::Busy.index()]),
            fast_busy_pct: pct(rec.busy_fast.len()),
            fast_busy_latency_ms: Percentiles::of(&rec.busy_fast),
            slow_busy_latency_ms: Percentiles::of(&slow_busy),
            all_latency_ms: Percentiles::of(&all),
            outcomes,
            late_starts: None,
            unsent: None,
            event_lag: None,
            timeline,
        }
    }

    /// The human-readable summary.
    pub fn render(&self) -> String {
        let s = &self.setup;
        let mut out = String::new();
        let mode = match s.target_rate {
            Some(r) => format!("open loop at {r} ops/s, up to {} in flight", s.connections),
            None => format!("closed loop, {} connections", s.connections),
        };
        let name = s
            .label
            .as_deref()
            .map(|l| format!("{l}: "))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "{name}scenario {}: {mode}, {} URL(s)",
            s.scenario,
            s.urls.len()
        );
        let _ = writeln!(
            out,
            "requests {} in {:.2} s = {:.0} req/s (2xx {:.0}/s)",
            self.requests, self.elapsed_secs, self.throughput, self.ok_throughput
        );
        let _ = writeln!(
            out,
            "latency ms   {:>8} {:>8} {:>8} {:>8} {:>8} {:>9}",
            "p50", "p90", "p99", "p99.9", "max", "count"
        );
        for (name, p) in [
            ("2xx", &self.latency_ms),
            ("503+RA", &self.busy_latency_ms),
            ("  fast", &self.fast_busy_latency_ms),
            ("  slow", &self.slow_busy_latency_ms),
            ("all", &self.all_latency_ms),
        ] {
            if p.count > 0 || name == "2xx" {
                let _ = writeln!(
                    out,
                    "  {name:<10} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>9}",
                    p.p50, p.p90, p.p99, p.p999, p.max, p.count
                );
            }
        }
        let o = &self.outcomes;
        let _ = writeln!(
            out,
            "outcomes: 2xx {} ({:.2}%)  503+Retry-After {} ({:.2}%, fast {:.2}%)  other 4xx {}  5xx {}  connection errors {}",
            o.ok, self.ok_pct, o.busy, self.busy_pct, self.fast_busy_pct, o.client_errors, o.server_errors, o.connection_errors
        );
        if let (Some(late), Some(unsent)) = (self.late_starts, self.unsent) {
            let _ = writeln!(
                out,
                "open loop: {late} started late (all connections busy), {unsent} never sent"
            );
        }
        if let Some(l) = &self.event_lag {
            let _ = writeln!(
                out,
                "event lag ms (201 -> visible on /myPages, poll {} ms): p50 {:.2}  p90 {:.2}  p99 {:.2}  max {:.2}  ({} probes, {} timed out, {} failed to place)",
                l.poll_ms, l.lag_ms.p50, l.lag_ms.p90, l.lag_ms.p99, l.lag_ms.max, l.probes, l.timeouts, l.failed_places
            );
        }
        out.trim_end().to_string()
    }
}

#[cfg(test)]
mod tests {
    use std::{
        sync::Arc,
        time::{Duration, Instant},
    };

    use super::*;
    use crate::recorder::{histogram, Live};

    #[test]
    fn percentiles_come_from_the_histogram() {
        let mut h = histogram(3);
        for ms in 1..=1000u64 {
            h.record(ms * 1000).expect("in range");
        }
        let p = Percentiles::of(&h);
        assert_eq!(p.count, 1000);
        assert!((p.p50 - 500.0).abs() < 0.5, "{}", p.p50);
        assert!((p.p90 - 900.0).abs() < 0.5, "{}", p.p90);
        assert!((p.p99 - 990.0).abs() < 0.5, "{}", p.p99);
        assert!((p.p999 - 999.0).abs() < 0.5, "{}", p.p999);
        assert!((p.max - 1000.0).abs() < 0.5, "{}", p.max);
        assert!((p.mean - 500.5).abs() < 0.5, "{}", p.mean);
        assert_eq!(Percentiles::of(&histogram(3)), Percentiles::default());
    }

    #[test]
    fn a_report_reads_back_from_its_json() {
        let t0 = Instant::now();
        let mut r = crate::recorder::Recorder::new(t0, Arc::new(Live::default()));
        r.record(Outcome::Success, t0, t0 + Duration::from_millis(4));
        let rep = Report::build(Setup::default(), &r, 1.0);
        let back: Report =
            serde_json::from_slice(&serde_json::to_vec(&rep).expect("json")).expect("parse");
        assert_eq!(back, rep);
    }

    #[test]
    fn a_report_counts_shares_and_rates() {
        let t0 = Instant::now();
        let mut r = crate::recorder::Recorder::new(t0, Arc::new(Live::default()));
        for i in 0..90 {
            r.record(Outcome::Success, t0, t0 + Duration::from_millis(10 + i));
        }
        for _ in 0..10 {
            r.record(Outcome::Busy, t0, t0 + Duration::from_millis(1));
        }
        let rep = Report::build(Setup::default(), &r, 2.0);
        assert_eq!(rep.requests, 100);
        assert_eq!(rep.throughput, 50.0);
        assert_eq!(rep.ok_throughput, 45.0);
        assert_eq!(rep.ok_pct, 90.0);
        assert_eq!(rep.busy_pct, 10.0);
        assert_eq!(rep.busy_latency_ms.count, 10);
        assert!(rep.busy_latency_ms.max < 1.1);
        assert_eq!(rep.all_latency_ms.count, 100);
        assert_eq!(rep.timeline.len(), 1);
        assert_eq!(rep.timeline[0].ok_rate(), 90.0);
        assert_eq!(rep.fast_busy_pct, 10.0);
        assert_eq!(rep.fast_busy_latency_ms.count, 10);
        assert_eq!(rep.slow_busy_latency_ms.count, 0);
        assert!(rep
            .render()
            .contains("503+Retry-After 10 (10.00%, fast 10.00%)"));
        let json = serde_json::to_value(&rep).expect("json");
        assert_eq!(json["outcomes"]["busy"], 10);
    }
}
