//! The baseline's outbox relay: publishes staged events oldest first and
//! removes them once Redis has them, like the cluster's relay actor (woken
//! after each commit and every 500 ms).

use std::{sync::Arc, time::Duration};

use kukka_storage::{bus, outbox};
use redis::aio::ConnectionManager;
use tokio::sync::{watch, Notify};

/// Events per `XADD` pipeline.
const BATCH: usize = 512;

/// How published entries leave the outbox.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Removal {
    /// One atomic `apply_batch`, as the cluster's relay does.
    Batch,
    /// One `remove` per key (no atomicity is needed: a crash in between
    /// only republishes, and consumers deduplicate).
    EachKey,
}

/// Runs until `stop` turns true.
pub async fn run(
    tree: sled::Tree,
    mut redis: ConnectionManager,
    kick: Arc<Notify>,
    mut stop: watch::Receiver<bool>,
    removal: Removal,
) {
    while !*stop.borrow() {
        tokio::select! {
            _ = kick.notified() => {}
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            _ = stop.changed() => {}
        }
        // Bounded: at most this many batches per wake-up.
        for _ in 0..1024 {
            let batch = match outbox::pending(&tree, BATCH) {
                Ok(b) if !b.is_empty() => b,
                _ => break,
            };
            let events: Vec<_> = batch.iter().map(|(_, e)| e.clone()).collect();
            if bus::publish(&mut redis, bus::EVENTS_STREAM, &events)
                .await
                .is_err()
            {
                break;
            }
            let keys: Vec<_> = batch.into_iter().map(|(k, _)| k).collect();
            let removed = match removal {
                Removal::Batch => outbox::remove(&tree, &keys).is_ok(),
                Removal::EachKey => keys.iter().all(|k| tree.remove(k).is_ok()),
            };
            if !removed {
                break;
            }
        }
    }
}
