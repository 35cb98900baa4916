//! The original system's main scenario, through separate processes.

use std::time::Duration;

use serde_json::json;

use super::harness::{anonymous_client, order_body, System, TestApp};

const WAIT: Duration = Duration::from_secs(20);

#[tokio::test]
async fn an_order_is_paid_delivered_and_shown_on_my_page() {
    let sys = System::start().await;
    paid_delivered_and_shown(&sys).await;
}

/// The original's main scenario against `sys`.
pub async fn paid_delivered_and_shown(sys: &System) {
    // Every role has a run file with its pid and admin address.
    for role in ["order", "payment", "delivery", "edge"] {
        let info = sys.run_info(role);
        assert!(
            info["pid"].as_u64().is_some_and(|p| p > 0),
            "{role}: {info}"
        );
        assert!(info["adminAddr"].as_str().is_some(), "{role}: {info}");
    }
    // One Redis, or every node of a Redis Cluster, has its run file too.
    let redis = sys.redis_nodes();
    assert!(!redis.is_empty());
    for name in &redis {
        assert!(sys.run_info(name)["url"]
            .as_str()
            .is_some_and(|u| u.starts_with("redis://")));
    }

    // 1-2. The customer orders; payment is called synchronously.
    let (status, order) = sys.post("/orders", &order_body("KIM")).await;
    assert_eq!(status, 201, "{order}");
    assert_eq!(order["status"], "Ordered");
    let id = order["id"].as_str().expect("id").to_string();
    let (status, fetched) = sys.get(&format!("/orders/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(fetched["id"], id.as_str());
    let (status, payment) = sys.get(&format!("/payments/{id}")).await;
    assert_eq!(status, 200, "{payment}");
    assert_eq!(payment["status"], "PaymentConfirmed");
    assert_eq!(payment["amount"], 10000);

    // 3. The paid order reaches the shop owner.
    let details = sys
        .get_until(&format!("/orderDetails/{id}"), WAIT, |v| {
            v["deliveryStatus"] == "DeliveryRequested"
        })
        .await;
    assert_eq!(details["customerName"], "KIM");
    assert_eq!(details["qty"], 1);

    // 4. The owner starts and completes the delivery (handing it over at
    // once, without DeliveryStarted, is `httpie_commands`' business).
    let (status, body) = sys
        .owner_post(&json!({"orderId": id, "status": "DeliveryStarted"}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "DeliveryStarted");
    let (status, body) = sys
        .owner_post(&json!({"orderId": id, "status": "Delivered"}))
        .await;
    assert_eq!(status, 200, "{body}");

    // 8. My page shows every step.
    let page = sys
        .get_until(&format!("/myPages/{id}"), WAIT, |v| {
            v["deliveryStatus"] == "Delivered"
        })
        .await;
    assert_eq!(page["orderStatus"], "Ordered");
    assert_eq!(page["paymentStatus"], "PaymentConfirmed");
    assert_eq!(page["flowerType"], "MixBox");
    assert_eq!(page["price"], 10000);
    assert!(page["updatedAt"].as_str().is_some_and(|t| t.ends_with('Z')));

    // Lists carry the envelope.
    let (_, list) = sys.get("/orders").await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1));
    assert!(list["nextCursor"].is_null());
    let (_, deliveries) = sys.get("/deliveries").await;
    assert_eq!(deliveries["items"][0]["status"], "Delivered");
}

#[tokio::test]
async fn owner_routes_need_the_token_and_unknown_ids_are_404() {
    let sys = TestApp::spawn().await;
    let anonymous = anonymous_client();
    let r = anonymous
        .post(sys.url("/deliveries"))
        .json(&json!({"orderId": "0-1", "status": "DeliveryStarted"}))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 401);
    let r = anonymous
        .post(sys.url("/deliveries"))
        .bearer_auth("wrong")
        .json(&json!({"orderId": "0-1", "status": "DeliveryStarted"}))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 403);
    let (status, body) = sys
        .owner_post(&json!({"orderId": "0-999", "status": "DeliveryStarted"}))
        .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["code"], "not_found");
    for path in [
        "/orders/0-999",
        "/orders/garbage",
        "/payments/0-999",
        "/myPages/0-999",
        "/orderDetails/0-999",
    ] {
        let (status, body) = sys.get(path).await;
        assert_eq!(status, 404, "{path}: {body}");
        assert!(body["error"]["message"].is_string(), "{path}: {body}");
    }
}
