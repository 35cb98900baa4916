//! # kukka-benches
//!
//! The load generator load testers use against a running kukka edge
//! (`kukka-bench --url http://127.0.0.1:8088`). It runs a fixed number of
//! connections in a closed loop for a request count or a duration, and
//! reports throughput, latency percentiles and outcomes by class.
//!
//! Layout: [`Args`] (flags), [`run`] (the load loop), [`Report`] (numbers
//! and their rendering), [`scenario`] (what each request does).

pub mod scenario;

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use clap::Parser;
use serde::Serialize;

/// Flags.
#[derive(Clone, Debug, Parser)]
#[command(
    name = "kukka-bench",
    version,
    about = "Load generator for the kukka edge"
)]
pub struct Args {
    /// Edge base URL(s), comma-separated; requests rotate over them.
    #[arg(long, default_value = "http://127.0.0.1:8088", value_delimiter = ',')]
    pub url: Vec<String>,
    /// Concurrent connections (closed loop).
    #[arg(long, short = 'c', default_value_t = 32)]
    pub connections: usize,
    /// Stop after this many requests in total.
    #[arg(long, short = 'n')]
    pub requests: Option<u64>,
    /// Stop after this many seconds (default 10 when no count is given).
    #[arg(long, short = 'd')]
    pub duration_secs: Option<u64>,
    /// What each request does.
    #[arg(long, value_enum, default_value_t = scenario::Scenario::PlaceOrders)]
    pub scenario: scenario::Scenario,
    /// Write the report as JSON here too.
    #[arg(long)]
    pub json: Option<std::path::PathBuf>,
}

/// Outcome classes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// 2xx.
    Success,
    /// 503 with Retry-After.
    Busy,
    /// Other 4xx.
    ClientError,
    /// 5xx other than a 503 with Retry-After.
    ServerError,
    /// No HTTP answer.
    ConnectionError,
}

/// The numbers of one run.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    /// Requests sent.
    pub requests: u64,
    /// Wall time, seconds.
    pub elapsed_secs: f64,
    /// Requests per second.
    pub throughput: f64,
    /// Latency percentiles of successful requests, milliseconds.
    pub latency_ms: Percentiles,
    /// Latency percentiles of 503 answers, milliseconds.
    pub busy_latency_ms: Percentiles,
    /// 2xx.
    pub ok: u64,
    /// 503 with Retry-After.
    pub busy: u64,
    /// Other 4xx.
    pub client_errors: u64,
    /// Other 5xx.
    pub server_errors: u64,
    /// No answer.
    pub connection_errors: u64,
}

/// Latency percentiles.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Percentiles {
    /// Median.
    pub p50: f64,
    /// 90th.
    pub p90: f64,
    /// 99th.
    pub p99: f64,
    /// 99.9th.
    pub p999: f64,
    /// Largest.
    pub max: f64,
}

impl Percentiles {
    fn of(mut samples: Vec<Duration>) -> Self {
        if samples.is_empty() {
            return Self::default();
        }
        samples.sort();
        let at = |q: f64| {
            let i = ((samples.len() as f64 - 1.0) * q).round() as usize;
            samples[i].as_secs_f64() * 1000.0
        };
        Self {
            p50: at(0.5),
            p90: at(0.9),
            p99: at(0.99),
            p999: at(0.999),
            max: at(1.0),
        }
    }
}

impl Report {
    /// Human-readable summary.
    pub fn render(&self) -> String {
        let l = &self.latency_ms;
        format!(
            "requests {} in {:.2} s = {:.0} req/s\nlatency ms (2xx): p50 {:.2}  p90 {:.2}  p99 {:.2}  p99.9 {:.2}  max {:.2}\noutcomes: 2xx {}  503+Retry-After {} (p50 {:.2} ms)  4xx {}  5xx {}  connection errors {}",
            self.requests, self.elapsed_secs, self.throughput, l.p50, l.p90, l.p99, l.p999, l.max,
            self.ok, self.busy, self.busy_latency_ms.p50, self.client_errors, self.server_errors, self.connection_errors
        )
    }
}

/// Runs the load and returns the report.
pub async fn run(args: &Args) -> anyhow::Result<Report> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(args.connections)
        .build()?;
    let budget = args.requests;
    let until = if budget.is_none() || args.duration_secs.is_some() {
        Some(Instant::now() + Duration::from_secs(args.duration_secs.unwrap_or(10)))
    } else {
        None
    };
    let issued = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for w in 0..args.connections.max(1) {
        let client = client.clone();
        let issued = issued.clone();
        let urls = args.url.clone();
        let scenario = args.scenario;
        workers.push(tokio::spawn(async move {
            let mut samples = Vec::new();
            loop {
                let n = issued.fetch_add(1, Ordering::Relaxed);
                if budget.is_some_and(|b| n >= b) || until.is_some_and(|u| Instant::now() >= u) {
                    break;
                }
                let base = &urls[(n as usize + w) % urls.len()];
                let t0 = Instant::now();
                let outcome = scenario.once(&client, base, n).await;
                samples.push((outcome, t0.elapsed()));
            }
            samples
        }));
    }
    let mut all = Vec::new();
    for w in workers {
        all.extend(w.await?);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let count = |o: Outcome| all.iter().filter(|(x, _)| *x == o).count() as u64;
    let lat = |o: Outcome| {
        all.iter()
            .filter(|(x, _)| *x == o)
            .map(|(_, d)| *d)
            .collect()
    };
    Ok(Report {
        requests: all.len() as u64,
        elapsed_secs: elapsed,
        throughput: all.len() as f64 / elapsed.max(1e-9),
        latency_ms: Percentiles::of(lat(Outcome::Success)),
        busy_latency_ms: Percentiles::of(lat(Outcome::Busy)),
        ok: count(Outcome::Success),
        busy: count(Outcome::Busy),
        client_errors: count(Outcome::ClientError),
        server_errors: count(Outcome::ServerError),
        connection_errors: count(Outcome::ConnectionError),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_pick_the_right_samples() {
        let p = Percentiles::of((1..=100).map(Duration::from_millis).collect());
        assert_eq!(p.p50.round(), 51.0);
        assert_eq!(p.p99.round(), 99.0);
        assert_eq!(p.max.round(), 100.0);
        assert_eq!(Percentiles::of(Vec::new()).max, 0.0);
    }
}
