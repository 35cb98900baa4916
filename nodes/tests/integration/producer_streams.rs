//! Streams by producer against a real Redis: a consumer group reads only
//! the streams of the roles whose events it wants, and the partition's
//! legacy stream (one stream for every producer, as systems before the
//! split wrote) while that exists, without ever creating it again.

use std::{sync::Arc, time::Duration};

use kukka_actors::{
    delivery::model::DeliveryStatus,
    events::{Envelope, EventBody, EventKind},
    order::id::OrderId,
    runtime::{
        consumer::{ConsumerArgs, ConsumerConfig, EventHandler, HandlerError, StreamConsumer},
        role::Role,
    },
};
use kukka_storage::{
    bus::{self, Partition, Partitions},
    outbox::StreamEvent,
    redis_conn::{self, RedisConn},
};
use ractor::Actor;

use super::harness::{eventually, Applied, RedisServer};

const GROUP: &str = "orders-only";

/// Applies the order role's events (as the payment group does), counting
/// how often it applied each.
#[derive(Default)]
struct OrderEvents(Applied);

impl EventHandler for OrderEvents {
    fn wants(&self, kind: EventKind) -> bool {
        kind.producer() == Role::Order
    }

    async fn apply(&self, _conn: &mut RedisConn, event: Envelope) -> Result<(), HandlerError> {
        self.0.record(event.event_id)
    }
}

impl OrderEvents {
    /// Events applied, and the most times one was.
    fn applied(&self) -> (usize, u32) {
        self.0.totals()
    }

    /// Publishes `n` more cancellations from order `from` and waits until
    /// `total` events are applied; whether they were.
    async fn publish_and_wait(
        &self,
        conn: &mut RedisConn,
        from: u64,
        n: u64,
        total: usize,
    ) -> bool {
        let events = cancelled(from, n);
        bus::publish(
            conn,
            Partitions::new(1).expect("one"),
            "order",
            &events,
            Default::default(),
        )
        .await
        .expect("publish");
        eventually(Duration::from_secs(20), || async {
            (self.applied().0 == total).then_some(())
        })
        .await
        .is_some()
    }
}

fn cancelled(from: u64, n: u64) -> Vec<StreamEvent> {
    (from..from + n)
        .map(|i| {
            Envelope::new("c", OrderId::new(0, i), EventBody::OrderCancelled).to_stream_event()
        })
        .collect()
}

fn delivery_cancelled(from: u64, n: u64) -> Vec<StreamEvent> {
    (from..from + n)
        .map(|i| {
            let status = DeliveryStatus::DeliveryCancelled;
            let body = EventBody::DeliveryChanged { status };
            Envelope::new("c", OrderId::new(0, i), body).to_stream_event()
        })
        .collect()
}

/// The consumer groups on `stream` (none if it does not exist).
async fn groups(conn: &mut RedisConn, stream: &str) -> Vec<String> {
    let reply: Result<redis::streams::StreamInfoGroupsReply, _> = redis::cmd("XINFO")
        .arg("GROUPS")
        .arg(stream)
        .query_async(conn)
        .await;
    reply
        .map(|r| r.groups.into_iter().map(|g| g.name).collect())
        .unwrap_or_default()
}

async fn exists(conn: &mut RedisConn, key: &str) -> bool {
    let n: u64 = redis::cmd("EXISTS")
        .arg(key)
        .query_async(conn)
        .await
        .expect("exists");
    n > 0
}

#[tokio::test]
async fn a_group_reads_its_producers_streams_and_the_legacy_stream_until_it_is_deleted() {
    let redis = RedisServer::start().await;
    let parts = Partitions::new(1).expect("one partition");
    let p = Partition(0);
    let mut conn = redis_conn::connect(&redis.url, Duration::from_secs(2))
        .await
        .expect("connect");
    // What an older node wrote: order and delivery events in one stream.
    let legacy = p.legacy_stream();
    let old: Vec<StreamEvent> = cancelled(0, 5)
        .into_iter()
        .chain(delivery_cancelled(0, 3))
        .collect();
    let old_refs: Vec<&StreamEvent> = old.iter().collect();
    bus::append(&mut conn, &legacy, &old_refs, Default::default())
        .await
        .expect("legacy append");
    // What upgraded nodes write: each role into its own stream.
    let new = cancelled(100, 5);
    bus::publish(&mut conn, parts, "order", &new, Default::default())
        .await
        .expect("publish");
    let delivery = delivery_cancelled(100, 4);
    bus::publish(&mut conn, parts, "delivery", &delivery, Default::default())
        .await
        .expect("publish");

    let handler = Arc::new(OrderEvents::default());
    let args = ConsumerArgs {
        handler: handler.clone(),
        redis_url: redis.url.clone(),
        group: GROUP.into(),
        consumer: "m1".into(),
        partitions: parts,
        config: ConsumerConfig {
            block: Duration::from_millis(200),
            ..ConsumerConfig::default()
        },
    };
    let (member, _) = Actor::spawn(None, StreamConsumer::default(), args)
        .await
        .expect("spawn");
    let all_old_and_new = eventually(Duration::from_secs(20), || async {
        (handler.applied().0 == 10).then_some(())
    })
    .await;
    assert!(
        all_old_and_new.is_some(),
        "the 5 legacy and 5 new order events: {:?}",
        handler.applied()
    );
    assert_eq!(handler.applied().1, 1, "none applied twice");
    // It reads the order stream and the legacy one, and nothing else.
    assert_eq!(groups(&mut conn, &p.stream("order")).await, [GROUP]);
    assert_eq!(groups(&mut conn, &legacy).await, [GROUP]);
    assert!(groups(&mut conn, &p.stream("delivery")).await.is_empty());
    assert!(!exists(&mut conn, &p.stream("payment")).await);

    // Drained and deleted: the member goes on with the order stream and
    // does not bring the legacy stream back.
    let _: u64 = redis::cmd("DEL")
        .arg(&legacy)
        .query_async(&mut conn)
        .await
        .expect("del");
    let the_rest = handler.publish_and_wait(&mut conn, 200, 5, 15).await;
    assert!(the_rest, "applied {:?}", handler.applied());
    // One more round after that, so a lane that re-created it would have.
    let done = handler.publish_and_wait(&mut conn, 300, 1, 16).await;
    assert!(done, "applied {:?}", handler.applied());
    assert!(
        !exists(&mut conn, &legacy).await,
        "the legacy stream stays gone"
    );
    assert_eq!(handler.applied().1, 1, "none applied twice");
    member.stop(None);
}
