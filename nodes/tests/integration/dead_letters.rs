//! Failed events: a refund that fails for a passing reason is retried with
//! backoff until it goes through, with nobody's help; one that kept failing
//! past the retry period waits in the dead letters, `kukka events
//! dead-letters` lists it, and `kukka events redrive` delivers it again:
//! the refund is then made, once.

use std::{
    process::Command,
    time::{Duration, Instant},
};

use kukka_actors::runtime::{metrics, retry::RetryPolicy};
use kukka_storage::{
    bus::{Partitions, DEAD_LETTER_STREAM},
    redis_conn::{self, RedisConn},
};
use serde_json::Value;

use super::harness::{eventually, TestApp, OWNER};

/// Places an order and waits until it is paid; its id.
async fn paid_order(app: &TestApp, name: &str) -> String {
    let order = app.place(name).await;
    let paid = eventually(Duration::from_secs(10), || async {
        (app.payment_status(&order).await == "PaymentConfirmed").then_some(())
    })
    .await;
    assert!(paid.is_some());
    order
}

/// Arms the payment node's `fail-refund` fault for its next `times`
/// refunds.
async fn fail_refunds(app: &TestApp, times: u32) {
    let admin = app.system().node("payment").expect("payment").admin_addr;
    let r = app
        .http
        .post(format!("http://{admin}/faults/fail-refund?times={times}"))
        .send()
        .await
        .expect("arm");
    assert_eq!(r.status(), 200);
}

async fn cancel(app: &TestApp, order: &str) {
    let r = app
        .http
        .post(app.url(&format!("/orders/{order}/cancel")))
        .bearer_auth(OWNER)
        .send()
        .await
        .expect("cancel");
    assert_eq!(r.status(), 200);
}

async fn dead_letter_count(conn: &mut RedisConn) -> u64 {
    redis::cmd("XLEN")
        .arg(DEAD_LETTER_STREAM)
        .query_async(conn)
        .await
        .expect("xlen")
}

#[tokio::test]
async fn a_refund_that_fails_for_a_while_is_retried_with_backoff_and_made() {
    let app = TestApp::spawn_with(&[
        "--enable-test-faults",
        "--events-retry-first-ms",
        "50",
        "--events-retry-max-ms",
        "200",
    ])
    .await;
    let policy = RetryPolicy {
        first: Duration::from_millis(50),
        max: Duration::from_millis(200),
        ..RetryPolicy::default()
    };
    let order = paid_order(&app, "DISK-FULL").await;
    let retried_before = metrics::events_retried("payment-0");
    // More failures in a row than the five deliveries events used to get.
    fail_refunds(&app, 8).await;
    let start = Instant::now();
    cancel(&app, &order).await;
    let refunded = eventually(Duration::from_secs(60), || async {
        (app.payment_status(&order).await == "PaymentCancelled").then_some(())
    })
    .await;
    let took = start.elapsed();
    assert!(refunded.is_some(), "the refund was never made");
    let retried = metrics::events_retried("payment-0");
    assert!(
        retried - retried_before >= 8,
        "retried {} times",
        retried - retried_before
    );
    // The ninth delivery came after the eight waits, at the earliest.
    assert!(
        took >= policy.waited(9),
        "{took:?}: retried faster than the backoff ({:?})",
        policy.waited(9)
    );
    let mut conn = redis_conn::connect(&app.redis.url, Duration::from_secs(2))
        .await
        .expect("connect");
    assert_eq!(
        dead_letter_count(&mut conn).await,
        0,
        "nothing dead-lettered"
    );
    app.stop().await;
}

/// Runs `kukka events <args>` against `redis_url`; (exit code, stdout).
fn events_cli(redis_url: &str, args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_kukka"))
        .arg("events")
        .args(args)
        .env("KUKKA_REDIS_URL", redis_url)
        .output()
        .expect("run kukka events");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// How many `PaymentCancelled` events the stream holds for `order`.
async fn refunds_in_stream(conn: &mut RedisConn, order: &str) -> usize {
    let stream = Partitions::default().of(order).stream("payment");
    let entries: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
        .arg(&stream)
        .arg("-")
        .arg("+")
        .query_async(conn)
        .await
        .expect("xrange");
    entries
        .ids
        .iter()
        .filter(|e| {
            e.get::<String>("type").as_deref() == Some("PaymentCancelled")
                && e.get::<String>("data")
                    .is_some_and(|d| d.contains(&format!("\"orderId\":\"{order}\"")))
        })
        .count()
}

#[tokio::test]
async fn a_redriven_dead_letter_is_applied_exactly_once() {
    let app = TestApp::spawn_with(&[
        "--enable-test-faults",
        "--events-retry-first-ms",
        "50",
        "--events-retry-max-ms",
        "100",
        "--events-retry-total-secs",
        "1",
    ])
    .await;
    let url = app.redis.url.clone();
    let mut conn = redis_conn::connect(&url, Duration::from_secs(2))
        .await
        .expect("connect");
    let order = paid_order(&app, "PARKED").await;
    // The refund keeps failing past the retry period: dead-lettered.
    fail_refunds(&app, 1_000).await;
    cancel(&app, &order).await;
    let parked = eventually(Duration::from_secs(30), || {
        let mut conn = conn.clone();
        async move { (dead_letter_count(&mut conn).await == 1).then_some(()) }
    })
    .await;
    assert!(parked.is_some(), "the refund was not dead-lettered");
    assert_eq!(app.payment_status(&order).await, "PaymentConfirmed");
    let (code, listed) = events_cli(&url, &["dead-letters"]);
    assert_eq!(code, 0, "{listed}");
    assert!(listed.contains("group=payment-0"), "{listed}");
    assert!(listed.contains("type=OrderCancelled"), "{listed}");
    assert!(listed.contains(&format!("order={order}")), "{listed}");
    assert!(listed.contains("1 dead letter(s)"), "{listed}");
    let id = listed.split_whitespace().next().expect("an id").to_string();
    // The disk has room again; the operator redrives the letter.
    fail_refunds(&app, 0).await;
    let (code, out) = events_cli(&url, &["redrive", "--id", &id]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("1 dead letter(s) redriven"), "{out}");
    let refunded = eventually(Duration::from_secs(20), || async {
        (app.payment_status(&order).await == "PaymentCancelled").then_some(())
    })
    .await;
    assert!(refunded.is_some(), "the redriven refund was not made");
    assert_eq!(dead_letter_count(&mut conn).await, 0);
    // Redriving again finds nothing; the letter is gone.
    let (code, out) = events_cli(&url, &["redrive"]);
    assert_eq!((code, out.trim()), (0, "0 dead letter(s) redriven"));
    let (code, _) = events_cli(&url, &["redrive", "--id", &id]);
    assert_eq!(code, 1, "a letter that is gone is reported");
    // Applied once: one refund, one PaymentCancelled, once every group has
    // read the redriven event.
    let settled = eventually(Duration::from_secs(20), || async {
        let v: Value = app
            .http
            .get(app.url(&format!("/myPages/{order}")))
            .bearer_auth(OWNER)
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        (v["paymentStatus"] == "PaymentCancelled" && v["deliveryStatus"] == "DeliveryCancelled")
            .then_some(())
    })
    .await;
    assert!(settled.is_some());
    assert_eq!(refunds_in_stream(&mut conn, &order).await, 1);
    app.stop().await;
}
