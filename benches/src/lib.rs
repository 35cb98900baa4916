//! # kukka-benches
//!
//! Load tests and benchmarks of kukka:
//! - `kukka-bench`, the load generator: closed loop (fixed connections) or
//!   open loop (fixed rate, latency from the scheduled time), a duration or a
//!   request count, several scenarios, one or several edge URLs, a live
//!   progress line, HDR-histogram percentiles, a breakdown by outcome, JSON
//!   and SVG output, and `--spawn` to bring the system up and down itself.
//! - `kukka-baseline`, a single-process server (warp + sled + Redis, no
//!   actors, no cluster) doing the same durable work for `POST /orders`,
//!   to compare the cluster with.
//! - Criterion micro benchmarks of the hot pure code (`benches/hot_paths.rs`).
//!
//! See `benches/README.md` for the commands and the results.
//!
//! Layout:
//! - [`args`]: `kukka-bench`'s flags.
//! - [`schedule`]: when operations start (closed and open loop, stop rules).
//! - [`scenario`]: what one operation of each scenario sends.
//! - [`outcome`]: outcome classes of a request (2xx, 503 with Retry-After, ...).
//! - [`recorder`]: per-worker histograms and per-second buckets; live counters.
//! - [`load`]: the workers, progress and probe tasks of one run.
//! - [`progress`]: the progress line on stderr.
//! - [`lag`]: the event-lag probe (201 → visible on `/myPages/{id}`).
//! - [`report`]: the numbers of a run, as text and JSON.
//! - [`hgrm`]: the whole latency distribution in HdrHistogram's `.hgrm`
//!   text format (`--hgrm`).
//! - [`plot`]: latency and throughput over time as SVG.
//! - [`spawn`]: starting and stopping `kukka up` for `--spawn`.
//! - [`baseline`]: the `kukka-baseline` server.
//! - [`ceiling`]: `kukka-consumer-ceiling`, one consumer's own ceiling.
//! - [`error`]: the crate's error type, [`BenchError`].

pub mod args;
pub mod baseline;
pub mod ceiling;
pub mod error;
pub mod hgrm;
pub mod lag;
pub mod load;
pub mod outcome;
pub mod plot;
pub mod progress;
pub mod recorder;
pub mod report;
pub mod scenario;
pub mod schedule;
pub mod spawn;

pub use args::Args;
pub use error::BenchError;
pub use report::Report;

use std::time::Duration;

/// Runs a whole bench: validates the flags, spawns the system if asked,
/// loads it, stops it, and writes `--json` and `--plot`.
pub async fn execute(args: &Args) -> Result<Report, BenchError> {
    if let Some(path) = &args.replot {
        if args.hgrm.is_some() {
            return Err(BenchError::Usage(
                "--hgrm needs a run: a --json report holds percentiles, not the whole distribution"
                    .into(),
            ));
        }
        let bytes = std::fs::read(path)
            .map_err(|e| BenchError::io(format!("cannot read {}", path.display()), e))?;
        let report: Report = serde_json::from_slice(&bytes)?;
        write_outputs(args, &report)?;
        return Ok(report);
    }
    args.validate()?;
    let system = if args.spawn {
        let kukka = spawn::find_kukka(args.kukka.as_deref())?;
        let s = spawn::System::start(
            &kukka,
            &args.env,
            args.keep_data,
            Duration::from_secs(args.ready_timeout_secs),
        )
        .await?;
        if !args.quiet {
            eprintln!(
                "kukka-bench: system up at {} (data in {})",
                s.url,
                s.data_dir.display()
            );
        }
        Some(s)
    } else {
        None
    };
    let urls = match &system {
        Some(s) => vec![s.url.clone()],
        None => args
            .url
            .iter()
            .map(|u| u.trim_end_matches('/').to_string())
            .collect(),
    };
    let result = load::run(args, urls).await;
    if let Some(s) = system {
        match s.stop().await {
            Ok(status) if !status.success() => {
                eprintln!("kukka-bench: kukka up exited with {status}")
            }
            Ok(_) => {}
            Err(e) => eprintln!("kukka-bench: stopping the system: {e}"),
        }
    }
    let run = result?;
    write_outputs(args, &run.report)?;
    if let Some(path) = &args.hgrm {
        std::fs::write(path, hgrm::render(&run.ok_latency))
            .map_err(|e| BenchError::io(format!("cannot write {}", path.display()), e))?;
    }
    Ok(run.report)
}

/// Writes `--json` (unless replotting) and `--plot`.
fn write_outputs(args: &Args, report: &Report) -> Result<(), BenchError> {
    if let Some(path) = args.json.as_ref().filter(|_| args.replot.is_none()) {
        let bytes = serde_json::to_vec_pretty(report)?;
        std::fs::write(path, bytes)
            .map_err(|e| BenchError::io(format!("cannot write {}", path.display()), e))?;
    }
    if let Some(path) = &args.plot {
        let title = format!(
            "{} — {}, {}",
            report.setup.label.as_deref().unwrap_or("kukka-bench"),
            report.setup.scenario,
            match report.setup.target_rate {
                Some(r) => format!("open loop {r} ops/s"),
                None => format!("{} connections", report.setup.connections),
            }
        );
        std::fs::write(path, plot::svg(&title, &report.timeline))
            .map_err(|e| BenchError::io(format!("cannot write {}", path.display()), e))?;
    }
    Ok(())
}
