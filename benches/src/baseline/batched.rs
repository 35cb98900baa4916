//! A prototype of a cheaper transactional outbox on sled 0.34: group commit
//! at the transaction level.
//!
//! In sled 0.34 every `transaction()` and `apply_batch()` takes a
//! process-wide exclusive lock and rolls the log's IO buffer (`pin_log`),
//! which costs a synchronous log write (`pwrite` + `sync_file_range`) per
//! call. One transaction per row therefore makes every row pay for its
//! own log writes, however well the later flushes are shared. Here one
//! writer task takes every row waiting, commits them all in *one*
//! transaction on a blocking thread (each row with its secondary key and
//! outbox entry, exactly as `AggregateRepo::insert` does), then waits for
//! one group-commit flush and answers them all. Rows keep their atomicity
//! (row, key and event are in the same transaction) and durability (no
//! answer before the flush).

use kukka_storage::{
    outbox::{StreamEvent, OUTBOX_TREE},
    sled_store::{encode, SledStore},
    StorageError,
};
use sled::{transaction::ConflictableTransactionError, Transactional};
use tokio::sync::{mpsc, oneshot};

use crate::BenchError;

/// Most rows committed in one transaction.
pub const MAX_BATCH: usize = 256;

/// Which aggregate a row belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A payment.
    Payment,
    /// An order.
    Order,
}

impl Kind {
    fn prefix(self) -> u8 {
        match self {
            Self::Payment => b'p',
            Self::Order => b'o',
        }
    }
}

/// One row to store with its event.
#[derive(Clone, Debug)]
pub struct Row {
    /// Aggregate kind.
    pub kind: Kind,
    /// Sequence number (the record's key).
    pub seq: u64,
    /// Unique secondary key; if taken, nothing is written.
    pub key: Option<String>,
    /// The record.
    pub value: Vec<u8>,
    /// Its event, staged in the outbox.
    pub event: StreamEvent,
}

type Reply = oneshot::Sender<Result<bool, String>>;

#[derive(Clone)]
struct Trees {
    records: sled::Tree,
    by_key: sled::Tree,
    outbox: sled::Tree,
}

/// Handle to the writer task.
#[derive(Clone)]
pub struct Writer {
    requests: mpsc::UnboundedSender<(Row, Reply)>,
    store: SledStore,
    outbox: sled::Tree,
}

impl Writer {
    /// Opens the trees and starts the writer task.
    pub fn spawn(store: &SledStore) -> Result<Self, BenchError> {
        let trees = Trees {
            records: store.tree("batched.records")?,
            by_key: store.tree("batched.by")?,
            outbox: store.tree(&format!("batched.{OUTBOX_TREE}"))?,
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let outbox = trees.outbox.clone();
        tokio::spawn(run(trees, store.clone(), rx));
        Ok(Self {
            requests: tx,
            store: store.clone(),
            outbox,
        })
    }

    /// The outbox tree (for the relay).
    pub fn outbox(&self) -> &sled::Tree {
        &self.outbox
    }

    /// A fresh sequence number.
    pub fn next_seq(&self) -> Result<u64, BenchError> {
        Ok(self.store.next_id()?)
    }

    /// Stores `row` durably; `false` if its secondary key was taken.
    pub async fn write(&self, row: Row) -> Result<bool, BenchError> {
        let (tx, rx) = oneshot::channel();
        self.requests
            .send((row, tx))
            .map_err(|_| BenchError::Storage(StorageError::FlusherStopped))?;
        match rx.await {
            Ok(Ok(inserted)) => Ok(inserted),
            Ok(Err(reason)) => Err(BenchError::Storage(StorageError::Transaction(reason))),
            Err(_) => Err(BenchError::Storage(StorageError::FlusherStopped)),
        }
    }
}

async fn run(trees: Trees, store: SledStore, mut rx: mpsc::UnboundedReceiver<(Row, Reply)>) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(more) => batch.push(more),
                Err(_) => break,
            }
        }
        let (rows, replies): (Vec<Row>, Vec<Reply>) = batch.into_iter().unzip();
        let t = trees.clone();
        let committed = match tokio::task::spawn_blocking(move || commit(&t, &rows)).await {
            Ok(r) => r,
            Err(e) => Err(e.to_string()),
        };
        let result = match committed {
            Ok(inserted) => match store.flush().await {
                Ok(()) => Ok(inserted),
                Err(e) => Err(e.to_string()),
            },
            Err(e) => Err(e),
        };
        match result {
            Ok(inserted) => {
                for (reply, ok) in replies.into_iter().zip(inserted) {
                    let _ = reply.send(Ok(ok));
                }
            }
            Err(e) => {
                for reply in replies {
                    let _ = reply.send(Err(e.clone()));
                }
            }
        }
    }
}

/// Commits `rows` in one transaction; per row, whether it was inserted.
fn commit(t: &Trees, rows: &[Row]) -> Result<Vec<bool>, String> {
    let result = (&t.records, &t.by_key, &t.outbox).transaction(|(records, by_key, outbox)| {
        let mut inserted = Vec::with_capacity(rows.len());
        for row in rows {
            let mut rec_key = vec![row.kind.prefix()];
            rec_key.extend_from_slice(&row.seq.to_be_bytes());
            if let Some(k) = &row.key {
                let mut sk = vec![row.kind.prefix()];
                sk.extend_from_slice(k.as_bytes());
                if by_key.get(&sk)?.is_some() {
                    inserted.push(false);
                    continue;
                }
                by_key.insert(sk, &row.seq.to_be_bytes())?;
            }
            records.insert(rec_key, row.value.as_slice())?;
            let id = outbox.generate_id()?;
            outbox.insert(&id.to_be_bytes(), encode(&row.event))?;
            inserted.push(true);
        }
        Ok::<_, ConflictableTransactionError<()>>(inserted)
    });
    result.map_err(|e| format!("{e:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(kind: Kind, seq: u64, key: Option<&str>) -> Row {
        Row {
            kind,
            seq,
            key: key.map(str::to_string),
            value: b"{}".to_vec(),
            event: StreamEvent {
                event_id: format!("e{seq}"),
                kind: "K".into(),
                data: "{}".into(),
            },
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_rows_are_stored_with_their_events_and_keys_stay_unique() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SledStore::open(dir.path()).expect("open");
        let writer = Writer::spawn(&store).expect("writer");
        let mut tasks = Vec::new();
        for i in 0..64u64 {
            let w = writer.clone();
            tasks.push(tokio::spawn(async move {
                w.write(row(Kind::Payment, i, Some(&format!("k{}", i % 32))))
                    .await
            }));
        }
        let mut inserted = 0;
        for t in tasks {
            if t.await.expect("join").expect("write") {
                inserted += 1;
            }
        }
        assert_eq!(inserted, 32, "one row per secondary key");
        assert_eq!(writer.outbox().len(), 32, "one event per stored row");
        assert!(writer
            .write(row(Kind::Order, 99, None))
            .await
            .expect("write"));
        assert_eq!(writer.outbox().len(), 33);
    }
}
