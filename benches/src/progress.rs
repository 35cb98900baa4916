//! The live progress line on stderr, rewritten in place (`\r`) once a
//! second: elapsed time, throughput over the last second, and totals by
//! outcome.

use std::{
    io::Write as _,
    sync::Arc,
    time::{Duration, Instant},
};

use tokio::sync::watch;

use crate::{outcome::Outcome, recorder::Live};

/// One progress line.
pub fn line(elapsed: Duration, per_sec: f64, counts: [u64; 5]) -> String {
    let mut s = format!(
        "[{:>5.0} s] {:>8.0} req/s  total {:>9}",
        elapsed.as_secs_f64(),
        per_sec,
        counts.iter().sum::<u64>()
    );
    for o in Outcome::ALL {
        s.push_str(&format!("  {} {}", o.label(), counts[o.index()]));
    }
    s
}

/// Prints the line every second until `stop` turns true, then ends it with
/// a newline.
pub async fn run(live: Arc<Live>, started: Instant, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    let mut last = live.snapshot();
    let mut last_at = Instant::now();
    let mut width = 0;
    // Bounded by the stop signal; the count bound is a backstop (11 days).
    for _ in 0..1_000_000u32 {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => break,
        }
        if *stop.borrow() {
            break;
        }
        let now = Instant::now();
        let counts = live.snapshot();
        let done: u64 = counts.iter().sum::<u64>() - last.iter().sum::<u64>();
        let rate = done as f64 / now.duration_since(last_at).as_secs_f64().max(1e-3);
        let text = line(now.duration_since(started), rate, counts);
        width = width.max(text.len());
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r{text:<width$}");
        let _ = err.flush();
        last = counts;
        last_at = now;
    }
    if width > 0 {
        eprintln!();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_shows_rate_total_and_classes() {
        let l = line(Duration::from_secs(12), 7123.4, [100, 2, 3, 0, 1]);
        assert!(
            l.starts_with("[   12 s]     7123 req/s  total       106"),
            "{l}"
        );
        assert!(
            l.ends_with("2xx 100  503+RA 2  4xx 3  5xx 0  conn 1"),
            "{l}"
        );
    }
}
