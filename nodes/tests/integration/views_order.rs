//! The read models (and deliveries) end in the same state whatever order
//! events arrive in, however often, and however they are batched.

use kukka_actors::{
    delivery::{model::DeliveryStatus, on_events::DeliveryHandler},
    events::{Envelope, EventBody},
    order::{id::OrderId, model::OrderLine},
    runtime::consumer::EventHandler,
    views::{projector::ViewProjector, reads::Collection},
};

use kukka_storage::bus::Partitions;

use super::harness::RedisServer;

fn saga(order_id: OrderId) -> Vec<Envelope> {
    let body = |b| Envelope::new("c", order_id, b);
    vec![
        body(EventBody::PaymentConfirmed {
            payment_id: "pay-0-1".into(),
            amount: 10000,
        }),
        body(EventBody::OrderPlaced {
            line: OrderLine {
                customer_name: "KIM".into(),
                phone_number: "010".into(),
                address: "SEOUL".into(),
                flower_type: "MixBox".into(),
                price: 10000,
                qty: 2,
            },
            customer_id: None,
            payment_id: "pay-0-1".into(),
            created_at: "2026-01-01T00:00:00.000Z".into(),
        }),
        body(EventBody::DeliveryChanged {
            status: DeliveryStatus::DeliveryRequested,
        }),
        body(EventBody::DeliveryChanged {
            status: DeliveryStatus::DeliveryStarted,
        }),
        body(EventBody::DeliveryChanged {
            status: DeliveryStatus::DeliveryCancelled,
        }),
        body(EventBody::OrderCancelled),
        body(EventBody::PaymentCancelled {
            payment_id: "pay-0-1".into(),
        }),
    ]
}

/// Projects `events` in batches of `batch` into a fresh Redis; MyPage and
/// OrderDetails of order 0-1.
async fn project_in(events: &[Envelope], batch: usize) -> (serde_json::Value, serde_json::Value) {
    let redis = RedisServer::start().await;
    let mut conn =
        kukka_storage::redis_conn::connect(&redis.url, std::time::Duration::from_secs(2))
            .await
            .expect("connect");
    let projector = ViewProjector::default();
    for chunk in events.chunks(batch) {
        for result in projector.project(&mut conn, chunk).await.expect("apply") {
            result.expect("applied");
        }
    }
    let page = Collection::MyPages
        .get(&mut conn, Partitions::default(), "0-1")
        .await
        .expect("read")
        .expect("my page");
    let details = Collection::OrderDetails
        .get(&mut conn, Partitions::default(), "0-1")
        .await
        .expect("read")
        .expect("details");
    (page, details)
}

/// One event at a time, and all in one batch: the same views either way.
async fn project(events: &[Envelope]) -> (serde_json::Value, serde_json::Value) {
    let one_by_one = project_in(events, 1).await;
    let batched = project_in(events, events.len()).await;
    assert_eq!(one_by_one, batched, "batching changes nothing");
    one_by_one
}

#[tokio::test]
async fn views_converge_for_any_order_and_duplicates_of_events() {
    let events = saga(OrderId::new(0, 1));
    let in_order = project(&events).await;
    assert_eq!(in_order.0["orderStatus"], "OrderCancelled");
    assert_eq!(in_order.0["paymentStatus"], "PaymentCancelled");
    assert_eq!(in_order.0["deliveryStatus"], "DeliveryCancelled");
    assert_eq!(in_order.0["qty"], 2);
    assert_eq!(in_order.1["deliveryStatus"], "DeliveryCancelled");

    let mut reversed = events.clone();
    reversed.reverse();
    assert_eq!(project(&reversed).await, in_order, "reverse order");

    // Cancellations first (a refund overtaking the order after a restart),
    // every event delivered twice.
    let mut shuffled: Vec<Envelope> = [6, 5, 4, 0, 1, 3, 2]
        .iter()
        .map(|&i| events[i].clone())
        .collect();
    shuffled.extend(shuffled.clone());
    assert_eq!(
        project(&shuffled).await,
        in_order,
        "shuffled and duplicated"
    );
}

/// The delivery of order 0-1 after `events` were applied in one batch.
async fn delivery_after(events: Vec<Envelope>) -> serde_json::Value {
    let redis = RedisServer::start().await;
    let mut conn =
        kukka_storage::redis_conn::connect(&redis.url, std::time::Duration::from_secs(2))
            .await
            .expect("connect");
    for r in DeliveryHandler::default()
        .apply_batch(&mut conn, events)
        .await
    {
        r.expect("applied");
    }
    Collection::Deliveries
        .get(&mut conn, Partitions::default(), "0-1")
        .await
        .expect("read")
        .expect("delivery")
}

#[tokio::test]
async fn a_refund_cancels_the_delivery_wherever_it_stands_in_a_batch() {
    let events = saga(OrderId::new(0, 1));
    let (placed, refunded) = (events[1].clone(), events[6].clone());
    let after = delivery_after(vec![placed.clone(), refunded.clone()]).await;
    assert_eq!(after["status"], "DeliveryCancelled", "{after}");
    // The refund first (replicas apply in parallel), then the order.
    let before = delivery_after(vec![refunded, placed]).await;
    assert_eq!(before["status"], "DeliveryCancelled", "{before}");
}

