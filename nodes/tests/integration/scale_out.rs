//! Graceful shutdown under load, and a rolling restart of a two-replica
//! system with zero failed order placements.

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use serde_json::Value;

use super::harness::{eventually, order_body, System};

#[derive(Default, Debug)]
struct Tally {
    acked: Vec<String>,
    retried_503: usize,
    failovers: usize,
    failed: Vec<String>,
}

/// One placement as a well-behaved client does it: on a refused connection
/// it goes to another edge (as a load balancer would), and a 503 with
/// Retry-After is retried once.
async fn place(
    http: &reqwest::Client,
    edges: &[String],
    n: usize,
    tally: &Mutex<Tally>,
    retry: bool,
) {
    let body = order_body(&format!("R{n}"));
    let mut retried = !retry;
    for attempt in 0..(edges.len() + 2) {
        let edge = &edges[(n + attempt) % edges.len()];
        match http.post(format!("{edge}/orders")).json(&body).send().await {
            Err(_) => {
                tally.lock().expect("lock").failovers += 1;
                continue;
            }
            Ok(r) if r.status() == 201 => {
                let v: Value = r.json().await.unwrap_or(Value::Null);
                let id = v["id"].as_str().unwrap_or_default().to_string();
                tally.lock().expect("lock").acked.push(id);
                return;
            }
            Ok(r) if r.status() == 503 && r.headers().contains_key("retry-after") && !retried => {
                retried = true;
                tally.lock().expect("lock").retried_503 += 1;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Ok(r) => {
                let status = r.status();
                let retry_after = if r.headers().contains_key("retry-after") {
                    " retry-after"
                } else {
                    ""
                };
                let text = r.text().await.unwrap_or_default();
                tally
                    .lock()
                    .expect("lock")
                    .failed
                    .push(format!("{}{retry_after}: {text}", status.as_u16()));
                tokio::time::sleep(Duration::from_millis(20)).await;
                return;
            }
        }
    }
    tally
        .lock()
        .expect("lock")
        .failed
        .push("no edge answered".into());
}

fn start_load(
    sys: &System,
    edges: Vec<String>,
    workers: usize,
    retry: bool,
) -> (
    Arc<AtomicBool>,
    Arc<Mutex<Tally>>,
    Vec<tokio::task::JoinHandle<()>>,
) {
    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Mutex::new(Tally::default()));
    let handles = (0..workers)
        .map(|w| {
            let (stop, tally, http, edges) =
                (stop.clone(), tally.clone(), sys.http.clone(), edges.clone());
            tokio::spawn(async move {
                let mut n = w * 100_000;
                while !stop.load(Ordering::SeqCst) && n < w * 100_000 + 20_000 {
                    place(&http, &edges, n, &tally, retry).await;
                    n += 1;
                }
            })
        })
        .collect();
    (stop, tally, handles)
}

async fn assert_intact(sys: &System, acked: &[String]) {
    for id in acked {
        let (status, order) = sys.get(&format!("/orders/{id}")).await;
        assert!(
            status == 200 && order["status"] == "Ordered",
            "{id}: {status} {order}"
        );
    }
}

