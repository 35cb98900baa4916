//! Readiness means what a load balancer needs: with every payment node
//! gone, the edge stays ready (its own `/readyz` asks only whether it can
//! answer, i.e. Redis is reachable), the routes that need payment answer a
//! JSON `503` with `Retry-After`, and the views keep answering.
//! `/readyz?scope=cluster` is what tools wait on before sending work.

use std::time::Duration;

use serde_json::Value;

use super::harness::{eventually, order_body, TestApp, OWNER};

#[tokio::test]
async fn with_payment_gone_the_edge_stays_ready_and_only_payment_routes_answer_503() {
    let mut app = TestApp::spawn().await;
    let (status, body) = app.probe("/readyz").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["required"], serde_json::json!(["accepting", "redis"]));
    let id = app.place("BEFORE").await;
    app.get_until(&format!("/myPages/{id}"), Duration::from_secs(20), |v| {
        v["deliveryStatus"] == "DeliveryRequested"
    })
    .await;

    assert!(app.system_mut().stop_node("payment").await);
    let cluster = eventually(Duration::from_secs(10), || async {
        let (status, v) = app.probe("/readyz?scope=cluster").await;
        (status == 503 && v["checks"]["payment"] == false).then_some(v)
    })
    .await;
    assert!(cluster.is_some(), "the cluster scope never saw payment go");
    let (status, body) = app.probe("/readyz").await;
    assert_eq!(status, 200, "the edge stays in its Service: {body}");
    assert_eq!(body["ready"], true);
    assert_eq!(body["checks"]["payment"], false, "{body}");

    // Placing an order needs payment: a JSON 503 with Retry-After, at once.
    let started = std::time::Instant::now();
    let r = app
        .http
        .post(app.url("/orders"))
        .json(&order_body("AFTER"))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 503);
    let retry: u32 = r.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!(retry >= 1);
    let body: Value = r.json().await.expect("a JSON body");
    assert_eq!(body["error"]["code"], "payment_unavailable", "{body}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "not after a timeout"
    );

    // So does reading a payment (as the owner, who may read anything).
    let r = app
        .http
        .get(app.url(&format!("/payments/{id}")))
        .bearer_auth(OWNER)
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 503);
    assert!(r.headers().contains_key("retry-after"));
    let body: Value = r.json().await.expect("a JSON body");
    assert_eq!(body["error"]["code"], "unavailable", "{body}");

    // Everything that does not need payment still answers.
    for path in [
        format!("/myPages/{id}"),
        "/myPages".to_string(),
        format!("/orderDetails/{id}"),
        "/orderDetails".to_string(),
        format!("/orders/{id}"),
        "/orders".to_string(),
        "/".to_string(),
    ] {
        let r = app
            .http
            .get(app.url(&path))
            .bearer_auth(OWNER)
            .send()
            .await
            .expect("request");
        assert_eq!(r.status(), 200, "{path}: {:?}", r.text().await);
    }

    // Only `node` and `cluster` are scopes.
    let (status, body) = app.probe("/readyz?scope=everything").await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "invalid_query");
    app.stop().await;
}
