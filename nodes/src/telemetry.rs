//! The tracing subscriber. Text for people, JSON lines for machines (and for
//! tests that look for a correlation id in every node's log); Kubernetes
//! runs the nodes with `KUKKA_LOG_FORMAT=json`.
//!
//! Records of libraries that log through the `log` crate (sled, rustls,
//! warp) are bridged into tracing (tracing-subscriber's `tracing-log`
//! feature) and filtered and formatted like every other line. The edge's
//! access log is the target `access` (one line per request).

use tracing::Subscriber;
use tracing_subscriber::{fmt, fmt::MakeWriter, EnvFilter};

/// Log line format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable.
    Text,
    /// One JSON object per line, with span fields.
    Json,
}

/// The filter when `RUST_LOG` is not set.
pub const DEFAULT_FILTER: &str = "info,ractor=warn,ractor_cluster=warn,warp=warn,hyper=warn";

/// A subscriber writing `format` lines to `writer`, filtered by `filter`.
pub fn subscriber<W>(
    format: LogFormat,
    filter: EnvFilter,
    writer: W,
) -> Box<dyn Subscriber + Send + Sync>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    // Colours only for a person at a terminal: never in files, pipes or
    // `kukka up`'s logs (which colours its own prefixes).
    use std::io::IsTerminal;
    let builder = fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(writer);
    match format {
        LogFormat::Text => Box::new(builder.finish()),
        LogFormat::Json => Box::new(
            builder
                .json()
                .with_current_span(true)
                .with_span_list(true)
                .finish(),
        ),
    }
}

/// Installs the global subscriber on stderr, and the bridge from the `log`
/// crate; `RUST_LOG` overrides the default filter.
pub fn init(format: LogFormat) {
    use tracing_subscriber::util::SubscriberInitExt;
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    // With the `tracing-log` feature, `try_init` also installs the bridge.
    if let Err(e) = subscriber(format, filter, std::io::stderr).try_init() {
        eprintln!("kukka: tracing was already set up: {e}");
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::util::SubscriberInitExt;

    use super::*;

    /// Collects what is written.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if let Ok(mut v) = self.0.lock() {
                v.extend_from_slice(buf);
            }
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'w> MakeWriter<'w> for Captured {
        type Writer = Captured;
        fn make_writer(&'w self) -> Self::Writer {
            self.clone()
        }
    }

    impl Captured {
        fn text(&self) -> String {
            String::from_utf8_lossy(&self.0.lock().map(|v| v.clone()).unwrap_or_default())
                .into_owned()
        }
    }

    #[test]
    fn log_crate_records_come_out_as_json_lines_and_are_filtered() {
        let out = Captured::default();
        let sub = subscriber(LogFormat::Json, EnvFilter::new(DEFAULT_FILTER), out.clone());
        // `set_default` installs the `log` bridge, as `try_init` does.
        let _guard = sub.set_default();
        log::warn!(target: "sled::pagecache", "a sled warning {}", 7);
        log::info!(target: "warp::server", "warp chatter");
        let text = out.text();
        let line: serde_json::Value = text
            .lines()
            .find_map(|l| serde_json::from_str(l).ok())
            .unwrap_or_else(|| panic!("no JSON line in {text:?}"));
        assert_eq!(line["level"], "WARN", "{line}");
        assert_eq!(line["fields"]["message"], "a sled warning 7", "{line}");
        assert_eq!(line["target"], "sled::pagecache", "{line}");
        assert!(
            !text.contains("warp chatter"),
            "warp=warn filters it: {text}"
        );
    }
}
