//! Stream consumers against a real Redis: a slow handler is not applied
//! twice, a dead consumer's entries are reclaimed, an event that keeps
//! failing is dead-lettered after its retries, poison (undecodable,
//! unknown or invalid events) is dead-lettered at once, members divide the
//! partitions, and a member busy rebalancing stays a member.

use std::{sync::Arc, time::Duration};

use kukka_actors::{
    events::{Envelope, EventBody, EventKind},
    order::id::OrderId,
    runtime::consumer::{
        ConsumerArgs, ConsumerConfig, ConsumerMsg, EventHandler, HandlerError, RetryPolicy,
        StreamConsumer,
    },
};
use kukka_storage::bus::{self, Partition, Partitions};
use kukka_storage::outbox::StreamEvent;
use kukka_storage::redis_conn::RedisConn;
use ractor::Actor;

use super::harness::{eventually, Applied, RedisServer};

#[derive(Default)]
struct Counting {
    applied: Applied,
    delay: Duration,
    /// Fails this order's events with this error.
    failing: Option<(OrderId, HandlerError)>,
}

impl EventHandler for Counting {
    fn wants(&self, _kind: EventKind) -> bool {
        true
    }

    async fn apply(&self, _conn: &mut RedisConn, event: Envelope) -> Result<(), HandlerError> {
        if let Some((id, error)) = &self.failing {
            if *id == event.order_id {
                return Err(error.clone());
            }
        }
        tokio::time::sleep(self.delay).await;
        self.applied.record(event.event_id)
    }
}

/// These tests read one partition: the old single-stream behaviour.
fn partitions() -> Partitions {
    Partitions::new(1).expect("one partition")
}

/// The one partition's stream of the order role (the tests publish
/// cancellations, the order role's events).
fn stream() -> String {
    Partition(0).stream("order")
}

async fn publish(url: &str, n: usize) -> RedisConn {
    let mut conn = kukka_storage::redis_conn::connect(url, Duration::from_secs(2))
        .await
        .expect("connect");
    let events: Vec<_> = (0..n)
        .map(|i| {
            Envelope::new("c", OrderId::new(0, i as u64), EventBody::OrderCancelled)
                .to_stream_event()
        })
        .collect();
    bus::publish(
        &mut conn,
        partitions(),
        "order",
        &events,
        Default::default(),
    )
    .await
    .expect("publish");
    conn
}

async fn spawn(
    handler: Arc<Counting>,
    url: &str,
    name: &str,
    config: ConsumerConfig,
) -> ractor::ActorRef<ConsumerMsg> {
    spawn_over(handler, url, name, partitions(), config).await
}

/// Spawns member `name` of group "test" over `parts` partitions.
async fn spawn_over(
    handler: Arc<Counting>,
    url: &str,
    name: &str,
    parts: Partitions,
    config: ConsumerConfig,
) -> ractor::ActorRef<ConsumerMsg> {
    let args = ConsumerArgs {
        handler,
        redis_url: url.to_string(),
        group: "test".into(),
        consumer: name.into(),
        partitions: parts,
        config,
    };
    Actor::spawn(None, StreamConsumer::default(), args)
        .await
        .expect("spawn")
        .0
}

