//! `kukka-bench`: the bundled load generator (see `benches/README.md`).

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = kukka_benches::Args::parse();
    let report = kukka_benches::run(&args).await?;
    println!("{}", report.render());
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_vec_pretty(&report)?)?;
    }
    Ok(())
}
