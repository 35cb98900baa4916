//! The bulkhead's concurrency limit, on the in-process system: calls beyond
//! it are refused at once with `503` and `Retry-After`, and the calls within
//! it succeed.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::harness::{order_body, TestApp};

#[tokio::test]
async fn calls_beyond_the_concurrency_limit_are_refused_at_once() {
    // Two payment calls at a time, each taking 400 ms.
    let app = TestApp::spawn_with(&[
        "--payment-max-concurrent",
        "2",
        "--inject-latency-ms",
        "400-400",
    ])
    .await;
    let api = &*app;
    let sent = (0..6).map(|i| {
        let body = order_body(&format!("B{i}"));
        async move {
            let t0 = Instant::now();
            let r = api
                .http
                .post(api.url("/orders"))
                .json(&body)
                .send()
                .await
                .expect("request");
            let status = r.status().as_u16();
            let retry_after = r.headers().get("retry-after").cloned();
            let body: Value = r.json().await.unwrap_or(Value::Null);
            (status, retry_after, body, t0.elapsed())
        }
    });
    let results = futures_util::future::join_all(sent).await;
    let placed: Vec<_> = results.iter().filter(|r| r.0 == 201).collect();
    let refused: Vec<_> = results.iter().filter(|r| r.0 != 201).collect();
    assert_eq!(placed.len(), 2, "the limit lets two through: {results:?}");
    assert_eq!(refused.len(), 4, "{results:?}");
    for (status, retry_after, body, took) in &refused {
        assert_eq!(*status, 503, "{body}");
        assert_eq!(body["error"]["code"], "payment_unavailable", "{body}");
        assert!(retry_after.is_some(), "Retry-After: {body}");
        assert!(
            *took < Duration::from_millis(400),
            "refused at once, not after waiting for payment: {took:?}"
        );
    }
    let (status, status_page) = app.get("/status.json").await;
    assert_eq!(status, 200);
    assert_eq!(status_page["breakers"][0]["rejected"], 4, "{status_page}");
    assert_eq!(
        status_page["breakers"][0]["breakerState"], "closed",
        "refusals are not failures: {status_page}"
    );
    // Once the two calls are done, the next order goes through.
    let (status, body) = app.post("/orders", &order_body("AFTER")).await;
    assert_eq!(status, 201, "{body}");
    // The refused calls never reached payment: they wrote nothing.
    let orders = app.all_items("/orders", 500).await;
    assert_eq!(orders.len(), 3, "{orders:?}");
    assert!(
        orders.iter().all(|o| o["status"] == "Ordered"),
        "{orders:?}"
    );
    assert_eq!(app.all_items("/payments", 500).await.len(), 3);
    app.stop().await;
}