fn total(h: &Counting) -> (usize, u32) {
    h.applied.totals()
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
    bus::ensure_group(&mut conn, &stream(), "test")
        .await
        .expect("group");
    // A consumer reads everything and dies before acknowledging.
    let taken = bus::read_group(
        &mut conn,
        &[stream()],
        "test",
        "dead",
        ">",
        100,
        100,
        &Default::default(),
    )
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
        .arg(stream())
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

/// Every entry of the dead-letter stream.
async fn dead_letters(conn: &mut RedisConn) -> Vec<redis::streams::StreamId> {
    let entries: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
        .arg(bus::DEAD_LETTER_STREAM)
        .arg("-")
        .arg("+")
        .query_async(conn)
        .await
        .expect("xrange");
    entries.ids
}

/// Runs a consumer whose handler fails order `failing.0`'s events with
/// `failing.1`, until `dead` entries are dead-lettered and `applied` events
/// applied; returns the errors the dead letters carry.
async fn dead_letter_errors(
    url: &str,
    failing: (OrderId, HandlerError),
    retry: RetryPolicy,
    (dead, applied): (usize, usize),
) -> Vec<String> {
    let conn = kukka_storage::redis_conn::connect(url, Duration::from_secs(2))
        .await
        .expect("connect");
    let handler = Arc::new(Counting {
        failing: Some(failing),
        ..Default::default()
    });
    let config = ConsumerConfig {
        retry,
        ..ConsumerConfig::default()
    };
    let c = spawn(handler.clone(), url, "c", config).await;
    let done = eventually(Duration::from_secs(20), || {
        let mut conn = conn.clone();
        let handler = handler.clone();
        async move {
            let n = dead_letters(&mut conn).await.len();
            let pending: redis::streams::StreamPendingReply = redis::cmd("XPENDING")
                .arg(stream())
                .arg("test")
                .query_async(&mut conn)
                .await
                .ok()?;
            (n == dead && total(&handler).0 == applied && pending.count() == 0).then_some(())
        }
    })
    .await;
    assert!(
        done.is_some(),
        "applied {:?}, everything acknowledged or dead-lettered",
        total(&handler)
    );
    c.stop(None);
    let mut conn = conn;
    dead_letters(&mut conn)
        .await
        .iter()
        .map(|e| e.get("error").expect("error field"))
        .collect()
}

#[tokio::test]
async fn an_event_that_keeps_failing_is_dead_lettered_after_its_retries_and_the_rest_flow() {
    let redis = RedisServer::start().await;
    publish(&redis.url, 5).await;
    let failing = HandlerError::Retry("cannot apply this one yet".into());
    // Waits of 20, 40, 40 ms: dead after the fourth delivery.
    let retry = RetryPolicy {
        first: Duration::from_millis(20),
        max: Duration::from_millis(40),
        total: Duration::from_millis(100),
    };
    let errors = dead_letter_errors(&redis.url, (OrderId::new(0, 2), failing), retry, (1, 4)).await;
    assert!(errors[0].contains("cannot apply"), "{errors:?}");
}

#[tokio::test]
async fn poison_is_dead_lettered_at_once_without_retries() {
    let redis = RedisServer::start().await;
    let mut conn = publish(&redis.url, 3).await;
    // Undecodable, and of a type kukka does not know.
    let garbage = [
        StreamEvent {
            event_id: "bad-json".into(),
            kind: "OrderCancelled".into(),
            data: "{not json".into(),
            partition_key: "0-1".into(),
        },
        StreamEvent {
            event_id: "bad-kind".into(),
            kind: "OrderTeleported".into(),
            data: "{}".into(),
            partition_key: "0-1".into(),
        },
    ];
    bus::publish(
        &mut conn,
        partitions(),
        "order",
        &garbage,
        Default::default(),
    )
    .await
    .expect("publish");
    // Retries would take minutes: a poison event must not wait for them.
    let poison = HandlerError::Poison("order 0-1 is invalid".into());
    let errors = dead_letter_errors(
        &redis.url,
        (OrderId::new(0, 1), poison),
        RetryPolicy::default(),
        (3, 2),
    )
    .await;
    assert!(errors.iter().all(|e| e.starts_with("poison")), "{errors:?}");
    assert!(
        errors.iter().any(|e| e.contains("undecodable")),
        "{errors:?}"
    );
    assert!(
        errors.iter().any(|e| e.contains("unknown event type")),
        "{errors:?}"
    );
}

/// Spawns member `name` of group "test" over `parts` partitions, with a
/// fast heartbeat and a short membership. The membership outlasts a
/// rebalance by far: a rebalance waits for the lanes it stops (each ends
/// its blocking read first) and sets up every stream it gains, and a live
/// member whose heartbeat lapsed meanwhile would see its pending entries
/// taken over and applied again.
async fn member(
    handler: Arc<Counting>,
    url: &str,
    name: &str,
    parts: Partitions,
) -> ractor::ActorRef<ConsumerMsg> {
    let config = ConsumerConfig {
        heartbeat: Duration::from_millis(100),
        block: Duration::from_millis(200),
        member_ttl: Duration::from_millis(3000),
        ..ConsumerConfig::default()
    };
    spawn_over(handler, url, name, parts, config).await
}

/// Publishes orders `from..to`' cancellations over `parts` partitions.
async fn publish_over(url: &str, parts: Partitions, from: u64, to: u64) {
    let mut conn = kukka_storage::redis_conn::connect(url, Duration::from_secs(2))
        .await
        .expect("connect");
    let events: Vec<_> = (from..to)
        .map(|i| {
            Envelope::new("c", OrderId::new(0, i), EventBody::OrderCancelled).to_stream_event()
        })
        .collect();
    bus::publish(&mut conn, parts, "order", &events, Default::default())
        .await
        .expect("publish");
}

#[tokio::test]
async fn members_divide_the_partitions_and_take_over_from_one_that_died() {
    let redis = RedisServer::start().await;
    let parts = Partitions::new(4).expect("four");
    publish_over(&redis.url, parts, 0, 200).await;
    let (ha, hb) = (Arc::new(Counting::default()), Arc::new(Counting::default()));
    let a = member(ha.clone(), &redis.url, "a", parts).await;
    let b = member(hb.clone(), &redis.url, "b", parts).await;
    let both = |want: usize| {
        let (ha, hb) = (ha.clone(), hb.clone());
        move || {
            let (ha, hb) = (ha.clone(), hb.clone());
            async move {
                let (a, b) = (total(&ha).0, total(&hb).0);
                (a + b == want).then_some((a, b))
            }
        }
    };
    let (by_a, by_b) = eventually(Duration::from_secs(30), both(200))
        .await
        .unwrap_or_else(|| panic!("a {:?} b {:?}", total(&ha), total(&hb)));
    assert!(by_a > 0 && by_b > 0, "both members read: {by_a} + {by_b}");
    let overlap = ha.applied.ids().intersection(&hb.applied.ids()).count();
    assert_eq!(overlap, 0, "each partition is read by one member at a time");
    assert_eq!(
        (total(&ha).1, total(&hb).1),
        (1, 1),
        "nothing applied twice"
    );

    // b dies without a word: its heartbeat lapses, a takes its partitions.
    b.kill();
    let died = std::time::Instant::now();
    publish_over(&redis.url, parts, 200, 400).await;
    let all = eventually(Duration::from_secs(30), both(400)).await;
    assert!(all.is_some(), "a {:?} b {:?}", total(&ha), total(&hb));
    assert_eq!(total(&hb).0, by_b, "the dead member applied nothing more");
    println!(
        "consumers: a {by_a} + b {by_b}; b's partitions passed to a and were drained {:?} after b died",
        died.elapsed()
    );
    a.stop(None);
}

#[tokio::test]
async fn a_member_busy_rebalancing_past_its_ttl_keeps_its_entries() {
    let redis = RedisServer::start().await;
    let parts = Partitions::new(2).expect("two");
    publish_over(&redis.url, parts, 0, 20).await;
    // a reads all 20 in one batch and takes 6 s to apply it; b joins
    // meanwhile, so a's rebalance waits that long for its lane to stop,
    // six times the membership TTL.
    let slow = || {
        Arc::new(Counting {
            delay: Duration::from_millis(300),
            ..Counting::default()
        })
    };
    let config = ConsumerConfig {
        heartbeat: Duration::from_millis(100),
        member_ttl: Duration::from_millis(1000),
        block: Duration::from_millis(200),
        ..ConsumerConfig::default()
    };
    let (ha, hb) = (slow(), slow());
    let a = spawn_over(ha.clone(), &redis.url, "a", parts, config).await;
    let started = eventually(Duration::from_secs(10), || async {
        (total(&ha).0 > 0).then_some(())
    })
    .await;
    assert!(started.is_some(), "a applies");
    let b = spawn_over(hb.clone(), &redis.url, "b", parts, config).await;
    let all = eventually(Duration::from_secs(30), || async {
        (ha.applied.ids().union(&hb.applied.ids()).count() == 20).then_some(())
    })
    .await;
    assert!(all.is_some(), "a {:?} b {:?}", total(&ha), total(&hb));
    // a stayed a member throughout: nobody took its pending entries over.
    let twice = ha.applied.ids().intersection(&hb.applied.ids()).count();
    assert_eq!(twice, 0, "events applied by both members");
    a.stop(None);
    b.stop(None);
}
