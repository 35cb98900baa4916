//! `kukka views rebuild`: drops the read models (MyPage, OrderDetails, and
//! each customer's index of their MyPage entries) and replays the whole
//! event stream into them. Safe while delivery nodes run:
//! projection merges are idempotent and order-independent, so live updates
//! and the replay converge on the same views.

use std::time::Duration;

use kukka_actors::{
    events::Envelope,
    views::{
        keys::{CUSTOMER_KEY_PREFIX, CUSTOMER_VIEWS_SUFFIX, VIEW_INDEX, VIEW_KEY_PREFIX},
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
    // The views, and each customer's index of them.
    let patterns = [
        format!("{VIEW_KEY_PREFIX}*"),
        format!("{CUSTOMER_KEY_PREFIX}*{CUSTOMER_VIEWS_SUFFIX}"),
    ];
    for pattern in patterns {
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
        .arg(VIEW_INDEX)
        .query_async::<i64>(&mut conn)
        .await?;
    let mut after = String::new();
    let mut replayed = 0u64;
    let mut skipped = 0u64;
    loop {
        let page = bus::read_range(&mut conn, bus::EVENTS_STREAM, &after, 500).await?;
        let Some(last) = page.last() else { break };
        after = last.entry_id.clone();
        let mut events = Vec::with_capacity(page.len());
        for entry in page {
            match entry
                .event
                .ok()
                .and_then(|e| Envelope::from_stream_event(&e).ok())
            {
                Some(env) => events.push(env),
                None => skipped += 1,
            }
        }
        // One round trip per page; merging is order-independent, so this
        // ends where replaying one event at a time would.
        for result in ViewProjector::project(&mut conn, &events).await? {
            result?;
        }
        replayed += events.len() as u64;
    }
    tracing::info!(dropped, replayed, skipped, "views rebuilt");
    println!("views rebuilt: {dropped} keys dropped, {replayed} events replayed, {skipped} unreadable entries skipped");
    Ok(0)
}
