//! Self-healing, on the in-process system: every long-lived actor of every
//! role, killed, is restarted by its node's supervisor, and the system
//! works afterwards.

use std::time::Duration;

use ractor::ActorCell;

use super::harness::{eventually, TestApp};

#[tokio::test]
async fn every_long_lived_actor_is_restarted_after_it_dies() {
    let app = TestApp::spawn().await;
    let first = app.place("BEFORE").await;
    let mut restarted = Vec::new();
    for role in ["payment", "order", "delivery", "edge"] {
        let node = app.system().node(role).expect("node");
        assert!(!node.children().is_empty(), "{role} supervises actors");
        for short in node.children() {
            let name = node.ns().name(short);
            let old: ActorCell = ractor::registry::where_is(name.clone())
                .unwrap_or_else(|| panic!("{name} is running"));
            old.kill();
            let back = eventually(Duration::from_secs(20), || async {
                let cell = ractor::registry::where_is(name.clone())?;
                (cell.get_id() != old.get_id() && cell.get_status() == ractor::ActorStatus::Running)
                    .then_some(())
            })
            .await;
            assert!(back.is_some(), "{name} was not restarted");
            restarted.push(name);
        }
    }
    assert!(restarted.len() >= 11, "{restarted:?}");
    // Restarted shards, bulkhead, relays and consumers carry a new order
    // all the way to My page, and the earlier order is still there.
    let ready = eventually(Duration::from_secs(20), || async {
        (app.cluster_ready().await == 200).then_some(())
    })
    .await;
    assert!(ready.is_some(), "the order shard rejoined its groups");
    let id = app.place("AFTER").await;
    app.get_until(&format!("/myPages/{id}"), Duration::from_secs(20), |v| {
        v["orderStatus"] == "Ordered"
            && v["paymentStatus"] == "PaymentConfirmed"
            && v["deliveryStatus"] == "DeliveryRequested"
    })
    .await;
    let (status, _) = app.get(&format!("/orders/{first}")).await;
    assert_eq!(status, 200);
    app.stop().await;
}
