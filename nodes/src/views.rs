//! `kukka views rebuild`: drops the read models (MyPage, OrderDetails, and
//! each customer's index of their MyPage entries) and replays every
//! partition of the event stream into them. Safe while
//! delivery nodes run: projection merges are idempotent and
//! order-independent, so live updates and the replay converge on the same
//! views. Works the same on one Redis and on a Redis Cluster: the views are
//! found through their index, not by scanning keys. It rebuilds what the
//! stream still holds (entries older than the retention are gone).

use kukka_actors::{
    events::Envelope,
    order::customer::CustomerId,
    views::{
        keys::{customer_views_key, order_id_of_member, view_key, CUSTOMER_FIELD, VIEW_INDEX},
        projector::ViewProjector,
    },
};
use kukka_storage::{bus, bus::Partition};

use crate::cli::RedisArgs;

/// Flags of `kukka views rebuild`.
#[derive(Clone, Debug, clap::Args)]
pub struct RebuildArgs {
    /// Where the streams and views are.
    #[command(flatten)]
    pub redis: RedisArgs,
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
    let partitions = args.redis.partitions()?;
    let mut conn = args.redis.connect().await?;
    partitions.agree(&mut conn).await?;
    // Drop every listed view, then the index.
    let members: Vec<String> = redis::cmd("ZRANGE")
        .arg(VIEW_INDEX)
        .arg(0)
        .arg(-1)
        .query_async(&mut conn)
        .await?;
    for m in &members {
        let key = view_key(partitions, order_id_of_member(m));
        // The customer's index of their views goes too (found through the
        // view: no key scan, so it works on a Redis Cluster).
        let customer: Option<String> = redis::cmd("HGET")
            .arg(&key)
            .arg(CUSTOMER_FIELD)
            .query_async(&mut conn)
            .await?;
        if let Some(c) = customer.and_then(|c| c.parse::<CustomerId>().ok()) {
            redis::cmd("DEL")
                .arg(customer_views_key(&c))
                .query_async::<i64>(&mut conn)
                .await?;
        }
        redis::cmd("DEL")
            .arg(key)
            .query_async::<i64>(&mut conn)
            .await?;
    }
    redis::cmd("DEL")
        .arg(VIEW_INDEX)
        .query_async::<i64>(&mut conn)
        .await?;
    let projector = ViewProjector::new(partitions);
    let mut replayed = 0u64;
    let mut skipped = 0u64;
    for stream in partitions.all().flat_map(Partition::all_streams) {
        let mut after = String::new();
        loop {
            let page = bus::read_range(&mut conn, &stream, &after, 500).await?;
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
            for result in projector.project(&mut conn, &events).await? {
                result?;
            }
            replayed += events.len() as u64;
        }
    }
    let dropped = members.len();
    tracing::info!(dropped, replayed, skipped, "views rebuilt");
    println!("views rebuilt: {dropped} views dropped, {replayed} events replayed, {skipped} unreadable entries skipped");
    Ok(0)
}
