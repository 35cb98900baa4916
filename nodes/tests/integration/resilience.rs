//! Self-healing and the payment guard: panics, crash loops, timeouts that
//! may still have charged, and a frozen payment node.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use serde_json::Value;

use super::harness::{arm_fault, eventually, order_body, System};

const FAULTS: (&str, &str) = ("KUKKA_ENABLE_TEST_FAULTS", "true");

/// Checks the invariant once everything settled: every `Ordered` order has
/// exactly one confirmed payment, and every confirmed payment belongs to an
/// `Ordered` order (no orphan charge). Returns how many orders are
/// `Ordered`; an error names what breaks the invariant.
async fn charges_match_orders(sys: &System) -> Result<usize, String> {
    let orders: HashMap<String, Value> = sys
        .all_items("/orders", 500)
        .await
        .into_iter()
        .filter_map(|o| Some((o["id"].as_str()?.to_string(), o)))
        .collect();
    let payments = sys.all_items("/payments", 500).await;
    let confirmed: HashMap<String, usize> = payments
        .iter()
        .filter(|p| p["status"] == "PaymentConfirmed")
        .fold(HashMap::new(), |mut m, p| {
            *m.entry(p["orderId"].as_str().unwrap_or("").to_string())
                .or_default() += 1;
            m
        });
    let orphans = confirmed
        .keys()
        .filter(|id| orders.get(*id).is_none_or(|o| o["status"] != "Ordered"))
        .count();
    let ordered: Vec<&String> = orders
        .iter()
        .filter(|(_, o)| o["status"] == "Ordered")
        .map(|(id, _)| id)
        .collect();
    for id in &ordered {
        if confirmed.get(*id) != Some(&1) {
            return Err(format!(
                "order {id} is Ordered but has {:?} confirmed payments",
                confirmed.get(*id)
            ));
        }
    }
    if orphans > 0 {
        return Err(format!(
            "{orphans} confirmed payments without an established order"
        ));
    }
    Ok(ordered.len())
}

/// Places one order per name, all at once.
async fn place_concurrently(
    sys: &System,
    names: impl Iterator<Item = String>,
) -> Vec<(u16, Value)> {
    futures_util::future::join_all(
        names.map(|name| async move { sys.post("/orders", &order_body(&name)).await }),
    )
    .await
}

#[tokio::test]
async fn a_panic_while_placing_one_order_loses_no_other_order() {
    let sys = System::start_with(&[FAULTS]).await;
    sys.place("WARMUP").await;
    let pid = sys.pid_of("order");
    arm_fault(&sys, "order", "panic-in-request", 1).await;
    let results = place_concurrently(&sys, (0..8).map(|i| format!("C{i}"))).await;
    let created = results.iter().filter(|(s, _)| *s == 201).count();
    let failed: Vec<_> = results.iter().filter(|(s, _)| *s != 201).collect();
    assert_eq!(created, 7, "exactly one request hit the panic: {failed:?}");
    assert_eq!(failed[0].0, 503, "{failed:?}");
    assert_eq!(sys.pid_of("order"), pid, "the node did not go down");
    sys.place("AFTER").await;
    let n = charges_match_orders(&sys).await.expect("consistent");
    assert_eq!(n, 9);
}

#[tokio::test]
async fn a_crash_looping_service_escalates_and_the_node_comes_back() {
    let sys = System::start_with(&[FAULTS]).await;
    sys.place("BEFORE").await;
    let pid = sys.pid_of("order");
    arm_fault(&sys, "order", "crash-service", 50).await;
    // Keep sending orders: each one crashes the service actor; the root
    // supervisor restarts it with backoff until it gives up and the process
    // exits 70, and `kukka up` starts a fresh one.
    let restarted = eventually(Duration::from_secs(60), || async {
        let _ = sys.post("/orders", &order_body("CRASH")).await;
        (sys.pid_of("order") != pid).then_some(())
    })
    .await;
    assert!(
        restarted.is_some(),
        "the order node never escalated:\n{}",
        sys.logs()
    );
    sys.wait_restarted("order", pid, Duration::from_secs(30))
        .await;
    let placed = eventually(Duration::from_secs(30), || async {
        let (s, b) = sys.post("/orders", &order_body("AFTER")).await;
        (s == 201).then_some(b)
    })
    .await;
    assert!(placed.is_some(), "orders work again after the restart");
    let up_log = std::fs::read_to_string(sys.dir.path().join("up.log")).unwrap_or_default();
    assert!(up_log.contains("exit status: 70"), "{up_log}");
    assert!(sys.log_of("order").contains("escalating"));
    charges_match_orders(&sys)
        .await
        .expect("no charge without an order");
}

