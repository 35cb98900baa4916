//! `kukka views rebuild` replays the stream into views equal to the live ones.

use std::{process::Command, time::Duration};

use serde_json::{json, Value};

use super::harness::TestApp;

#[tokio::test]
async fn rebuilt_views_equal_the_live_ones() {
    let sys = TestApp::spawn().await;
    let a = sys.place("A").await;
    let b = sys.place("B").await;
    let c = sys.place("C").await;
    let wait = Duration::from_secs(20);
    for id in [&a, &b, &c] {
        sys.get_until(&format!("/deliveries/{id}"), wait, |v| {
            v["status"] == "DeliveryRequested"
        })
        .await;
    }
    for step in ["DeliveryStarted", "Delivered"] {
        let (status, body) = sys.owner_post(&json!({"orderId": a, "status": step})).await;
        assert_eq!(status, 200, "{step}: {body}");
    }
    let (status, body) = sys.post(&format!("/orders/{b}/cancel"), &json!({})).await;
    assert_eq!(status, 200, "{body}");
    sys.get_until(&format!("/myPages/{a}"), wait, |v| {
        v["deliveryStatus"] == "Delivered"
    })
    .await;
    sys.get_until(&format!("/myPages/{b}"), wait, |v| {
        v["paymentStatus"] == "PaymentCancelled" && v["deliveryStatus"] == "DeliveryCancelled"
    })
    .await;

    let live: (Vec<Value>, Vec<Value>) = (
        sys.all_items("/myPages", 2).await,
        sys.all_items("/orderDetails", 2).await,
    );
    assert_eq!(live.0.len(), 3);
    let out = Command::new(env!("CARGO_BIN_EXE_kukka"))
        .args(["views", "rebuild", "--redis-url", &sys.redis.url])
        .output()
        .expect("run rebuild");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("views rebuilt"));
    let rebuilt = (
        sys.all_items("/myPages", 2).await,
        sys.all_items("/orderDetails", 2).await,
    );
    assert_eq!(rebuilt, live);
}
