//! The baseline's outbox relay: publishes durable staged events oldest
//! first and removes them once Redis has them, like the cluster's relay
//! actor (woken when the durable watermark moves and every 500 ms).

use std::time::Duration;

use kukka_storage::redis_conn::RedisConn;
use kukka_storage::{bus, outbox};
use tokio::sync::watch;

/// Events per `XADD` pipeline.
const BATCH: usize = 512;

/// Runs until `stop` turns true.
pub async fn run(
    tree: sled::Tree,
    mut durable: watch::Receiver<u64>,
    mut redis: RedisConn,
    mut stop: watch::Receiver<bool>,
) {
    while !*stop.borrow() {
        tokio::select! {
            _ = durable.changed() => {}
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            _ = stop.changed() => {}
        }
        // Bounded: at most this many batches per wake-up.
        for _ in 0..1024 {
            let up_to = *durable.borrow();
            let batch = match outbox::pending(&tree, up_to, BATCH) {
                Ok(b) if !b.is_empty() => b,
                _ => break,
            };
            let events: Vec<_> = batch.iter().map(|(_, e)| e.clone()).collect();
            // The order node's outbox: its events go to the order streams.
            if bus::publish(
                &mut redis,
                bus::Partitions::default(),
                "order",
                &events,
                Default::default(),
            )
            .await
            .is_err()
            {
                break;
            }
            let keys: Vec<_> = batch.into_iter().map(|(k, _)| k).collect();
            if outbox::remove(&tree, &keys).is_err() {
                break;
            }
        }
    }
}
