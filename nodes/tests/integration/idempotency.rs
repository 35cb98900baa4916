//! `Idempotency-Key`: scoped to the caller, the same answer from any edge
//! and any shard, one charge for concurrent retries, and forgotten after
//! the configured time (with bounded storage).

use std::{collections::BTreeSet, time::Duration};

use serde_json::Value;

use super::harness::{anonymous_client, eventually, order_body, Api, System, TestApp, OWNER};

/// `POST /orders` with `key` as `token` (to `base`, default the edge).
async fn place_with_key(
    api: &Api,
    base: Option<&str>,
    token: Option<&str>,
    key: &str,
    name: &str,
) -> (u16, Value) {
    let url = format!("{}/orders", base.unwrap_or(&api.base));
    let mut req = anonymous_client()
        .post(url)
        .header("idempotency-key", key)
        .json(&order_body(name));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let r = req.send().await.expect("request");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_key_is_the_callers_own() {
    let sys = TestApp::spawn().await;
    let (_, a) = sys.place_as(None, "A").await;
    let (_, b) = sys.place_as(None, "B").await;
    let key = "shared-key";
    let (_, first_a) = place_with_key(&sys, None, Some(&a), key, "K").await;
    let (_, again_a) = place_with_key(&sys, None, Some(&a), key, "K").await;
    let (_, first_b) = place_with_key(&sys, None, Some(&b), key, "K").await;
    let (_, anon) = place_with_key(&sys, None, None, key, "K").await;
    let (_, anon_again) = place_with_key(&sys, None, None, key, "K").await;
    assert_eq!(first_a["id"], again_a["id"], "A's retry");
    assert_ne!(first_a["id"], first_b["id"], "B's key is B's");
    assert_ne!(first_a["id"], anon["id"]);
    assert_eq!(anon["id"], anon_again["id"], "no token is a scope too");
    assert_eq!(
        anon["customerToken"], anon_again["customerToken"],
        "the retry answers the customer the first attempt made"
    );
    assert_eq!(first_a["customerToken"], a.as_str());
    let payments = sys.all_items("/payments", 500).await;
    assert_eq!(
        payments.len(),
        2 + 3,
        "two plain orders and three keyed ones"
    );
}

/// Idempotency keys kept by the order shard of an in-process system.
fn stored_keys(sys: &TestApp) -> usize {
    let store = sys
        .system()
        .node("order")
        .and_then(|n| n.store())
        .expect("the order node's store");
    let (tree, _) = store.tree("orders.by").expect("tree");
    tree.scan_prefix("idem:").count()
}

#[tokio::test]
async fn keys_expire_after_the_configured_time_and_are_swept() {
    let sys = TestApp::spawn_with(&["--idempotency-ttl-secs", "2"]).await;
    let (status, first) = place_with_key(&sys, None, None, "expiring", "EXP").await;
    assert_eq!(status, 201, "{first}");
    let (_, again) = place_with_key(&sys, None, None, "expiring", "EXP").await;
    assert_eq!(first["id"], again["id"], "within the time: the same order");
    // After it: a new order.
    let renewed = eventually(Duration::from_secs(20), || async {
        let (status, v) = place_with_key(&sys, None, None, "expiring", "EXP").await;
        (status == 201 && v["id"] != first["id"]).then_some(v)
    })
    .await
    .expect("the key expires");
    assert_ne!(renewed["customerToken"], first["customerToken"]);
    // Keys nobody retries are swept: storage stays bounded.
    for i in 0..5 {
        let (status, _) = place_with_key(&sys, None, None, &format!("k{i}"), "SWEEP").await;
        assert_eq!(status, 201);
    }
    assert!(stored_keys(&sys) >= 5);
    let swept = eventually(Duration::from_secs(20), || async {
        (stored_keys(&sys) == 0).then_some(())
    })
    .await;
    assert!(swept.is_some(), "{} keys left", stored_keys(&sys));
}

#[tokio::test]
async fn fifty_concurrent_retries_over_two_edges_place_one_order_with_one_charge() {
    let sys = System::start_with_args(&[], &["--replicas", "2"]).await;
    let edges = sys.edge_urls(&["edge", "edge-1"]);
    // `/readyz` waits for some order shard, not both: wait until each edge
    // sees both (the key's shard may be either).
    for edge in &edges {
        let joined = eventually(Duration::from_secs(30), || async {
            let v: Value = sys
                .http
                .get(format!("{edge}/status.json"))
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            (v["roles"]["order"]["joined"] == 2).then_some(())
        })
        .await;
        assert!(joined.is_some(), "{edge} sees both order shards");
    }
    let (_, token) = sys.place_as(None, "RETRY").await;
    let before = sys.all_items("/payments", 500).await.len();
    let key = "fifty-retries";
    let attempts = (0..50).map(|i| {
        let (api, edge, token) = (&*sys, edges[i % 2].clone(), token.clone());
        async move { place_with_key(api, Some(&edge), Some(&token), key, "RETRY").await }
    });
    let started = std::time::Instant::now();
    let answers = futures_util::future::join_all(attempts).await;
    eprintln!(
        "50 concurrent retries over 2 edges answered in {} ms",
        started.elapsed().as_millis()
    );
    let ids: BTreeSet<String> = answers
        .iter()
        .map(|(status, v)| {
            assert_eq!(*status, 201, "{v}");
            v["id"].as_str().expect("id").to_string()
        })
        .collect();
    assert_eq!(ids.len(), 1, "one order: {ids:?}");
    let id = ids.into_iter().next().expect("id");
    let payments = sys.all_items("/payments", 500).await;
    assert_eq!(payments.len(), before + 1, "one charge: {payments:?}");
    let charged: Vec<&Value> = payments
        .iter()
        .filter(|p| p["orderId"] == id.as_str())
        .collect();
    assert_eq!(charged.len(), 1);
    assert_eq!(charged[0]["status"], "PaymentConfirmed");
    // The customer sees it through either edge: tokens need no shared state.
    for edge in &edges {
        let r = anonymous_client()
            .get(format!("{edge}/orders/{id}"))
            .bearer_auth(&token)
            .send()
            .await
            .expect("request");
        assert_eq!(r.status(), 200, "{edge}");
    }

    // No token ever reaches a log, the metrics or the status page.
    let status = sys
        .http
        .get(sys.url("/status.json"))
        .send()
        .await
        .expect("status")
        .text()
        .await
        .expect("text");
    let mut seen = vec![("status.json".to_string(), status)];
    for node in [
        "edge",
        "edge-1",
        "order",
        "order-1",
        "payment",
        "payment-1",
        "delivery",
        "delivery-1",
    ] {
        seen.push((format!("logs/{node}.log"), sys.log_of(node)));
        let metrics = sys
            .http
            .get(format!("{}/metrics", sys.admin(node)))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text");
        seen.push((format!("{node} /metrics"), metrics));
    }
    seen.push((
        "up.log".into(),
        std::fs::read_to_string(sys.dir.path().join("up.log")).unwrap_or_default(),
    ));
    let secret = std::fs::read_to_string(sys.dir.path().join("token-secret")).expect("secret");
    for (what, text) in &seen {
        assert!(
            !text.is_empty() || what.ends_with(".log"),
            "{what} is empty"
        );
        assert!(!text.contains(&token), "{what} holds a customer token");
        assert!(!text.contains(&token[4..36]), "{what} holds a customer id");
        assert!(!text.contains(OWNER), "{what} holds the owner token");
        assert!(
            !text.contains(secret.trim()),
            "{what} holds the token secret"
        );
    }
}
