//! The transactional outbox.
//!
//! A node stages its events in the `outbox` tree *inside the same sled
//! transaction* as the state change they describe, so either both are
//! written or neither is. A relay (`kukka_actors::runtime::relay`) later
//! reads the outbox in key order, up to the committer's durable watermark
//! (never an entry that is not on disk yet), appends the events to Redis
//! and only then removes them. A crash between the append and the removal
//! re-publishes on restart; consumers are idempotent, so applying an event
//! twice changes nothing.

use serde::{Deserialize, Serialize};
use sled::transaction::TransactionalTree;

use crate::{
    committer::TxResult,
    sled_store::{decode, encode},
    StorageError,
};

/// Name of the outbox tree.
pub const OUTBOX_TREE: &str = "outbox";

/// One event as it travels through the outbox and the stream.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamEvent {
    /// Globally unique event id (for tracing an event through the system).
    pub event_id: String,
    /// The event's type name (`OrderPlaced`, ...).
    pub kind: String,
    /// The whole envelope as JSON.
    pub data: String,
    /// What chooses its partition of the stream (the order id), so all the
    /// events of one order are in one partition, in order.
    #[serde(default)]
    pub partition_key: String,
}

/// Stages `event` in the outbox tree, inside a transaction. Its key comes
/// from the database's id generator, so keys increase in commit order.
pub fn stage(outbox: &TransactionalTree, event: &StreamEvent) -> TxResult<()> {
    let seq = outbox.generate_id()?;
    outbox.insert(&seq.to_be_bytes(), encode(event))?;
    Ok(())
}

/// Up to `limit` staged events with keys at or below `durable` (the
/// committer's watermark), oldest first, with their outbox keys.
pub fn pending(
    outbox: &sled::Tree,
    durable: u64,
    limit: usize,
) -> Result<Vec<(sled::IVec, StreamEvent)>, StorageError> {
    let mut out = Vec::new();
    for item in outbox.range(..=durable.to_be_bytes()).take(limit) {
        let (key, value) = item?;
        let event = decode(&key, &value)?;
        out.push((key, event));
    }
    Ok(out)
}

/// Removes published entries, one by one: a batch would force a synced log
/// write, and losing a removal in a crash only publishes the event again.
pub fn remove(outbox: &sled::Tree, keys: &[sled::IVec]) -> Result<(), StorageError> {
    for key in keys {
        outbox.remove(key)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sled_store::SledStore;

    fn ev(i: u32) -> StreamEvent {
        StreamEvent {
            event_id: format!("e{i}"),
            kind: "K".into(),
            data: "{}".into(),
            partition_key: String::new(),
        }
    }

    #[tokio::test]
    async fn staged_events_come_back_in_order_up_to_the_watermark_and_leave_when_removed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SledStore::open(dir.path()).expect("open");
        let (outbox, id) = store.tree(OUTBOX_TREE).expect("tree");
        for i in 0..3 {
            store
                .commit(move |tx| stage(tx.tree(id), &ev(i)))
                .await
                .expect("commit");
        }
        let durable = *store.durable_outbox().borrow();
        let got = pending(&outbox, durable, 10).expect("pending");
        let ids: Vec<_> = got.iter().map(|(_, e)| e.event_id.as_str()).collect();
        assert_eq!(ids, ["e0", "e1", "e2"]);
        let below = crate::committer::key_of(&got[1].0);
        assert_eq!(pending(&outbox, below, 10).expect("pending").len(), 2);
        remove(&outbox, &[got[0].0.clone(), got[1].0.clone()]).expect("remove");
        let left = pending(&outbox, durable, 10).expect("pending");
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].1.event_id, "e2");
    }

    #[tokio::test]
    async fn a_change_that_aborts_stages_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SledStore::open(dir.path()).expect("open");
        let (outbox, id) = store.tree(OUTBOX_TREE).expect("tree");
        let result: Result<(), _> = store
            .commit(move |tx| {
                stage(tx.tree(id), &ev(1))?;
                Err(sled::transaction::ConflictableTransactionError::Abort(
                    StorageError::Corrupt {
                        key: "k".into(),
                        reason: "the change gave up".into(),
                    },
                ))
            })
            .await;
        assert!(result.is_err());
        assert!(outbox.is_empty());
    }
}
