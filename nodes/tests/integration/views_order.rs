//! The read models end in the same state whatever order events arrive in,
//! and however often.

use kukka_actors::{
    delivery::model::DeliveryStatus,
    events::{Envelope, EventBody},
    order::{id::OrderId, model::OrderLine},
    views::{projector::ViewProjector, reads::Collection},
};

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

async fn project(events: &[Envelope]) -> (serde_json::Value, serde_json::Value) {
    let redis = RedisServer::start().await;
    let mut conn =
        kukka_storage::redis_conn::connect(&redis.url, std::time::Duration::from_secs(2))
            .await
            .expect("connect");
    for e in events {
        ViewProjector::project(&mut conn, e).await.expect("apply");
    }
    let page = Collection::MyPages
        .get(&mut conn, "0-1")
        .await
        .expect("read")
        .expect("my page");
    let details = Collection::OrderDetails
        .get(&mut conn, "0-1")
        .await
        .expect("read")
        .expect("details");
    (page, details)
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
