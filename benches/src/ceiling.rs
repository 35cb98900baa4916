//! `kukka-consumer-ceiling`: how many events per second one consumer applies
//! when it is never starved, the read side's own ceiling.
//!
//! It fills the event streams with the events of `--orders` placed orders
//! (`PaymentConfirmed`, `OrderPlaced`, `DeliveryRequested`: what an order
//! makes, each in its producer's stream), then starts one consumer of the
//! chosen handler (the views projector or the delivery handler) in a fresh
//! consumer group, exactly as a delivery node runs it, and times it until
//! the group has acknowledged every entry of the streams it reads (the
//! views read all three events of an order, delivery the first two). Run it against a Redis started as `kukka up` starts its own
//! (`--appendonly yes --appendfsync always`) for a like-for-like number.

use std::{
    collections::BTreeMap,
    sync::Arc,
    time::{Duration, Instant},
};

use kukka_actors::{
    delivery::{model::DeliveryStatus, on_events::DeliveryHandler},
    events::{Envelope, EventBody},
    order::{id::OrderId, model::OrderLine},
    runtime::{
        consumer::{ConsumerArgs, ConsumerConfig, EventHandler, StreamConsumer},
        role::Role,
    },
    views::projector::ViewProjector,
};
use kukka_storage::{bus, bus::Partitions, outbox::StreamEvent, redis_conn};
use ractor::Actor;

use crate::BenchError;

/// Flags of `kukka-consumer-ceiling`.
#[derive(Clone, Debug, clap::Parser)]
#[command(name = "kukka-consumer-ceiling", version)]
pub struct CeilingArgs {
    /// Redis URL (the stream, the views and deliveries are written there).
    #[arg(long, default_value = "redis://127.0.0.1:6379")]
    pub redis_url: String,
    /// Orders whose events fill the stream (three events each).
    #[arg(long, default_value_t = 10_000)]
    pub orders: u64,
    /// Which consumer to time.
    #[arg(long, value_enum, default_value_t = Handler::Views)]
    pub handler: Handler,
    /// Entries per read (the nodes' default is 64).
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    /// Partitions of the event stream.
    #[arg(long, default_value_t = Partitions::DEFAULT)]
    pub event_partitions: u32,
    /// Consumers of the group, each in its own task (as delivery replicas
    /// would be), dividing the partitions.
    #[arg(long, default_value_t = 1)]
    pub consumers: usize,
    /// Also write the result as JSON to this file.
    #[arg(long)]
    pub json: Option<std::path::PathBuf>,
}

/// A consumer kukka runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Handler {
    /// The views projector (MyPage and OrderDetails).
    Views,
    /// The delivery handler (paid orders become deliveries).
    Delivery,
}

/// What one run measured.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Ceiling {
    /// Entries the consumer read and acknowledged.
    pub events: u64,
    /// How long that took.
    pub seconds: f64,
    /// Entries per second.
    pub events_per_sec: f64,
}

fn events_of(seq: u64) -> [Envelope; 3] {
    let id = OrderId::new(0, seq);
    let line = OrderLine {
        customer_name: format!("C{seq}"),
        phone_number: "01012341234".into(),
        address: "SEOUL".into(),
        flower_type: "MixBox".into(),
        price: 10_000,
        qty: 1,
    };
    [
        Envelope::new(
            "ceiling",
            id,
            EventBody::PaymentConfirmed {
                payment_id: format!("pay-0-{seq}"),
                amount: 10_000,
            },
        ),
        Envelope::new(
            "ceiling",
            id,
            EventBody::OrderPlaced {
                line,
                customer_id: None,
                payment_id: format!("pay-0-{seq}"),
                created_at: kukka_actors::runtime::clock::now(),
            },
        ),
        Envelope::new(
            "ceiling",
            id,
            EventBody::DeliveryChanged {
                status: DeliveryStatus::DeliveryRequested,
            },
        ),
    ]
}

/// Whether `group` has read and acknowledged everything in every stream it
/// reads (`totals`: entries per stream).
async fn caught_up(
    conn: &mut kukka_storage::redis_conn::RedisConn,
    group: &str,
    totals: &[(String, u64)],
) -> Result<bool, BenchError> {
    for (stream, total) in totals {
        let groups: redis::streams::StreamInfoGroupsReply = redis::cmd("XINFO")
            .arg("GROUPS")
            .arg(stream)
            .query_async(conn)
            .await
            .map_err(kukka_storage::StorageError::from)?;
        let done = groups.groups.iter().any(|g| {
            g.name == group && g.pending == 0 && g.entries_read.unwrap_or(0) as u64 >= *total
        });
        if !done {
            return Ok(false);
        }
    }
    Ok(true)
}

async fn run_consumer<H: EventHandler>(
    handler: H,
    args: &CeilingArgs,
    group: &str,
) -> Result<Ceiling, BenchError> {
    let mut conn = redis_conn::connect(&args.redis_url, Duration::from_secs(5)).await?;
    let mut totals = Vec::new();
    let partitions = Partitions::new(args.event_partitions)?;
    for p in partitions.all() {
        for role in handler.producers() {
            let stream = role.stream(p);
            let n: u64 = redis::cmd("XLEN")
                .arg(&stream)
                .query_async(&mut conn)
                .await
                .map_err(kukka_storage::StorageError::from)?;
            totals.push((stream, n));
        }
    }
    let handler = Arc::new(handler);
    let started = Instant::now();
    let mut members = Vec::new();
    for i in 0..args.consumers.max(1) {
        let consumer = ConsumerArgs {
            handler: handler.clone(),
            redis_url: args.redis_url.clone(),
            group: group.to_string(),
            consumer: format!("ceiling-{i}"),
            partitions: Partitions::new(args.event_partitions)?,
            config: ConsumerConfig {
                batch: args.batch,
                ..ConsumerConfig::default()
            },
        };
        members.push(
            Actor::spawn(None, StreamConsumer::default(), consumer)
                .await
                .map_err(|e| BenchError::NotReady(format!("cannot start a consumer: {e}")))?,
        );
    }
    while !caught_up(&mut conn, group, &totals).await? {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let seconds = started.elapsed().as_secs_f64();
    for (actor, handle) in members {
        actor.stop(None);
        let _ = handle.await;
    }
    let total: u64 = totals.iter().map(|(_, n)| n).sum();
    Ok(Ceiling {
        events: total,
        seconds,
        events_per_sec: total as f64 / seconds,
    })
}

/// Fills the stream and times the consumers (see the module docs).
pub async fn run(args: &CeilingArgs) -> Result<Ceiling, BenchError> {
    let partitions = Partitions::new(args.event_partitions)?;
    let mut conn = redis_conn::connect(&args.redis_url, Duration::from_secs(5)).await?;
    partitions.agree(&mut conn).await?;
    for chunk in (0..args.orders).collect::<Vec<_>>().chunks(500) {
        let mut by_producer: BTreeMap<Role, Vec<StreamEvent>> = BTreeMap::new();
        for e in chunk.iter().flat_map(|seq| events_of(*seq)) {
            let producer = e.body.kind().producer();
            by_producer
                .entry(producer)
                .or_default()
                .push(e.to_stream_event());
        }
        for (producer, events) in by_producer {
            let p = producer.as_str();
            bus::publish(&mut conn, partitions, p, &events, Default::default()).await?;
        }
    }
    let group = format!("ceiling-{}", std::process::id());
    match args.handler {
        Handler::Views => run_consumer(ViewProjector::new(partitions), args, &group).await,
        Handler::Delivery => run_consumer(DeliveryHandler { partitions }, args, &group).await,
    }
}
