//! Stream consumers against a real Redis: a slow handler is not applied
//! twice, a dead consumer's entries are reclaimed, and poison events go to
//! the dead-letter stream.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use kukka_actors::{
    consumer::{ConsumerArgs, ConsumerConfig, EventHandler, StreamConsumer},
    events::{Envelope, EventBody},
};
use kukka_storage::bus;
use ractor::Actor;
use redis::aio::ConnectionManager;

use super::harness::{eventually, RedisServer};

#[derive(Default)]
struct Counting {
    applied: Mutex<HashMap<String, u32>>,
    delay: Duration,
    poison: Option<String>,
}

impl EventHandler for Counting {
    async fn apply(&self, _conn: &mut ConnectionManager, event: Envelope) -> Result<(), String> {
        if self.poison.as_deref() == Some(event.order_id.as_str()) {
            return Err("cannot apply this one".into());
        }
        tokio::time::sleep(self.delay).await;
        *self
            .applied
            .lock()
            .map_err(|e| e.to_string())?
            .entry(event.event_id)
            .or_default() += 1;
        Ok(())
    }
}

async fn publish(url: &str, n: usize) -> ConnectionManager {
    let mut conn = kukka_storage::redis_conn::connect(url, Duration::from_secs(2))
        .await
        .expect("connect");
    let events: Vec<_> = (0..n)
        .map(|i| Envelope::new("c", &format!("0-{i}"), EventBody::OrderCancelled).to_stream_event())
        .collect();
    bus::publish(&mut conn, bus::EVENTS_STREAM, &events)
        .await
        .expect("publish");
    conn
}

async fn spawn(
    handler: Arc<Counting>,
    url: &str,
    name: &str,
    config: ConsumerConfig,
) -> ractor::ActorRef<kukka_actors::consumer::ConsumerMsg> {
    let args = ConsumerArgs {
        handler,
        redis_url: url.to_string(),
        group: "test".into(),
        consumer: name.into(),
        config,
    };
    Actor::spawn(None, StreamConsumer::default(), args)
        .await
        .expect("spawn")
        .0
}

fn total(h: &Counting) -> (usize, u32) {
    let map = h.applied.lock().expect("lock");
    (map.len(), map.values().copied().max().unwrap_or(0))
}

#[tokio::test]
async fn two_consumers_with_a_slow_handler_apply_each_event_once() {
    let redis = RedisServer::start().await;
    publish(&redis.url, 60).await;
    let handler = Arc::new(Counting {
        delay: Duration::from_millis(20),
        ..Default::default()
    });
    // The documented settings, but looking for abandoned entries very often:
    // a slow but live consumer's entries must not be claimed.
    let config = ConsumerConfig {
        claim_every: Duration::from_millis(50),
        ..ConsumerConfig::default()
    };
    let a = spawn(handler.clone(), &redis.url, "a", config).await;
    let b = spawn(handler.clone(), &redis.url, "b", config).await;
    let done = eventually(Duration::from_secs(30), || async {
        (total(&handler).0 == 60).then_some(())
    })
    .await;
    assert!(done.is_some(), "applied {:?}", total(&handler));
    assert_eq!(total(&handler).1, 1, "no event applied twice");
    a.stop(None);
    b.stop(None);
}

#[tokio::test]
async fn entries_left_by_a_dead_consumer_are_reclaimed_and_applied_once() {
    let redis = RedisServer::start().await;
    let mut conn = publish(&redis.url, 10).await;
    bus::ensure_group(&mut conn, bus::EVENTS_STREAM, "test")
        .await
        .expect("group");
    // A consumer reads everything and dies before acknowledging.
    let taken = bus::read_group(&mut conn, bus::EVENTS_STREAM, "test", "dead", ">", 100, 100)
        .await
        .expect("read");
    assert_eq!(taken.len(), 10);
    let handler = Arc::new(Counting::default());
    let config = ConsumerConfig {
        claim_idle: Duration::from_millis(500),
        claim_every: Duration::from_millis(100),
        ..ConsumerConfig::default()
    };
    let alive = spawn(handler.clone(), &redis.url, "alive", config).await;
    let done = eventually(Duration::from_secs(20), || async {
        (total(&handler).0 == 10).then_some(())
    })
    .await;
    assert!(done.is_some(), "applied {:?}", total(&handler));
    assert_eq!(total(&handler).1, 1);
    let pending: redis::Value = redis::cmd("XPENDING")
        .arg(bus::EVENTS_STREAM)
        .arg("test")
        .query_async(&mut conn)
        .await
        .expect("xpending");
    let count = match &pending {
        redis::Value::Array(items) => match items.first() {
            Some(redis::Value::Int(n)) => *n,
            other => panic!("unexpected XPENDING reply {other:?}"),
        },
        other => panic!("unexpected XPENDING reply {other:?}"),
    };
    assert_eq!(count, 0, "everything acknowledged");
    alive.stop(None);
}

#[tokio::test]
async fn a_poison_event_is_dead_lettered_and_the_rest_flow() {
    let redis = RedisServer::start().await;
    let mut conn = publish(&redis.url, 5).await;
    let handler = Arc::new(Counting {
        poison: Some("0-2".into()),
        ..Default::default()
    });
    let config = ConsumerConfig {
        max_deliveries: 3,
        ..ConsumerConfig::default()
    };
    let c = spawn(handler.clone(), &redis.url, "c", config).await;
    let dead = eventually(Duration::from_secs(20), || {
        let mut conn = conn.clone();
        let handler = handler.clone();
        async move {
            let n: u64 = redis::cmd("XLEN")
                .arg(bus::DEAD_LETTER_STREAM)
                .query_async(&mut conn)
                .await
                .ok()?;
            (n == 1 && total(&handler).0 == 4).then_some(())
        }
    })
    .await;
    assert!(dead.is_some(), "applied {:?}", total(&handler));
    let entries: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
        .arg(bus::DEAD_LETTER_STREAM)
        .arg("-")
        .arg("+")
        .query_async(&mut conn)
        .await
        .expect("xrange");
    let error: String = entries.ids[0].get("error").expect("error field");
    assert!(error.contains("cannot apply"), "{error}");
    c.stop(None);
}
