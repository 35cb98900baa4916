//! The flags of `kukka-bench`.

use std::path::PathBuf;

use clap::Parser;

use crate::{scenario::Scenario, BenchError};

/// Load generator for the kukka edge.
///
/// Closed loop by default (`-c` connections, each sends its next request
/// when the previous one answered); open loop with `--rate` (requests are
/// scheduled at fixed intervals and latency counts from the scheduled time,
/// so a stalled server cannot hide its stalls by slowing the load down).
#[derive(Clone, Debug, Parser)]
#[command(name = "kukka-bench", version)]
pub struct Args {
    /// Edge base URL(s), comma-separated; requests rotate over them.
    /// Ignored with --spawn.
    #[arg(long, default_value = "http://127.0.0.1:8088", value_delimiter = ',')]
    pub url: Vec<String>,
    /// Concurrent connections (closed loop), or the most requests in flight
    /// at once (open loop).
    #[arg(long, short = 'c', default_value_t = 32)]
    pub connections: usize,
    /// Open loop: operations per second, spread evenly over time.
    #[arg(long, short = 'r')]
    pub rate: Option<f64>,
    /// Stop after this many operations.
    #[arg(long, short = 'n')]
    pub requests: Option<u64>,
    /// Stop after this many seconds (default 10 when no count is given).
    #[arg(long, short = 'd')]
    pub duration_secs: Option<f64>,
    /// Load before measuring, in seconds (its requests are not counted).
    #[arg(long, default_value_t = 0.0)]
    pub warmup_secs: f64,
    /// What each operation does.
    #[arg(long, value_enum, default_value_t = Scenario::PlaceOrders)]
    pub scenario: Scenario,
    /// Orders placed before a read scenario starts (their pages are read).
    #[arg(long, default_value_t = 50)]
    pub seed_orders: usize,
    /// A 503 answered within this many milliseconds counts as a fast 503
    /// (shed at once) in the report; slower ones waited for something.
    #[arg(long = "fast-503-ms", default_value_t = 100)]
    pub fast_503_ms: u64,
    /// Deadline of one HTTP request, in milliseconds.
    #[arg(long, default_value_t = 10_000)]
    pub timeout_ms: u64,
    /// Also measure event lag: every --lag-every-ms place one order and poll
    /// its MyPage until it shows the order.
    #[arg(long)]
    pub probe_lag: bool,
    /// Interval between event-lag probes, in milliseconds.
    #[arg(long, default_value_t = 100)]
    pub lag_every_ms: u64,
    /// Poll interval of an event-lag probe, in milliseconds.
    #[arg(long, default_value_t = 2)]
    pub lag_poll_ms: u64,
    /// A name for this run (shown in the report and the plot's title).
    #[arg(long)]
    pub label: Option<String>,
    /// Write the report as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Draw latency and throughput over time as SVG here.
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// Write the whole latency distribution of the successful (2xx)
    /// requests here, in milliseconds, in HdrHistogram's `.hgrm` text
    /// format (what `outputPercentileDistribution` prints; the
    /// HdrHistogram plotter reads it).
    #[arg(long, value_name = "FILE")]
    pub hgrm: Option<PathBuf>,
    /// Send nothing: read a report written by --json and print it (and
    /// draw it again with --plot).
    #[arg(long, value_name = "JSON")]
    pub replot: Option<PathBuf>,
    /// Start the system with `kukka up` on a free port and a temporary data
    /// directory, load it, and stop it.
    #[arg(long)]
    pub spawn: bool,
    /// The `kukka` binary for --spawn (default: next to this executable).
    #[arg(long)]
    pub kukka: Option<PathBuf>,
    /// Extra environment for the spawned system, `KEY=VALUE` (repeatable),
    /// e.g. `--env KUKKA_PAYMENT_INJECT_LATENCY_MS=200-310`.
    #[arg(long = "env", value_parser = parse_env)]
    pub env: Vec<(String, String)>,
    /// Keep the spawned system's data directory (logs) after the run.
    #[arg(long)]
    pub keep_data: bool,
    /// Seconds to wait for the spawned system's `/readyz`.
    #[arg(long, default_value_t = 90)]
    pub ready_timeout_secs: u64,
    /// Allow URLs that are not on the loopback interface.
    #[arg(long)]
    pub allow_remote: bool,
    /// No progress line on stderr.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

impl Args {
    /// Checks the flags that clap cannot check alone.
    pub fn validate(&self) -> Result<(), BenchError> {
        let usage = |m: &str| Err(BenchError::Usage(m.to_string()));
        if self.connections == 0 {
            return usage("--connections must be at least 1");
        }
        if let Some(r) = self.rate {
            if !(r.is_finite() && r > 0.0) {
                return usage("--rate must be a positive number");
            }
        }
        if let Some(d) = self.duration_secs {
            if !(d.is_finite() && d > 0.0) {
                return usage("--duration-secs must be a positive number");
            }
        }
        if !(self.warmup_secs.is_finite() && self.warmup_secs >= 0.0) {
            return usage("--warmup-secs must not be negative");
        }
        if self.requests == Some(0) {
            return usage("--requests must be at least 1");
        }
        if self.lag_every_ms == 0 || self.lag_poll_ms == 0 {
            return usage("--lag-every-ms and --lag-poll-ms must be at least 1");
        }
        if !self.spawn {
            if self.url.is_empty() {
                return usage("give at least one --url");
            }
            for u in &self.url {
                check_url(u, self.allow_remote)?;
            }
        }
        Ok(())
    }
}

/// Parses `KEY=VALUE`.
pub fn parse_env(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() && !k.contains(char::is_whitespace) => {
            Ok((k.to_string(), v.to_string()))
        }
        _ => Err(format!("expected KEY=VALUE, got {s:?}")),
    }
}

