//! Event lag: how long after `201 Created` on `POST /orders` the order
//! shows on `GET /myPages/{id}` (payment and order events relayed from the
//! outbox, read from the stream and projected into Redis).
//!
//! A probe places one order every `every`, then polls its MyPage every
//! `poll` until it shows `orderStatus: "Ordered"`. Probes run one at a time
//! beside the load and are not counted in it. The lag is measured to the
//! arrival of the first answer that shows the order, so it is an upper bound
//! with a resolution of one poll interval plus one round trip.

use std::time::{Duration, Instant};

use reqwest::Client;
use tokio::sync::watch;

use crate::{
    recorder::{histogram, micros},
    report::{LagReport, Percentiles},
    scenario::{order_body, placed, send, visible},
};

/// How long a probe waits for its order to show.
pub const DEADLINE: Duration = Duration::from_secs(10);
/// Most probes in one run (a bound besides the stop signal).
pub const MAX_PROBES: u64 = 1_000_000;

/// Probes until `stop` turns true; only probes placed at or after
/// `measure_from` are counted.
pub async fn probe(
    client: Client,
    base: String,
    every: Duration,
    poll: Duration,
    measure_from: Instant,
    mut stop: watch::Receiver<bool>,
) -> LagReport {
    let mut lags = histogram(3);
    let mut report = LagReport {
        poll_ms: u64::try_from(poll.as_millis()).unwrap_or(u64::MAX),
        ..LagReport::default()
    };
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    for n in 0..MAX_PROBES {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => break,
        }
        if *stop.borrow() {
            break;
        }
        let counted = Instant::now() >= measure_from;
        let req = client
            .post(format!("{base}/orders"))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(order_body(1_000_000_000_000 + n));
        let id = match send(req).await {
            Ok((_, 201, body)) => placed(&body),
            _ => None,
        };
        let Some(order) = id else {
            if counted {
                report.failed_places += 1;
            }
            continue;
        };
        let created = Instant::now();
        let mut shown = None;
        while created.elapsed() < DEADLINE && !*stop.borrow() {
            if visible(&client, &base, &order).await {
                shown = Some(created.elapsed());
                break;
            }
            tokio::time::sleep(poll).await;
        }
        if !counted || (shown.is_none() && *stop.borrow()) {
            // Warm-up, or cut short by the end of the run.
            continue;
        }
        report.probes += 1;
        let at = created
            .saturating_duration_since(measure_from)
            .as_secs_f64();
        match shown {
            Some(lag) => lags.saturating_record(micros(lag)),
            None => report.timeouts += 1,
        }
        report
            .samples
            .push((at, shown.map(|l| l.as_secs_f64() * 1000.0)));
    }
    report.lag_ms = Percentiles::of(&lags);
    report
}
