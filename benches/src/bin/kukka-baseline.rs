//! `kukka-baseline`: a single-process server doing the cluster's durable
//! work for `POST /orders`, for comparison (see `benches/README.md`).

use clap::Parser;
use tokio::signal::unix::{signal, SignalKind};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = kukka_benches::baseline::BaselineArgs::parse();
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let shutdown = async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    };
    kukka_benches::baseline::run(args, shutdown).await?;
    Ok(())
}
