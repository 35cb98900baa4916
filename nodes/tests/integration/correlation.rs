//! A correlation id given on `POST /orders` travels in every event and
//! every node's log lines about the order.

use std::time::Duration;

use serde_json::Value;

use super::harness::{order_body, stream_events, System};

#[tokio::test]
async fn the_correlation_id_is_in_events_and_every_nodes_logs() {
    let sys = System::start_with(&[("KUKKA_LOG_FORMAT", "json")]).await;
    let cid = "corr-test-7f3a";
    let resp = sys
        .http
        .post(sys.url("/orders"))
        .header("x-correlation-id", cid)
        .json(&order_body("CORR"))
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 201);
    assert_eq!(resp.headers()["x-correlation-id"], cid);
    let id = resp.json::<Value>().await.expect("json")["id"]
        .as_str()
        .expect("id")
        .to_string();
    sys.get_until(&format!("/myPages/{id}"), Duration::from_secs(20), |v| {
        v["deliveryStatus"] == "DeliveryRequested"
    })
    .await;

    let events: Vec<Value> = stream_events(&sys.redis_url())
        .await
        .into_iter()
        .filter(|v: &Value| v["orderId"] == id.as_str())
        .collect();
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
    for kind in ["OrderPlaced", "PaymentConfirmed", "DeliveryChanged"] {
        assert!(kinds.contains(&kind), "{kind} missing: {kinds:?}");
    }
    assert!(
        events.iter().all(|e| e["correlationId"] == cid),
        "{events:?}"
    );

    for node in ["edge", "order", "payment", "delivery"] {
        let found = super::harness::eventually(Duration::from_secs(10), || async {
            let log = sys.log_of(node);
            log.lines()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .any(|l| l.to_string().contains(cid))
                .then_some(())
        })
        .await;
        assert!(
            found.is_some(),
            "{node} never logged {cid}:\n{}",
            sys.log_of(node)
        );
    }

    // Without a header, the edge makes one up and returns it.
    let resp = sys
        .http
        .get(sys.url("/orders"))
        .send()
        .await
        .expect("request");
    let made = resp.headers()["x-correlation-id"]
        .to_str()
        .expect("ascii")
        .to_string();
    assert_eq!(made.len(), 36, "{made}");
}
