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

/// What happens to Redis in the middle of the load.
pub enum RedisFault {
    /// Freeze the one Redis (`SIGSTOP`), thaw it, then `kill -9` it: it is
    /// restarted from its append-only file.
    FreezeThenKill,
    /// A Redis Cluster failover: freeze master `redis-<i>` until its replica
    /// is promoted, then `kill -9` it (it comes back as a replica).
    Failover,
}

#[tokio::test]
async fn acknowledged_orders_survive_kill_dash_nine_of_every_node() {
    let sys = System::start_with(&[("KUKKA_RECONCILE_AFTER_MS", "3000")]).await;
    nothing_lost(&sys, RedisFault::FreezeThenKill).await;
}

/// The name of a Redis Cluster node that is a master with a replica, and
/// whether `name` has been replaced as master (its replica promoted).
async fn cluster_roles(sys: &System) -> Vec<(String, String, bool)> {
    let mut out = Vec::new();
    for name in sys.redis_nodes() {
        let url = sys.run_info(&name)["url"]
            .as_str()
            .expect("node url")
            .to_string();
        let Ok(client) = redis::Client::open(url) else {
            continue;
        };
        let Ok(Ok(mut conn)) = tokio::time::timeout(
            Duration::from_secs(1),
            client.get_multiplexed_async_connection(),
        )
        .await
        else {
            continue;
        };
        let Ok(Ok(info)) = tokio::time::timeout(
            Duration::from_secs(1),
            redis::cmd("ROLE").query_async::<redis::Value>(&mut conn),
        )
        .await
        else {
            continue;
        };
        let role = match info {
            redis::Value::Array(v) => match v.first() {
                Some(redis::Value::BulkString(b)) => String::from_utf8_lossy(b).into_owned(),
                _ => String::new(),
            },
            _ => String::new(),
        };
        let serves = role == "master";
        out.push((name, role, serves));
    }
    out
}

/// Under concurrent load, `kill -9` order, payment and delivery in turn,
/// then `fault` Redis; every acknowledged order survives intact and no
/// charge is left without an order.
pub async fn nothing_lost(sys: &System, fault: RedisFault) {
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
    match fault {
        RedisFault::FreezeThenKill => {
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
        }
        RedisFault::Failover => {
            let roles = cluster_roles(sys).await;
            let masters: Vec<&String> = roles
                .iter()
                .filter(|(_, role, _)| role == "master")
                .map(|(n, _, _)| n)
                .collect();
            let victim = masters.first().expect("a master").to_string();
            let before = masters.len();
            let frozen_at = std::time::Instant::now();
            sys.signal(&victim, libc::SIGSTOP);
            // Orders keep being accepted while its slots have no master.
            let during = acked_now();
            grow(during).await;
            let promoted = eventually(Duration::from_secs(60), || async {
                let now = cluster_roles(sys).await;
                let masters = now
                    .iter()
                    .filter(|(n, role, _)| role == "master" && *n != victim)
                    .count();
                (masters == before).then_some(())
            })
            .await;
            assert!(
                promoted.is_some(),
                "no replica of {victim} was promoted:\n{}",
                sys.logs()
            );
            println!(
                "failover: {victim} frozen; its replica promoted within {:?}",
                frozen_at.elapsed()
            );
            let pid = sys.pid_of(&victim);
            sys.signal(&victim, libc::SIGKILL);
            sys.wait_restarted(&victim, pid, Duration::from_secs(60))
                .await;
        }
    }
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