/// The raw hash at `key` (ranks and `updatedAt` included).
async fn hash_at(
    conn: &mut kukka_storage::redis_conn::RedisConn,
    key: &str,
) -> std::collections::BTreeMap<String, String> {
    redis::cmd("HGETALL")
        .arg(key)
        .query_async(conn)
        .await
        .expect("HGETALL")
}

/// The rule a merge follows, one plain command at a time: a fact is
/// `HSETNX`, a ranked field is written with its rank (`_r_<field>`) only
/// over a lower one, and `updatedAt` becomes the newest time of the updates
/// that changed something, unless it is newer already. Whether anything
/// changed.
async fn merge_by_hand(
    conn: &mut kukka_storage::redis_conn::RedisConn,
    key: &str,
    updates: &[kukka_storage::views::FieldUpdate],
) -> bool {
    let mut newest: Option<&str> = None;
    for u in updates {
        let changed = if u.rank == 0 {
            redis::cmd("HSETNX")
                .arg(key)
                .arg(&u.field)
                .arg(&u.value)
                .query_async::<i64>(conn)
                .await
                .expect("HSETNX")
                == 1
        } else {
            let rank_field = format!("_r_{}", u.field);
            let cur: Option<u32> = redis::cmd("HGET")
                .arg(key)
                .arg(&rank_field)
                .query_async(conn)
                .await
                .expect("HGET");
            let higher = u.rank > cur.unwrap_or(0);
            if higher {
                redis::cmd("HSET")
                    .arg(key)
                    .arg(&u.field)
                    .arg(&u.value)
                    .arg(&rank_field)
                    .arg(u.rank)
                    .query_async::<i64>(conn)
                    .await
                    .expect("HSET");
            }
            higher
        };
        if changed && newest.is_none_or(|n| u.at.as_str() > n) {
            newest = Some(&u.at);
        }
    }
    let Some(newest) = newest else {
        return false;
    };
    let updated: Option<String> = redis::cmd("HGET")
        .arg(key)
        .arg("updatedAt")
        .query_async(conn)
        .await
        .expect("HGET");
    if updated.is_none_or(|u| u.as_str() < newest) {
        redis::cmd("HSET")
            .arg(key)
            .arg("updatedAt")
            .arg(newest)
            .query_async::<i64>(conn)
            .await
            .expect("HSET");
    }
    true
}

/// Whatever the updates (a field twice, a fact after a rank, a lower rank
/// after a higher one, a record that already holds some of them), the merge
/// script leaves the hash exactly as the rule applied one plain command at a
/// time does, whether the updates come in one call or one call each. (The
/// projector relies on the second: it sends a batch's updates to one order
/// as one merge.)
#[tokio::test]
async fn one_merge_call_equals_one_call_per_update() {
    use kukka_storage::views::{merge, FieldUpdate, Merge};

    let redis = RedisServer::start().await;
    let mut conn =
        kukka_storage::redis_conn::connect(&redis.url, std::time::Duration::from_secs(2))
            .await
            .expect("connect");
    // xorshift: the same cases every run.
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let mut changed_anything = 0;
    for case in 0..300 {
        let updates: Vec<FieldUpdate> = (0..1 + next(8))
            .map(|_| {
                let field = ["status", "address", "qty"][next(3) as usize];
                let value = format!("v{}", next(5));
                let at = format!("2026-01-01T00:00:0{}.000Z", next(10));
                FieldUpdate::ranked(field, value, next(4) as u32, &at)
            })
            .collect();
        // Both records start from the same few updates, applied one by one.
        let already = next(3) as usize;
        let (by_hand, one_by_one, at_once) = (
            format!("k:{case}:h"),
            format!("k:{case}:a"),
            format!("k:{case}:b"),
        );
        for u in updates.iter().take(already) {
            merge_by_hand(&mut conn, &by_hand, std::slice::from_ref(u)).await;
        }
        for key in [&one_by_one, &at_once] {
            for u in updates.iter().take(already) {
                let m = Merge {
                    key: key.clone(),
                    listed_in: vec![],
                    updates: vec![u.clone()],
                };
                merge(&mut conn, &m).await.expect("merge");
            }
        }
        let mut any = false;
        for u in &updates {
            let m = Merge {
                key: one_by_one.clone(),
                listed_in: vec![],
                updates: vec![u.clone()],
            };
            any |= merge(&mut conn, &m).await.expect("merge");
        }
        let m = Merge {
            key: at_once.clone(),
            listed_in: vec![],
            updates: updates.clone(),
        };
        let changed = merge(&mut conn, &m).await.expect("merge");
        let expected = merge_by_hand(&mut conn, &by_hand, &updates).await;
        assert_eq!(changed, expected, "case {case}: {updates:?}");
        assert_eq!(any, expected, "case {case}: {updates:?}");
        changed_anything += usize::from(changed);
        let expected = hash_at(&mut conn, &by_hand).await;
        for key in [&one_by_one, &at_once] {
            assert_eq!(
                hash_at(&mut conn, key).await,
                expected,
                "case {case}: {updates:?}"
            );
        }
    }
    assert!(
        changed_anything > 100,
        "the cases change something: {changed_anything}"
    );
}
