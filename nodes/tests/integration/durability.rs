//! What must hold while the write path is made fast: an event reaches Redis
//! only once the state change it describes is on disk, a failed flush
//! acknowledges and publishes nothing, and a request shed before payment
//! was called writes nothing durable.

use std::time::Duration;

use kukka_storage::outbox;

use super::harness::{arm_fault, eventually, order_body, stream_events, Api, System, TestApp};

/// The events in the stream about `order_id`, by type.
async fn event_types(url: &str, order_id: &str) -> Vec<String> {
    stream_events(url)
        .await
        .into_iter()
        .filter(|v| v["orderId"] == order_id)
        .filter_map(|v| v["type"].as_str().map(String::from))
        .collect()
}

/// The order ids of every payment the system holds.
async fn paid_order_ids(api: &Api) -> Vec<String> {
    api.all_items("/payments", 500)
        .await
        .iter()
        .filter_map(|p| p["orderId"].as_str().map(String::from))
        .collect()
}

#[tokio::test]
async fn an_order_whose_write_never_reached_the_disk_is_never_published() {
    let sys = System::start_with(&[
        ("KUKKA_ENABLE_TEST_FAULTS", "true"),
        ("KUKKA_RECONCILE_AFTER_MS", "2000"),
    ])
    .await;
    let before = sys.place("BEFORE").await;
    // The order node's disk hangs: its commits stay in memory.
    arm_fault(&sys, "order", "hold-flush", 1).await;
    let placing = {
        let (http, url) = (sys.http.clone(), sys.url("/orders"));
        tokio::spawn(async move {
            http.post(url)
                .json(&order_body("HELD"))
                .timeout(Duration::from_secs(60))
                .send()
                .await
        })
    };
    // Payment charged it (durably, on the payment node): that is its id.
    let held = eventually(Duration::from_secs(20), || async {
        paid_order_ids(&sys)
            .await
            .into_iter()
            .find(|id| *id != before)
    })
    .await
    .expect("the held order was charged");
    // The order shard commits the order in memory (reads see it), and its
    // relay keeps draining: once a drain has counted the entry as pending,
    // it has seen it and left it alone, because it is not durable.
    sys.get_until(&format!("/orders/{held}"), Duration::from_secs(20), |o| {
        o["status"] == "Ordered"
    })
    .await;
    let pending = eventually(Duration::from_secs(20), || async {
        let n = sys.metric("order", "kukka_outbox_pending").await?;
        (n >= 1.0).then_some(n)
    })
    .await;
    assert!(
        pending.is_some(),
        "the relay drained the held order's event: {:?}",
        event_types(&sys.redis_url(), &held).await
    );
    let types = event_types(&sys.redis_url(), &held).await;
    assert!(!types.contains(&"OrderPlaced".to_string()), "{types:?}");
    let order_pid = sys.pid_of("order");
    sys.signal("order", libc::SIGKILL);
    let _ = placing.await;
    sys.wait_restarted("order", order_pid, Duration::from_secs(60))
        .await;
    // The order was never durable: reconciliation fences it and voids the
    // charge. It must never have been announced as placed.
    sys.get_until(&format!("/payments/{held}"), Duration::from_secs(30), |p| {
        p["status"] == "PaymentCancelled"
    })
    .await;
    let types = event_types(&sys.redis_url(), &held).await;
    assert!(
        !types.contains(&"OrderPlaced".to_string()),
        "an order that was not on disk was published: {types:?}"
    );
    assert!(types.contains(&"OrderRejected".to_string()), "{types:?}");
    let (status, order) = sys.get(&format!("/orders/{held}")).await;
    assert_eq!(status, 200, "{order}");
    assert_eq!(order["status"], "Rejected", "{order}");
}

#[tokio::test]
async fn a_failed_flush_acknowledges_nothing_and_publishes_nothing() {
    let app = TestApp::spawn_with(&["--enable-test-faults"]).await;
    let before = app.place("BEFORE").await;
    let node = app.system().node("order").expect("order node");
    let store = node.store().expect("the order node has a store").clone();
    let admin = format!("http://{}", node.admin_addr);
    let r = app
        .http
        .post(format!("{admin}/faults/fail-flush?times=1"))
        .send()
        .await
        .expect("arm");
    assert_eq!(r.status(), 200);
    let (status, body) = app.post("/orders", &order_body("UNLUCKY")).await;
    assert_eq!(status, 503, "not acknowledged: {body}");
    assert!(body["error"]["code"].is_string(), "{body}");
    // Its charge went through on payment; the order shard committed the
    // order in memory, but the flush failed.
    let unlucky = paid_order_ids(&app)
        .await
        .into_iter()
        .find(|id| *id != before)
        .expect("the unlucky order was charged");
    let reason = store.committer().failed().await;
    assert!(reason.contains("injected"), "{reason}");
    let (outbox_tree, _) = store.tree(outbox::OUTBOX_TREE).expect("outbox");
    let durable = *store.durable_outbox().borrow();
    let staged: Vec<_> = outbox::pending(&outbox_tree, u64::MAX, 100)
        .expect("outbox")
        .into_iter()
        .filter(|(_, e)| e.data.contains(&format!("\"{unlucky}\"")))
        .collect();
    assert_eq!(staged.len(), 1, "OrderPlaced was committed in memory");
    let publishable = outbox::pending(&outbox_tree, durable, 100).expect("outbox");
    assert!(
        publishable.iter().all(|(k, _)| *k != staged[0].0),
        "but it is above the durable watermark"
    );
    let types = event_types(&app.redis.url, &unlucky).await;
    assert!(!types.contains(&"OrderPlaced".to_string()), "{types:?}");
    // The poisoned store takes nothing more: the node must restart.
    let (status, body) = app.post("/orders", &order_body("AFTER")).await;
    assert_eq!(status, 503, "{body}");
}

#[tokio::test]
async fn requests_shed_before_payment_was_called_write_nothing() {
    // Every payment call times out: the outage rule opens the breaker, and
    // then calls are shed without calling payment.
    let app = TestApp::spawn_with(&[
        "--payment-timeout-ms",
        "200",
        "--inject-latency-ms",
        "400-400",
        "--breaker-outage-ms",
        "300",
        "--breaker-open-ms",
        "60000",
    ])
    .await;
    let (mut slow, mut fast) = (0, 0);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while fast < 5 && std::time::Instant::now() < deadline {
        let t0 = std::time::Instant::now();
        let (status, body) = app.post("/orders", &order_body("SHED")).await;
        assert_eq!(status, 503, "{body}");
        if t0.elapsed() < Duration::from_millis(150) {
            fast += 1;
        } else {
            slow += 1;
        }
    }
    assert_eq!(fast, 5, "the breaker never opened ({slow} slow 503s)");
    // Only the calls that reached payment left a (rejected) order.
    let orders = app.all_items("/orders", 500).await;
    assert!(
        orders.iter().all(|o| o["status"] == "Rejected"),
        "{orders:?}"
    );
    assert_eq!(orders.len(), slow, "{fast} fast 503s wrote nothing");
    app.stop().await;
}