/// Accepts `http://` URLs on the loopback interface (any host with
/// `allow_remote`).
///
/// `https://` is refused with a clear message rather than failing on the
/// first request: kukka-bench is built without TLS. reqwest's rustls
/// support would bring its own crypto provider (ring) beside the one the
/// workspace already builds for Redis (aws-lc-rs), and rustls cannot pick
/// a process default when both are compiled in; the provider-less variant
/// would need a default installed in every process that builds a reqwest
/// client, the integration tests included. The edge speaks plain HTTP
/// (TLS ends at the ingress), so load it, or a plain-HTTP listener in front
/// of it, directly.
pub fn check_url(u: &str, allow_remote: bool) -> Result<(), BenchError> {
    let parsed =
        reqwest::Url::parse(u).map_err(|e| BenchError::Usage(format!("bad URL {u}: {e}")))?;
    if parsed.scheme() == "https" {
        return Err(BenchError::Usage(format!(
            "{u}: https:// is not supported; kukka-bench speaks plain HTTP only (load the edge's own http:// address, not the TLS ingress in front of it)"
        )));
    }
    if parsed.scheme() != "http" {
        return Err(BenchError::Usage(format!("{u}: only http:// URLs")));
    }
    let host = parsed.host_str().unwrap_or("");
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let local = host == "localhost"
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if !local && !allow_remote {
        return Err(BenchError::Usage(format!(
            "{u} is not on the loopback interface; pass --allow-remote to load another host"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_pairs_parse() {
        assert_eq!(
            parse_env("KUKKA_PAYMENT_INJECT_LATENCY_MS=200-310"),
            Ok(("KUKKA_PAYMENT_INJECT_LATENCY_MS".into(), "200-310".into()))
        );
        assert_eq!(parse_env("A="), Ok(("A".into(), String::new())));
        assert_eq!(parse_env("A=b=c"), Ok(("A".into(), "b=c".into())));
        assert!(parse_env("novalue").is_err());
        assert!(parse_env("=x").is_err());
    }

    #[test]
    fn only_loopback_urls_unless_allowed() {
        assert!(check_url("http://127.0.0.1:8088", false).is_ok());
        assert!(check_url("http://localhost:1", false).is_ok());
        assert!(check_url("http://[::1]:1", false).is_ok());
        assert!(check_url("http://10.0.0.1:8088", false).is_err());
        assert!(check_url("http://10.0.0.1:8088", true).is_ok());
        assert!(check_url("ftp://127.0.0.1", false).is_err());
        let https = check_url("https://127.0.0.1:8443", true).expect_err("refused");
        assert!(
            https.to_string().contains("https:// is not supported"),
            "{https}"
        );
        assert!(check_url("not a url", false).is_err());
    }

    #[test]
    fn flags_are_checked() {
        let ok = Args::parse_from(["kukka-bench", "-c", "4", "-d", "1"]);
        assert!(ok.validate().is_ok());
        let zero = Args::parse_from(["kukka-bench", "-c", "0"]);
        assert!(zero.validate().is_err());
        let rate = Args::parse_from(["kukka-bench", "--rate=-3"]);
        assert!(rate.validate().is_err());
        let remote = Args::parse_from(["kukka-bench", "--url", "http://192.0.2.1"]);
        assert!(remote.validate().is_err());
        let spawned = Args::parse_from(["kukka-bench", "--spawn", "--url", "http://192.0.2.1"]);
        assert!(spawned.validate().is_ok());
    }

    #[test]
    fn the_cli_is_well_formed() {
        use clap::CommandFactory;
        Args::command().debug_assert();
    }
}
