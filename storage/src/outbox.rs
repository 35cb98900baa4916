//! The transactional outbox.
//!
//! A node stages its events in the `outbox` tree *inside the same sled
//! transaction* as the state change they describe, so either both are
//! written or neither is. A relay (`kukka_actors::runtime::relay`) later reads the
//! outbox in key order, appends the events to Redis and only then removes
//! them. A crash between the append and the removal re-publishes on restart;
//! consumers are idempotent, so applying an event twice changes nothing.

use serde::{Deserialize, Serialize};
use sled::transaction::{ConflictableTransactionError, TransactionalTree};

use crate::{
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
}

/// Stages `event` under `seq` inside a transaction on the outbox tree.
/// `seq` must come from [`crate::sled_store::SledStore::next_id`] so that
/// the outbox keeps commit order.
pub fn stage(
    outbox: &TransactionalTree,
    seq: u64,
    event: &StreamEvent,
) -> Result<(), ConflictableTransactionError<StorageError>> {
    outbox.insert(&seq.to_be_bytes(), encode(event))?;
    Ok(())
}

/// Up to `limit` staged events, oldest first, with their outbox keys.
pub fn pending(
    outbox: &sled::Tree,
    limit: usize,
) -> Result<Vec<(sled::IVec, StreamEvent)>, StorageError> {
    let mut out = Vec::new();
    for item in outbox.iter().take(limit) {
        let (key, value) = item?;
        let event = decode(&key, &value)?;
        out.push((key, event));
    }
    Ok(out)
}

/// Removes published entries.
pub fn remove(outbox: &sled::Tree, keys: &[sled::IVec]) -> Result<(), StorageError> {
    let mut batch = sled::Batch::default();
    for key in keys {
        batch.remove(key.clone());
    }
    outbox.apply_batch(batch)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use sled::Transactional;

    use super::*;

    #[test]
    fn staged_events_come_back_in_order_and_leave_when_removed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = sled::open(dir.path()).expect("open");
        let state = db.open_tree("state").expect("tree");
        let outbox = db.open_tree(OUTBOX_TREE).expect("tree");
        for i in 0..3u64 {
            let ev = StreamEvent {
                event_id: format!("e{i}"),
                kind: "K".into(),
                data: "{}".into(),
            };
            (&state, &outbox)
                .transaction(|(s, o)| {
                    s.insert(&i.to_be_bytes(), b"x".as_slice())?;
                    stage(o, 10 + i, &ev)?;
                    Ok(())
                })
                .map_err(StorageError::from)
                .expect("txn");
        }
        let got = pending(&outbox, 10).expect("pending");
        let ids: Vec<_> = got.iter().map(|(_, e)| e.event_id.as_str()).collect();
        assert_eq!(ids, ["e0", "e1", "e2"]);
        remove(&outbox, &[got[0].0.clone(), got[1].0.clone()]).expect("remove");
        let left = pending(&outbox, 10).expect("pending");
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].1.event_id, "e2");
    }

    #[test]
    fn an_aborted_transaction_stages_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = sled::open(dir.path()).expect("open");
        let state = db.open_tree("state").expect("tree");
        let outbox = db.open_tree(OUTBOX_TREE).expect("tree");
        let ev = StreamEvent {
            event_id: "e".into(),
            kind: "K".into(),
            data: "{}".into(),
        };
        let result: Result<(), _> = (&state, &outbox).transaction(|(s, o)| {
            stage(o, 1, &ev)?;
            s.insert(b"k".as_slice(), b"v".as_slice())?;
            Err(ConflictableTransactionError::Abort(StorageError::Corrupt {
                key: "k".into(),
                reason: "the caller changed its mind".into(),
            }))
        });
        assert!(result.is_err());
        assert!(pending(&outbox, 10).expect("pending").is_empty());
        assert!(state.is_empty());
    }
}
