//! Bounded streams: with a short retention, 5,000 orders go through and
//! the streams end up holding nothing older than the retention (and never
//! anything a group still needs); a consumer that died keeps what it has
//! not acknowledged through a trim, and applies all of it when it comes
//! back.

use std::{
    collections::BTreeSet,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use futures_util::{stream, StreamExt};
use kukka_actors::{
    events::{Envelope, EventBody, EventKind},
    order::id::OrderId,
    runtime::{
        consumer::{ConsumerArgs, ConsumerConfig, EventHandler, HandlerError, StreamConsumer},
        retention::trim_once,
    },
};
use kukka_storage::{
    bus::{self, Acks, Partition, Partitions, Replicated},
    redis_conn::{self, RedisConn},
};
use ractor::Actor;
use serde_json::Value;

use super::harness::{eventually, order_body, Applied, RedisServer, TestApp, OWNER};

/// Entries in all streams of all partitions now, and entries ever appended
/// to them.
async fn stream_counts(conn: &mut RedisConn, partitions: Partitions) -> (u64, u64) {
    let (mut length, mut added) = (0, 0);
    for stream in partitions.all().flat_map(Partition::all_streams) {
        let info: redis::Value = match redis::cmd("XINFO")
            .arg("STREAM")
            .arg(&stream)
            .query_async(conn)
            .await
        {
            Ok(v) => v,
            Err(_) => continue, // not created yet
        };
        let field = |name: &str| -> u64 {
            let redis::Value::Array(items) = &info else {
                return 0;
            };
            items
                .chunks(2)
                .find(|kv| matches!(&kv[0], redis::Value::BulkString(k) if k == name.as_bytes()))
                .and_then(|kv| match &kv[1] {
                    redis::Value::Int(n) => u64::try_from(*n).ok(),
                    _ => None,
                })
                .unwrap_or(0)
        };
        length += field("length");
        added += field("entries-added");
    }
    (length, added)
}

/// Entries in all partitions.
async fn stream_length(conn: &mut RedisConn, partitions: Partitions) -> u64 {
    stream_counts(conn, partitions).await.0
}

/// The consumer groups that read each producer's streams (one order and
/// one payment shard).
const READERS: [(&str, &[&str]); 3] = [
    ("order", &["delivery", "payment-0", "views"]),
    ("payment", &["delivery", "views"]),
    ("delivery", &["order-0", "views"]),
];

/// Whether every consumer group of every stream has read and acknowledged
/// everything.
async fn caught_up(conn: &mut RedisConn, partitions: Partitions) -> bool {
    let streams = partitions.all().flat_map(|p| {
        READERS
            .iter()
            .map(move |(producer, groups)| (p.stream(producer), *groups))
    });
    for (stream, readers) in streams {
        let info: redis::streams::StreamInfoGroupsReply = match redis::cmd("XINFO")
            .arg("GROUPS")
            .arg(&stream)
            .query_async(conn)
            .await
        {
            Ok(i) => i,
            Err(_) => return false,
        };
        let mut names: Vec<&str> = info.groups.iter().map(|g| g.name.as_str()).collect();
        names.sort_unstable();
        if names != readers {
            return false;
        }
        if info
            .groups
            .iter()
            .any(|g| g.pending > 0 || g.lag != Some(0))
        {
            return false;
        }
    }
    true
}

#[tokio::test]
async fn with_a_short_retention_the_streams_hold_no_more_than_it_allows() {
    const ORDERS: usize = 5_000;
    let app = TestApp::spawn_with(&[
        "--events-retention-secs",
        "2",
        "--events-trim-every-ms",
        "500",
    ])
    .await;
    let partitions = Partitions::default();
    let conn = redis_conn::connect(&app.redis.url, Duration::from_secs(5))
        .await
        .expect("connect");
    // The stream's length and how much was ever appended, every 250 ms,
    // while orders go through and until the streams are empty.
    let samples = Arc::new(Mutex::new(Vec::<(f64, u64, u64)>::new()));
    let sampling = {
        let (samples, mut conn) = (samples.clone(), conn.clone());
        tokio::spawn(async move {
            let start = Instant::now();
            loop {
                let (n, added) = stream_counts(&mut conn, partitions).await;
                samples
                    .lock()
                    .expect("samples")
                    .push((start.elapsed().as_secs_f64(), n, added));
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        })
    };
    let started = Instant::now();
    let placed: Vec<u16> = stream::iter(0..ORDERS)
        .map(|i| {
            let http = app.http.clone();
            let url = app.url("/orders");
            async move {
                http.post(url)
                    .json(&order_body(&format!("SOAK-{i}")))
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
                    .unwrap_or(0)
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    let placing = started.elapsed();
    assert!(placed.iter().all(|s| *s == 201), "every order placed");
    let caught = eventually(Duration::from_secs(120), || {
        let mut conn = conn.clone();
        async move { caught_up(&mut conn, partitions).await.then_some(()) }
    })
    .await;
    assert!(caught.is_some(), "the consumer groups did not catch up");
    // Every group is done and nothing is newer than the retention for long:
    // the streams empty within the retention and a trim round or two.
    let emptied = eventually(Duration::from_secs(10), || {
        let mut conn = conn.clone();
        async move { (stream_length(&mut conn, partitions).await == 0).then_some(()) }
    })
    .await;
    let after = started.elapsed();
    sampling.abort();
    let samples = samples.lock().expect("samples").clone();
    let max = samples.iter().map(|(_, n, _)| *n).max().unwrap_or(0);
    let appended = 3 * ORDERS as u64;
    eprintln!(
        "retention soak: {ORDERS} orders ({appended} entries) placed in {:.1} s; stream length every 250 ms: max {max}, samples {:?}; empty {:.1} s after the start",
        placing.as_secs_f64(),
        samples.iter().map(|(_, n, _)| *n).collect::<Vec<_>>(),
        after.as_secs_f64()
    );
    assert!(emptied.is_some(), "entries older than the retention remain");
    // (The series is a figure, not a bound: how long entries wait for a
    // consumer depends on the machine's load, and what a group has not
    // acknowledged is kept, as it must be.)
    assert!(
        samples.iter().any(|(_, n, added)| *n > 0 && n < added),
        "the streams were never trimmed while they held entries"
    );
    // Nothing a group needed was trimmed: every order reached the views.
    let mut seen = 0;
    let mut cursor: Option<String> = None;
    loop {
        let mut url = app.url("/orderDetails?limit=500");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let page: Value = app
            .http
            .get(url)
            .bearer_auth(OWNER)
            .send()
            .await
            .expect("page")
            .json()
            .await
            .expect("json");
        let items = page["items"].as_array().expect("items");
        assert!(items
            .iter()
            .all(|i| i["deliveryStatus"] == "DeliveryRequested"));
        seen += items.len();
        match page["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(seen, ORDERS, "every order reached its delivery and views");
    drop(conn);
    app.stop().await;
}

/// Records the event ids it applies.
#[derive(Default)]
struct Recording {
    applied: Applied,
}

impl EventHandler for Recording {
    fn wants(&self, _kind: EventKind) -> bool {
        true
    }

    async fn apply(&self, _conn: &mut RedisConn, event: Envelope) -> Result<(), HandlerError> {
        self.applied.record(event.event_id)
    }
}

#[tokio::test]
async fn a_consumer_killed_before_a_trim_applies_everything_when_it_comes_back() {
    let redis = RedisServer::start().await;
    let partitions = Partitions::new(4).expect("partitions");
    let streams: Vec<String> = partitions.all().map(|p| p.stream("order")).collect();
    let mut conn = redis_conn::connect(&redis.url, Duration::from_secs(2))
        .await
        .expect("connect");
    let publish = |from: u64, n: u64| {
        let events: Vec<_> = (from..from + n)
            .map(|i| {
                Envelope::new("c", OrderId::new(0, i), EventBody::OrderCancelled).to_stream_event()
            })
            .collect();
        let ids: BTreeSet<String> = events.iter().map(|e| e.event_id.clone()).collect();
        (events, ids)
    };
    let (first, mut all_ids) = publish(0, 40);
    bus::publish(
        &mut conn,
        partitions,
        "order",
        &first,
        Replicated::default(),
    )
    .await
    .expect("publish");
    for s in &streams {
        bus::ensure_group(&mut conn, s, "done")
            .await
            .expect("group");
        bus::ensure_group(&mut conn, s, "ghost")
            .await
            .expect("group");
    }
    // The ghost reads everything, applies and acknowledges the first 3
    // entries of each partition, and dies.
    let read = bus::read_group(
        &mut conn,
        &streams,
        "ghost",
        "ghost-1",
        ">",
        1000,
        100,
        &Acks::new(),
    )
    .await
    .expect("read");
    assert_eq!(read.len(), 40);
    let mut acked = BTreeSet::new();
    for s in &streams {
        let prefix: Vec<String> = read
            .iter()
            .filter(|e| &e.stream == s)
            .take(3)
            .map(|e| e.entry_id.clone())
            .collect();
        for e in read
            .iter()
            .filter(|e| prefix.contains(&e.entry_id) && &e.stream == s)
        {
            if let Ok(ev) = &e.event {
                acked.insert(ev.event_id.clone());
            }
        }
        bus::ack(&mut conn, s, "ghost", &prefix).await.expect("ack");
    }
    // More events arrive that the ghost never read.
    let (second, more) = publish(100, 10);
    bus::publish(
        &mut conn,
        partitions,
        "order",
        &second,
        Replicated::default(),
    )
    .await
    .expect("publish");
    all_ids.extend(more);
    // Another group has read and acknowledged everything.
    let done = bus::read_group(
        &mut conn,
        &streams,
        "done",
        "d",
        ">",
        1000,
        100,
        &Acks::new(),
    )
    .await
    .expect("read");
    assert_eq!(done.len(), 50);
    let mut acks = Acks::new();
    for e in &done {
        acks.entry(e.stream.clone())
            .or_default()
            .push(e.entry_id.clone());
    }
    for (s, ids) in &acks {
        bus::ack(&mut conn, s, "done", ids).await.expect("ack");
    }
    // A trim with no retention at all removes only what both groups have
    // acknowledged: the ghost's prefixes.
    let round = trim_once(&mut conn, partitions, Duration::ZERO)
        .await
        .expect("trim");
    assert_eq!(round.removed as usize, acked.len());
    assert_eq!(round.remaining, 50 - acked.len() as u64);
    // The ghost comes back under its name: everything it had not
    // acknowledged is applied, once.
    let handler = Arc::new(Recording::default());
    let (ghost, _) = Actor::spawn(
        None,
        StreamConsumer::default(),
        ConsumerArgs {
            handler: handler.clone(),
            redis_url: redis.url.clone(),
            group: "ghost".into(),
            consumer: "ghost-1".into(),
            partitions,
            config: ConsumerConfig::default(),
        },
    )
    .await
    .expect("spawn");
    let expected: BTreeSet<String> = all_ids.difference(&acked).cloned().collect();
    let applied = eventually(Duration::from_secs(20), || {
        let handler = handler.clone();
        let expected = expected.clone();
        async move { (handler.applied.ids() == expected).then(|| handler.applied.totals().1) }
    })
    .await;
    assert_eq!(applied, Some(1), "every unacknowledged event applied once");
    // Once it has acknowledged them, a trim leaves nothing.
    let empty = eventually(Duration::from_secs(20), || {
        let mut conn = conn.clone();
        async move {
            let round = trim_once(&mut conn, partitions, Duration::ZERO)
                .await
                .ok()?;
            (round.remaining == 0).then_some(())
        }
    })
    .await;
    assert!(empty.is_some(), "acknowledged entries remained");
    ghost.stop(None);
}
