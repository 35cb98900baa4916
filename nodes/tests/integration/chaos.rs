//! Nothing is lost: under concurrent load, `kill -9` each node in turn,
//! freeze Redis, kill Redis; every acknowledged order survives intact and
//! no charge is left without an order.

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use super::harness::{eventually, order_body, System};

#[tokio::test]
async fn acknowledged_orders_survive_kill_dash_nine_of_every_node() {
    let sys = System::start_with(&[("KUKKA_RECONCILE_AFTER_MS", "3000")]).await;
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let refused = Arc::new(Mutex::new(0usize));
    let mut load = Vec::new();
    for w in 0..4 {
        let (stop, acked, refused) = (stop.clone(), acked.clone(), refused.clone());
        let (http, url) = (sys.http.clone(), sys.url("/orders"));
        load.push(tokio::spawn(async move {
            let mut n = 0u32;
            while !stop.load(Ordering::SeqCst) && n < 5000 {
                n += 1;
                let sent = http
                    .post(&url)
                    .json(&order_body(&format!("L{w}-{n}")))
                    .send()
                    .await;
                match sent {
                    Ok(r) if r.status() == 201 => {
                        if let Ok(v) = r.json::<serde_json::Value>().await {
                            if let Some(id) = v["id"].as_str() {
                                acked.lock().expect("lock").push(id.to_string());
                            }
                        }
                    }
                    _ => {
                        *refused.lock().expect("lock") += 1;
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
            }
        }));
    }
    let acked_now = || acked.lock().expect("lock").len();
    let grow = |from: usize| {
        let acked = acked.clone();
        async move {
            eventually(Duration::from_secs(30), || async {
                (acked.lock().expect("lock").len() > from + 20).then_some(())
            })
            .await
            .expect("orders keep being accepted");
        }
    };
    grow(0).await;
    for node in ["order", "payment", "delivery"] {
        let pid = sys.pid_of(node);
        sys.signal(node, libc::SIGKILL);
        sys.wait_restarted(node, pid, Duration::from_secs(60)).await;
        grow(acked_now()).await;
    }
    // Redis frozen: orders keep being accepted (the outboxes grow).
    sys.signal("redis", libc::SIGSTOP);
    let during = acked_now();
    grow(during).await;
    sys.signal("redis", libc::SIGCONT);
    // Redis killed and restarted from its append-only file.
    let pid = sys.pid_of("redis");
    sys.signal("redis", libc::SIGKILL);
    sys.wait_restarted("redis", pid, Duration::from_secs(60))
        .await;
    grow(acked_now()).await;
    stop.store(true, Ordering::SeqCst);
    for l in load {
        l.await.expect("load task");
    }

    let acked: Vec<String> = acked.lock().expect("lock").clone();
    let mut lost = Vec::new();
    for id in &acked {
        let (status, order) = sys.get(&format!("/orders/{id}")).await;
        if status != 200 || order["status"] != "Ordered" {
            lost.push((id.clone(), status, order));
        }
    }
    assert!(lost.is_empty(), "lost acknowledged orders: {lost:?}");
    // Every acknowledged order's payment and my page converge.
    for id in &acked {
        sys.get_until(&format!("/payments/{id}"), Duration::from_secs(30), |p| {
            p["status"] == "PaymentConfirmed"
        })
        .await;
    }
    let all_views = eventually(Duration::from_secs(60), || async {
        let pages = sys.all_items("/myPages", 500).await;
        let ok = acked.iter().all(|id| {
            pages.iter().any(|p| {
                p["orderId"] == id.as_str()
                    && p["orderStatus"] == "Ordered"
                    && p["paymentStatus"] == "PaymentConfirmed"
                    && p["deliveryStatus"] == "DeliveryRequested"
            })
        });
        ok.then_some(pages.len())
    })
    .await;
    assert!(
        all_views.is_some(),
        "my pages did not converge:\n{}",
        sys.logs()
    );
    let orphans = eventually(Duration::from_secs(60), || async {
        let payments = sys.all_items("/payments", 500).await;
        let orders = sys.all_items("/orders", 500).await;
        let orphans = payments
            .iter()
            .filter(|p| p["status"] == "PaymentConfirmed")
            .filter(|p| {
                !orders
                    .iter()
                    .any(|o| o["id"] == p["orderId"] && o["status"] == "Ordered")
            })
            .count();
        (orphans == 0).then_some(orphans)
    })
    .await;
    println!(
        "chaos: acknowledged {}, lost {}, refused during faults {}, orphan charges {:?}",
        acked.len(),
        lost.len(),
        refused.lock().expect("lock"),
        orphans
    );
    assert_eq!(
        orphans,
        Some(0),
        "charges without an order remain:\n{}",
        sys.logs()
    );
}
