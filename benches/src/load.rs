//! The load loop: workers claim operations from the [`Plan`], run them and
//! record them; a progress task and (optionally) an event-lag probe run
//! beside them. Ctrl-C ends the run early; the report covers what ran.

use std::{
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use hdrhistogram::Histogram;
use tokio::sync::watch;

use crate::{
    args::Args,
    lag,
    outcome::Outcome,
    progress,
    recorder::{Live, Recorder},
    report::{Report, Setup},
    scenario::{self, Ctx},
    schedule::{Pace, Plan, Slot},
    BenchError,
};

/// An operation that starts later than this after it was due counts as late.
const LATE: Duration = Duration::from_millis(1);

/// Shared by the workers.
struct Shared {
    ctx: Ctx,
    plan: Plan,
    next: AtomicU64,
    started: AtomicU64,
    late: AtomicU64,
    stop: AtomicBool,
}

/// What one run measured.
#[derive(Debug)]
pub struct Run {
    /// Its numbers.
    pub report: Report,
    /// The latency of its successful requests, microseconds (for `--hgrm`).
    pub ok_latency: Histogram<u64>,
}

/// Runs the load described by `args` against `urls`.
pub async fn run(args: &Args, urls: Vec<String>) -> Result<Run, BenchError> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(args.timeout_ms))
        .pool_max_idle_per_host(args.connections)
        .redirect(reqwest::redirect::Policy::none())
        .tcp_nodelay(true)
        .build()?;
    let first = urls.first().cloned().unwrap_or_default();
    let ids = if args.scenario.reads() {
        scenario::seed(&client, &first, args.seed_orders.max(1)).await?
    } else {
        Vec::new()
    };
    let warmup = Duration::from_secs_f64(args.warmup_secs);
    let pace = match args.rate {
        Some(rate) => Pace::Open { rate },
        None => Pace::Closed,
    };
    let start = Instant::now();
    let measure_from = start + warmup;
    let plan = Plan::new(
        pace,
        start,
        args.duration_secs
            .map(|d| warmup + Duration::from_secs_f64(d)),
        args.requests,
    );
    let shared = Arc::new(Shared {
        ctx: Ctx {
            client: client.clone(),
            urls: urls.clone(),
            ids,
            scenario: args.scenario,
        },
        plan,
        next: AtomicU64::new(0),
        started: AtomicU64::new(0),
        late: AtomicU64::new(0),
        stop: AtomicBool::new(false),
    });
    let live = Arc::new(Live::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    let progress =
        (!args.quiet).then(|| tokio::spawn(progress::run(live.clone(), start, stop_rx.clone())));
    let probe = args.probe_lag.then(|| {
        tokio::spawn(lag::probe(
            client.clone(),
            first.clone(),
            Duration::from_millis(args.lag_every_ms),
            Duration::from_millis(args.lag_poll_ms),
            measure_from,
            stop_rx.clone(),
        ))
    });
    let interrupt = {
        let shared = shared.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("\nkukka-bench: interrupted; finishing in-flight requests");
                shared.stop.store(true, Ordering::SeqCst);
            }
        })
    };
    let workers: Vec<_> = (0..args.connections)
        .map(|_| {
            let shared = shared.clone();
            let rec = Recorder::new(measure_from, live.clone())
                .with_fast_busy(Duration::from_millis(args.fast_503_ms));
            tokio::spawn(worker(shared, rec))
        })
        .collect();
    let mut merged = Recorder::new(measure_from, live.clone());
    let mut failure = None;
    for w in workers {
        match w.await {
            Ok(rec) => merged.merge(&rec),
            Err(e) => failure = Some(e),
        }
    }
    let finished = Instant::now();
    interrupt.abort();
    let _ = stop_tx.send(true);
    if let Some(p) = progress {
        let _ = p.await;
    }
    let event_lag = match probe {
        Some(p) => Some(p.await?),
        None => None,
    };
    if let Some(e) = failure {
        return Err(e.into());
    }
    let setup = Setup {
        label: args.label.clone(),
        scenario: args.scenario.name().to_string(),
        mode: if args.rate.is_some() {
            "open"
        } else {
            "closed"
        }
        .to_string(),
        connections: args.connections,
        target_rate: args.rate,
        urls,
        warmup_secs: args.warmup_secs,
        env: args.env.iter().map(|(k, v)| format!("{k}={v}")).collect(),
    };
    let elapsed = finished
        .saturating_duration_since(measure_from)
        .as_secs_f64();
    let mut report = Report::build(setup, &merged, elapsed);
    if let Some(scheduled) = shared.plan.scheduled() {
        report.late_starts = Some(shared.late.load(Ordering::Relaxed));
        report.unsent = Some(scheduled.saturating_sub(shared.started.load(Ordering::Relaxed)));
    }
    report.event_lag = event_lag;
    Ok(Run {
        report,
        ok_latency: merged.latency[Outcome::Success.index()].clone(),
    })
}

async fn worker(shared: Arc<Shared>, mut rec: Recorder) -> Recorder {
    let open = matches!(shared.plan.pace, Pace::Open { .. });
    // Bounded by the plan (count or end time); `u64::MAX` is only a backstop.
    for _ in 0..u64::MAX {
        if shared.stop.load(Ordering::Relaxed) {
            break;
        }
        let i = shared.next.fetch_add(1, Ordering::Relaxed);
        let claimed = Instant::now();
        let due = match shared.plan.slot(i, claimed) {
            Slot::Go(due) => due,
            Slot::Stop => break,
        };
        let start = if due > claimed {
            // Idle until it is due. Latency counts from when the timer woke
            // us (tokio's timer is ~1 ms coarse; that is the client's own
            // delay, not the server's).
            tokio::time::sleep_until(due.into()).await;
            Instant::now()
        } else {
            if open && claimed - due > LATE {
                shared.late.fetch_add(1, Ordering::Relaxed);
            }
            // Late (every connection was busy): the wait counts.
            due
        };
        shared.started.fetch_add(1, Ordering::Relaxed);
        shared.ctx.run(i, start, &mut rec).await;
    }
    rec
}
