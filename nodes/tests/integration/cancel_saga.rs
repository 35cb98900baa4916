//! The cancel saga: order → payment refund → delivery cancelled, the cases
//! where cancelling is refused, and its forward recovery when the order
//! node dies in the middle of a cancel.

use std::time::Duration;

use serde_json::{json, Value};

use super::harness::{arm_fault, stream_events, System};

const WAIT: Duration = Duration::from_secs(20);

async fn events_of(sys: &System, order_id: &str) -> Vec<Value> {
    stream_events(&sys.redis_url())
        .await
        .into_iter()
        .filter(|v| v["orderId"] == order_id)
        .collect()
}

#[tokio::test]
async fn cancelling_refunds_and_cancels_delivery_once() {
    let sys = System::start().await;
    refunds_and_cancels_once(&sys).await;
}

/// A cancel refunds the payment and cancels the delivery, once.
pub async fn refunds_and_cancels_once(sys: &System) {
    let id = sys.place("PARK").await;
    sys.get_until(&format!("/myPages/{id}"), WAIT, |v| {
        v["deliveryStatus"] == "DeliveryRequested"
    })
    .await;

    let (status, first) = sys.post(&format!("/orders/{id}/cancel"), &json!({})).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["status"], "OrderCancelled");
    let (status, second) = sys.post(&format!("/orders/{id}/cancel"), &json!({})).await;
    assert_eq!(status, 200, "cancelling twice is fine: {second}");
    assert_eq!(second, first, "and changes nothing");

    let page = sys
        .get_until(&format!("/myPages/{id}"), WAIT, |v| {
            v["orderStatus"] == "OrderCancelled"
                && v["paymentStatus"] == "PaymentCancelled"
                && v["deliveryStatus"] == "DeliveryCancelled"
        })
        .await;
    assert_eq!(page["customerName"], "PARK");
    sys.get_until(&format!("/payments/{id}"), WAIT, |v| {
        v["status"] == "PaymentCancelled"
    })
    .await;
    sys.get_until(&format!("/orderDetails/{id}"), WAIT, |v| {
        v["deliveryStatus"] == "DeliveryCancelled"
    })
    .await;

    let events = events_of(sys, &id).await;
    let count = |t: &str| events.iter().filter(|e| e["type"] == t).count();
    assert_eq!(count("OrderCancelled"), 1, "{events:?}");
    assert_eq!(count("PaymentCancelled"), 1, "{events:?}");

    // The owner cannot ship a cancelled order.
    let (status, body) = sys
        .owner_post(&json!({"orderId": id, "status": "DeliveryStarted"}))
        .await;
    assert_eq!(status, 409, "{body}");
}

#[tokio::test]
async fn delivered_orders_cannot_be_cancelled_but_started_ones_can() {
    let sys = System::start().await;
    let delivered = sys.place("CHOI").await;
    let started = sys.place("JUNG").await;
    for id in [&delivered, &started] {
        sys.get_until(&format!("/deliveries/{id}"), WAIT, |v| {
            v["status"] == "DeliveryRequested"
        })
        .await;
        let (status, body) = sys
            .owner_post(&json!({"orderId": id, "status": "DeliveryStarted"}))
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, body) = sys
        .owner_post(&json!({"orderId": delivered, "status": "Delivered"}))
        .await;
    assert_eq!(status, 200, "{body}");

    let (status, body) = sys
        .post(&format!("/orders/{delivered}/cancel"), &json!({}))
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "conflict");
    let (_, order) = sys.get(&format!("/orders/{delivered}")).await;
    assert_eq!(
        order["status"], "Ordered",
        "a refused cancel changes nothing"
    );
    let (_, payment) = sys.get(&format!("/payments/{delivered}")).await;
    assert_eq!(payment["status"], "PaymentConfirmed");

    // A started delivery is recalled.
    let (status, body) = sys
        .post(&format!("/orders/{started}/cancel"), &json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    sys.get_until(&format!("/myPages/{started}"), WAIT, |v| {
        v["deliveryStatus"] == "DeliveryCancelled" && v["paymentStatus"] == "PaymentCancelled"
    })
    .await;
    let (status, _) = sys.post("/orders/0-424242/cancel", &json!({})).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_cancel_cut_short_by_the_order_node_dying_is_finished_by_forward_recovery() {
    let sys = System::start_with(&[("KUKKA_ENABLE_TEST_FAULTS", "true")]).await;
    let id = sys.place("LEE").await;
    sys.get_until(&format!("/myPages/{id}"), WAIT, |v| {
        v["deliveryStatus"] == "DeliveryRequested"
    })
    .await;
    let pid = sys.pid_of("order");
    // The order node aborts right after the delivery was reserved for the
    // cancel, before it cancels the order itself.
    arm_fault(&sys, "order", "crash-mid-cancel", 1).await;
    let (status, body) = sys.post(&format!("/orders/{id}/cancel"), &json!({})).await;
    assert_eq!(status, 503, "the node died before answering: {body}");
    sys.wait_restarted("order", pid, Duration::from_secs(60))
        .await;
    let up_log = std::fs::read_to_string(sys.dir.path().join("up.log")).unwrap_or_default();
    assert!(
        up_log.contains("SIGABRT"),
        "the node was cut short: {up_log}"
    );

    // Nobody retries the cancel: the restarted shard's consumer sees the
    // cancelled delivery and cancels the order; payment refunds.
    sys.get_until(&format!("/orders/{id}"), WAIT, |v| {
        v["status"] == "OrderCancelled"
    })
    .await;
    sys.get_until(&format!("/payments/{id}"), WAIT, |v| {
        v["status"] == "PaymentCancelled"
    })
    .await;
    sys.get_until(&format!("/myPages/{id}"), WAIT, |v| {
        v["orderStatus"] == "OrderCancelled"
            && v["paymentStatus"] == "PaymentCancelled"
            && v["deliveryStatus"] == "DeliveryCancelled"
    })
    .await;
    let events = events_of(&sys, &id).await;
    let count = |t: &str| events.iter().filter(|e| e["type"] == t).count();
    assert_eq!(count("OrderCancelled"), 1, "{events:?}");
    assert_eq!(count("PaymentCancelled"), 1, "{events:?}");
}
