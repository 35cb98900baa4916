//! The `kukka` binary: parses arguments, sets up telemetry, and hands over
//! to `kukka_nodes`.

use clap::Parser;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = kukka_nodes::cli::Cli::parse();
    kukka_nodes::telemetry::init(cli.log_format());
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("kukka: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(kukka_nodes::run(cli)) {
        Ok(code) => std::process::ExitCode::from(code),
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("kukka: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
