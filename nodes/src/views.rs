//! `kukka views rebuild`: drops the read models (MyPage, OrderDetails) and
//! replays the whole event stream into them. Safe while delivery nodes run:
//! projection merges are idempotent and order-independent, so live updates
//! and the replay converge on the same views.

use std::time::Duration;

use kukka_actors::{
    events::Envelope,
    views::{
        keys::{MY_PAGE_INDEX, MY_PAGE_KEY_PREFIX, ORDER_DETAILS_INDEX, ORDER_DETAILS_KEY_PREFIX},
        projector::ViewProjector,
    },
};
use kukka_storage::{bus, redis_conn};

/// Flags of `kukka views rebuild`.
#[derive(Clone, Debug, clap::Args)]
pub struct RebuildArgs {
    /// Redis URL.
    #[arg(
        long,
        env = "KUKKA_REDIS_URL",
        default_value = "redis://127.0.0.1:6379",
        hide_default_value = true
    )]
    pub redis_url: String,
}

/// What `kukka views` can do.
#[derive(Clone, Debug, clap::Subcommand)]
pub enum ViewsCommand {
    /// Drop and rebuild MyPage and OrderDetails from the event stream.
    Rebuild(RebuildArgs),
}

/// Runs a views command.
pub async fn run(cmd: ViewsCommand) -> anyhow::Result<u8> {
    let ViewsCommand::Rebuild(args) = cmd;
    let mut conn = redis_conn::connect(&args.redis_url, Duration::from_secs(10)).await?;
    let mut dropped = 0u64;
    for prefix in [MY_PAGE_KEY_PREFIX, ORDER_DETAILS_KEY_PREFIX] {
        let pattern = format!("{prefix}*");
        let mut cursor = 0u64;
        loop {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(500)
                .query_async(&mut conn)
                .await?;
            if !keys.is_empty() {
                dropped += keys.len() as u64;
                redis::cmd("DEL")
                    .arg(&keys)
                    .query_async::<i64>(&mut conn)
                    .await?;
            }
            if next == 0 {
                break;
            }
            cursor = next;
        }
    }
    redis::cmd("DEL")
        .arg(MY_PAGE_INDEX)
        .arg(ORDER_DETAILS_INDEX)
        .query_async::<i64>(&mut conn)
        .await?;
    let mut after = String::new();
    let mut replayed = 0u64;
    let mut skipped = 0u64;
    loop {
        let page = bus::read_range(&mut conn, bus::EVENTS_STREAM, &after, 500).await?;
        let Some(last) = page.last() else { break };
        after = last.entry_id.clone();
        for entry in page {
            let Some(env) = entry
                .event
                .ok()
                .and_then(|e| Envelope::from_stream_event(&e).ok())
            else {
                skipped += 1;
                continue;
            };
            ViewProjector::project(&mut conn, &env).await?;
            replayed += 1;
        }
    }
    tracing::info!(dropped, replayed, skipped, "views rebuilt");
    println!("views rebuilt: {dropped} keys dropped, {replayed} events replayed, {skipped} unreadable entries skipped");
    Ok(0)
}
