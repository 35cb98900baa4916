//! `kukka-consumer-ceiling`: how many events per second one consumer applies
//! when it is never starved, the read side's own ceiling.
//!
//! It fills a Redis stream with the events of `--orders` placed orders
//! (`PaymentConfirmed`, `OrderPlaced`, `DeliveryRequested`: what an order
//! makes), then starts one consumer of the chosen handler (the views
//! projector or the delivery handler) in a fresh consumer group, exactly as
//! a delivery node runs it, and times it until the group has acknowledged
//! every entry. Run it against a Redis started as `kukka up` starts its own
//! (`--appendonly yes --appendfsync always`) for a like-for-like number.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use kukka_actors::{
    delivery::{model::DeliveryStatus, on_events::DeliveryHandler},
    events::{Envelope, EventBody},
    order::{id::OrderId, model::OrderLine},
    runtime::consumer::{ConsumerArgs, ConsumerConfig, EventHandler, StreamConsumer},
    views::projector::ViewProjector,
};
use kukka_storage::{bus, redis_conn};
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

async fn run_consumer<H: EventHandler>(
    handler: H,
    args: &CeilingArgs,
    group: &str,
    total: u64,
) -> Result<Ceiling, BenchError> {
    let mut conn = redis_conn::connect(&args.redis_url, Duration::from_secs(5)).await?;
    let consumer = ConsumerArgs {
        handler: Arc::new(handler),
        redis_url: args.redis_url.clone(),
        group: group.to_string(),
        consumer: "ceiling".into(),
        config: ConsumerConfig {
            batch: args.batch,
            ..ConsumerConfig::default()
        },
    };
    let started = Instant::now();
    let (actor, handle) = Actor::spawn(None, StreamConsumer::default(), consumer)
        .await
        .map_err(|e| BenchError::NotReady(format!("cannot start the consumer: {e}")))?;
    loop {
        let groups: redis::streams::StreamInfoGroupsReply = redis::cmd("XINFO")
            .arg("GROUPS")
            .arg(bus::EVENTS_STREAM)
            .query_async(&mut conn)
            .await?;
        let done = groups.groups.iter().any(|g| {
            g.name == group && g.pending == 0 && g.entries_read.unwrap_or(0) as u64 >= total
        });
        if done {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let seconds = started.elapsed().as_secs_f64();
    actor.stop(None);
    let _ = handle.await;
    Ok(Ceiling {
        events: total,
        seconds,
        events_per_sec: total as f64 / seconds,
    })
}

/// Fills the stream and times one consumer (see the module docs).
pub async fn run(args: &CeilingArgs) -> Result<Ceiling, BenchError> {
    let mut conn = redis_conn::connect(&args.redis_url, Duration::from_secs(5)).await?;
    let mut published = 0u64;
    let start_len: u64 = redis::cmd("XLEN")
        .arg(bus::EVENTS_STREAM)
        .query_async(&mut conn)
        .await
        .map_err(kukka_storage::StorageError::from)?;
    for chunk in (0..args.orders).collect::<Vec<_>>().chunks(500) {
        let events: Vec<_> = chunk
            .iter()
            .flat_map(|seq| events_of(*seq))
            .map(|e| e.to_stream_event())
            .collect();
        bus::publish(&mut conn, bus::EVENTS_STREAM, &events).await?;
        published += events.len() as u64;
    }
    let total = start_len + published;
    let group = format!("ceiling-{}", std::process::id());
    match args.handler {
        Handler::Views => run_consumer(ViewProjector, args, &group, total).await,
        Handler::Delivery => run_consumer(DeliveryHandler, args, &group, total).await,
    }
}
