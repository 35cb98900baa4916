//! The tracing subscriber. Text for people, JSON lines for machines (and for
//! tests that look for a correlation id in every node's log).

use tracing_subscriber::{fmt, EnvFilter};

/// Log line format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable.
    Text,
    /// One JSON object per line, with span fields.
    Json,
}

/// Installs the global subscriber; `RUST_LOG` overrides the default filter.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new("info,ractor=warn,ractor_cluster=warn,warp=warn,hyper=warn")
    });
    let builder = fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let result = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .try_init(),
    };
    if let Err(e) = result {
        eprintln!("kukka: tracing was already set up: {e}");
    }
}
