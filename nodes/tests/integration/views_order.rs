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
