//! `kukka-bench`: the bundled load generator (see `benches/README.md`).

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = kukka_benches::Args::parse();
    let report = kukka_benches::execute(&args).await?;
    println!("{}", report.render());
    Ok(())
}