#[tokio::test]
async fn timed_out_payments_never_leave_a_charge_behind() {
    let sys = System::start_with(&[
        ("KUKKA_PAYMENT_INJECT_LATENCY_MS", "200-310"),
        ("KUKKA_PAYMENT_TIMEOUT_MS", "300"),
        // Keep the breaker closed: this test is about compensation.
        ("KUKKA_BREAKER_OUTAGE_MS", "0"),
        ("KUKKA_BREAKER_FAILURE_RATE", "100"),
    ])
    .await;
    let mut created = 0;
    let mut refused = 0;
    for round in 0..16 {
        for (status, body) in
            place_concurrently(&sys, (0..5).map(|i| format!("T{round}-{i}"))).await
        {
            match status {
                201 => created += 1,
                503 => {
                    assert_eq!(body["error"]["code"], "payment_unavailable", "{body}");
                    refused += 1;
                }
                other => panic!("unexpected {other}: {body}"),
            }
        }
    }
    assert!(
        refused > 0,
        "with 200-310 ms against 300 ms some calls must time out"
    );
    // Late charges are voided by the rejection event (or refused by the fence).
    let settled = eventually(Duration::from_secs(30), || async {
        charges_match_orders(&sys).await.ok()
    })
    .await;
    let ordered = settled.unwrap_or_else(|| panic!("never consistent:\n{}", sys.logs()));
    assert_eq!(
        ordered, created,
        "every 201 is an established order ({refused} refused)"
    );
}

#[tokio::test]
async fn a_frozen_payment_node_opens_the_breaker_which_closes_after_it_resumes() {
    let sys = System::start_with(&[
        // The default rules (outage after 2 s without a success), a shorter
        // open wait so the test recovers quickly.
        ("KUKKA_PAYMENT_TIMEOUT_MS", "300"),
        ("KUKKA_BREAKER_OPEN_MS", "1000"),
        ("KUKKA_BREAKER_HALF_OPEN_CALLS", "1"),
        ("KUKKA_RECONCILE_AFTER_MS", "2000"),
    ])
    .await;
    sys.place("BEFORE").await;
    let open = r#"kukka_payment_breaker_state{state="open"}"#;
    let closed = r#"kukka_payment_breaker_state{state="closed"}"#;
    assert_eq!(sys.metric("order", closed).await, Some(1.0));

    sys.signal("payment", libc::SIGSTOP);
    let frozen_at = Instant::now();
    let mut fast_fail = None;
    let mut created = 1;
    let deadline = Instant::now() + Duration::from_secs(20);
    while fast_fail.is_none() && Instant::now() < deadline {
        let t0 = Instant::now();
        let r = sys
            .http
            .post(sys.url("/orders"))
            .json(&order_body("FROZEN"))
            .send()
            .await
            .expect("request");
        let took = t0.elapsed();
        assert_eq!(
            r.status(),
            503,
            "nothing can be paid while payment is frozen"
        );
        assert!(r.headers().contains_key("retry-after"));
        if took < Duration::from_millis(100) {
            fast_fail = Some((frozen_at.elapsed(), took));
        }
    }
    let (open_after, fast) = fast_fail.expect("the breaker never started failing fast");
    assert_eq!(sys.metric("order", open).await, Some(1.0));
    println!("breaker: open {open_after:?} after the freeze; fast-fail answer took {fast:?}");

    sys.signal("payment", libc::SIGCONT);
    let resumed_at = Instant::now();
    let recovered = eventually(Duration::from_secs(30), || async {
        let (s, _) = sys.post("/orders", &order_body("RESUMED")).await;
        (s == 201).then_some(())
    })
    .await;
    assert!(
        recovered.is_some(),
        "orders never succeeded again:\n{}",
        sys.logs()
    );
    created += 1;
    println!(
        "breaker: recovered {:?} after payment resumed",
        resumed_at.elapsed()
    );
    assert_eq!(sys.metric("order", closed).await, Some(1.0));
    // Charges queued while frozen land late and are voided.
    let settled = eventually(Duration::from_secs(30), || async {
        charges_match_orders(&sys).await.ok()
    })
    .await;
    assert_eq!(settled, Some(created), "{}", sys.logs());
    let (_, body) = sys.get("/orders").await;
    assert!(body["items"]
        .as_array()
        .is_some_and(|a| a.iter().any(|o| o["status"] == "Rejected")));
}
