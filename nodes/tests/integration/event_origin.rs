//! Events carry the role that produced them, and consumers ignore (and
//! count) an event whose producer may not produce its kind: an
//! `OrderCancelled` that claims to come from a delivery node refunds
//! nothing. Events written before the producer was recorded still apply.

use std::time::Duration;

use kukka_actors::runtime::metrics;
use kukka_storage::{
    bus::{self, Partitions, Replicated},
    outbox::StreamEvent,
};
use serde_json::json;

use super::harness::{eventually, TestApp};

/// An `OrderCancelled` for `order`, claiming `producer` (none: an event
/// from before producers were recorded).
fn cancelled(order: &str, event_id: &str, producer: Option<&str>) -> StreamEvent {
    let mut data = json!({
        "eventId": event_id, "correlationId": "event-origin",
        "occurredAt": "2026-01-01T00:00:00.000Z", "orderId": order,
        "type": "OrderCancelled",
    });
    if let Some(p) = producer {
        data["producer"] = json!(p);
    }
    StreamEvent {
        event_id: event_id.into(),
        kind: "OrderCancelled".into(),
        data: data.to_string(),
        partition_key: order.into(),
    }
}

#[tokio::test]
async fn an_event_from_a_role_that_may_not_produce_it_is_ignored_and_counted() {
    let app = TestApp::spawn().await;
    let order = app.place("ORIGIN").await;
    let confirmed = eventually(Duration::from_secs(10), || async {
        (app.payment_status(&order).await == "PaymentConfirmed").then_some(())
    })
    .await;
    assert!(confirmed.is_some());
    let mut conn = kukka_storage::redis_conn::connect(&app.redis.url, Duration::from_secs(2))
        .await
        .expect("connect");
    let refused = || metrics::events_refused("payment-0", "OrderCancelled", "delivery", "producer");
    let before = refused();
    bus::publish(
        &mut conn,
        Partitions::default(),
        "order",
        &[cancelled(&order, "forged-1", Some("delivery"))],
        Replicated::default(),
    )
    .await
    .expect("publish");
    let counted = eventually(Duration::from_secs(10), || async {
        let n = refused();
        (n > before).then_some(n)
    })
    .await;
    assert_eq!(counted, Some(before + 1), "the forged event was counted");
    assert_eq!(
        app.payment_status(&order).await,
        "PaymentConfirmed",
        "a delivery node's OrderCancelled refunds nothing"
    );
    // The same event as written before producers were recorded applies.
    bus::publish(
        &mut conn,
        Partitions::default(),
        "order",
        &[cancelled(&order, "legacy-1", None)],
        Replicated::default(),
    )
    .await
    .expect("publish");
    let refunded = eventually(Duration::from_secs(10), || async {
        (app.payment_status(&order).await == "PaymentCancelled").then_some(())
    })
    .await;
    assert!(
        refunded.is_some(),
        "an event without a producer still applies"
    );
    app.stop().await;
}