#[tokio::test]
async fn sigterm_under_load_fails_no_accepted_request() {
    // Slow charges keep requests in flight on the order and payment nodes
    // when they are told to stop.
    let sys = System::start_with(&[("KUKKA_PAYMENT_INJECT_LATENCY_MS", "50-150")]).await;
    let (stop, tally, handles) = start_load(&sys, vec![sys.base.clone()], 6, false);
    let grown = |n: usize| {
        let tally = tally.clone();
        async move {
            eventually(Duration::from_secs(30), || async {
                (tally.lock().expect("lock").acked.len() >= n).then_some(())
            })
            .await
            .expect("orders are placed");
        }
    };
    grown(20).await;
    for node in ["order", "payment"] {
        let pid = sys.pid_of(node);
        sys.signal(node, libc::SIGTERM);
        sys.wait_restarted(node, pid, Duration::from_secs(60)).await;
        let n = tally.lock().expect("lock").acked.len();
        grown(n + 20).await;
    }
    stop.store(true, Ordering::SeqCst);
    for h in handles {
        h.await.expect("load");
    }
    let t = std::mem::take(&mut *tally.lock().expect("lock"));
    println!(
        "sigterm: acked {}, refused with 503 + Retry-After {}",
        t.acked.len(),
        t.failed.len()
    );
    // With one node per role, requests that arrive while a node restarts are
    // refused cleanly; none that a node had accepted is dropped.
    for f in &t.failed {
        assert!(f.starts_with("503") && f.contains("retry-after"), "{f}");
        assert!(
            !f.contains("went away"),
            "an accepted request was dropped: {f}"
        );
    }
    let logs = sys.log_of("order");
    assert!(
        logs.contains("shutting down") && logs.contains("stopped"),
        "graceful stop logged"
    );
    assert_intact(&sys, &t.acked).await;
}

#[tokio::test]
async fn a_rolling_restart_of_two_replicas_fails_no_placement() {
    let sys = System::start_with_args(&[], &["--replicas", "2"]).await;
    let edges = sys.edge_urls(&["edge", "edge-1"]);
    for name in ["order-1", "payment-1", "delivery-1"] {
        assert!(sys.run_info(name)["pid"].as_u64().is_some(), "{name} runs");
    }
    let nodes = [
        "payment",
        "payment-1",
        "order",
        "order-1",
        "delivery",
        "delivery-1",
        "edge",
        "edge-1",
    ];
    let before: Vec<u32> = nodes.iter().map(|n| sys.pid_of(n)).collect();
    // A customer's token from before the restart.
    let (kept, token) = sys.place_as(None, "KEPT").await;
    let (stop, tally, handles) = start_load(&sys, edges.clone(), 4, true);
    eventually(Duration::from_secs(30), || async {
        (tally.lock().expect("lock").acked.len() >= 20).then_some(())
    })
    .await
    .expect("orders are placed");

    let up = sys.up_pid();
    assert!(kukka_nodes::signals::send(up, libc::SIGHUP));
    let done = eventually(Duration::from_secs(240), || async {
        let log = std::fs::read_to_string(sys.dir.path().join("up.log")).unwrap_or_default();
        log.contains("rolling restart: done").then_some(())
    })
    .await;
    assert!(
        done.is_some(),
        "the rolling restart did not finish:\n{}",
        sys.logs()
    );
    let after: Vec<u32> = nodes.iter().map(|n| sys.pid_of(n)).collect();
    for (i, n) in nodes.iter().enumerate() {
        assert_ne!(before[i], after[i], "{n} was restarted");
    }
    // Every node was replaced, and the customer's token still works, on
    // either edge.
    for edge in &edges {
        let r = super::harness::anonymous_client()
            .get(format!("{edge}/orders/{kept}"))
            .bearer_auth(&token)
            .send()
            .await
            .expect("request");
        assert_eq!(r.status(), 200, "{edge}: the token outlived the restart");
    }
    let n = tally.lock().expect("lock").acked.len();
    eventually(Duration::from_secs(30), || async {
        (tally.lock().expect("lock").acked.len() >= n + 20).then_some(())
    })
    .await
    .expect("orders keep being placed after the restart");
    stop.store(true, Ordering::SeqCst);
    for h in handles {
        h.await.expect("load");
    }
    let t = std::mem::take(&mut *tally.lock().expect("lock"));
    println!(
        "rolling restart: acked {}, 503 retried once {}, connection failovers {}, failed {}",
        t.acked.len(),
        t.retried_503,
        t.failovers,
        t.failed.len()
    );
    assert!(t.failed.is_empty(), "{:?}", t.failed);
    let shards: std::collections::BTreeSet<&str> = t
        .acked
        .iter()
        .filter_map(|id| id.split('-').next())
        .collect();
    assert_eq!(shards.len(), 2, "orders went to both shards: {shards:?}");
    assert_intact(&sys, &t.acked).await;
}
