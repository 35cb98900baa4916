//! `kukka-consumer-ceiling`: one consumer's own ceiling in events per second
//! (see `benches/README.md`).

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = kukka_benches::ceiling::CeilingArgs::parse();
    let c = kukka_benches::ceiling::run(&args).await?;
    println!(
        "{:?} consumer: {} events in {:.2} s = {:.0} events/s",
        args.handler, c.events, c.seconds, c.events_per_sec
    );
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_vec(&c)?)?;
    }
    Ok(())
}
