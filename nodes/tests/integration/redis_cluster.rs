//! kukka on a real Redis Cluster (`kukka up --redis-cluster 3`): the seed
//! scenario, the cancel saga, views rebuild, and nothing lost through kills
//! of every node and a Redis failover (a master frozen until its replica is
//! promoted, then killed).

use std::process::Command;

use super::{
    cancel_saga::refunds_and_cancels_once,
    chaos::{nothing_lost, RedisFault},
    harness::System,
    seed_scenario::paid_delivered_and_shown,
};

#[tokio::test]
async fn sagas_and_views_rebuild_on_a_three_master_cluster() {
    let sys = System::start_with_args(&[], &["--redis-cluster", "3"]).await;
    assert_eq!(sys.redis_nodes().len(), 3, "{:?}", sys.redis_nodes());
    assert!(sys.redis_url().contains(','), "the nodes get every seed");
    paid_delivered_and_shown(&sys).await;
    refunds_and_cancels_once(&sys).await;
    // The views are spread over the masters, and rebuilding them from
    // every partition gives the same answer.
    let live = sys.all_items("/myPages", 2).await;
    assert_eq!(live.len(), 2);
    let out = Command::new(env!("CARGO_BIN_EXE_kukka"))
        .args(["views", "rebuild", "--redis-url", &sys.redis_url()])
        .output()
        .expect("run rebuild");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(sys.all_items("/myPages", 2).await, live);
}

#[tokio::test]
async fn nothing_is_lost_on_a_cluster_through_kills_and_a_failover() {
    let sys = System::start_with_args(
        &[("KUKKA_RECONCILE_AFTER_MS", "3000")],
        &["--redis-cluster", "3", "--redis-cluster-replicas", "1"],
    )
    .await;
    assert_eq!(sys.redis_nodes().len(), 6, "{:?}", sys.redis_nodes());
    nothing_lost(&sys, RedisFault::Failover).await;
}
