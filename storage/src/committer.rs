//! Group commit: every writer waiting is committed in one sled transaction,
//! and one `fsync` makes many transactions durable.
//!
//! In sled 0.34 each `transaction()` (and `apply_batch`) forces a log write
//! of its own, so writers that each run a transaction and then wait for a
//! shared flush still pay one synced write apiece. Here a writer hands its
//! change to the **committer** as a [`Tx`] closure; the committer thread
//! takes every change waiting, runs them all in *one* transaction over the
//! store's trees, then makes the batch durable with one blocking
//! `Db::flush()` (sled's `flush_async` deadlocks under concurrency:
//! `shared/notes/storage.md`). The changes that arrive during a flush form
//! the next batch.
//!
//! A flush costs more than its sync: sled hands the sealed log buffer to
//! its IO thread pool, whose `notify_all` wakes every idle thread of the
//! pool (seven), one context switch each, to have one of them write it.
//! That is most of the order and payment nodes' context switches under
//! load (`benches/README.md`, "Sixth sitting"). Waiting a little for more
//! writers before each batch (fewer, larger flushes) was measured and did
//! not pay: CPU per order stayed within the noise, and a 1 ms wait cost
//! closed-loop throughput.
//!
//! A writer's future resolves only once its change is on disk. Changes in
//! one batch see each other (a later one in the batch finds a key an
//! earlier one wrote), exactly as if they had run one after the other. A
//! change must not have side effects outside its transaction: sled may run
//! it again after a conflict. It refuses by returning a value (writing
//! nothing), never by aborting, because an abort fails the whole batch.
//!
//! After each flush the committer publishes the **durable outbox
//! watermark**: the highest outbox key known to be on disk. The relay only
//! publishes entries at or below it, so an event never reaches Redis
//! before the state change it describes is durable. sled's own background
//! flush is off: every flush is ours, so nothing becomes durable without
//! the watermark knowing.
//!
//! A failed flush poisons the store: its writers get an error, nothing
//! after it is acknowledged or published in this process, and
//! [`Committer::failed`] tells the node, which exits so that it restarts
//! from what the disk holds.

use std::{
    cell::RefCell,
    sync::{
        atomic::{AtomicBool, AtomicU32, Ordering},
        Arc, RwLock,
    },
    time::Duration,
};

use sled::{
    transaction::{ConflictableTransactionResult, TransactionError, TransactionalTree},
    Transactional,
};
use tokio::sync::{mpsc, oneshot, watch};

use crate::StorageError;

/// Index of a tree in the store's transactions (see
/// [`crate::sled_store::SledStore::tree`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TreeId(pub(crate) usize);

/// A change's view of the store inside the batch's transaction.
pub struct Tx<'a> {
    trees: &'a [TransactionalTree],
}

impl Tx<'_> {
    /// The tree `id`, as seen inside the transaction.
    pub fn tree(&self, id: TreeId) -> &TransactionalTree {
        &self.trees[id.0]
    }
}

/// What a change returns inside the transaction.
pub type TxResult<T> = ConflictableTransactionResult<T, StorageError>;

/// Largest number of changes in one transaction.
const MAX_BATCH: usize = 512;

trait Job: Send {
    /// Runs the change inside the batch's transaction (again after a
    /// conflict), keeping its result.
    fn run(&mut self, tx: &Tx<'_>) -> TxResult<()>;
    /// Answers the writer once the batch is durable, or failed.
    fn finish(self: Box<Self>, durable: Result<(), StorageError>);
}

struct Change<R, F> {
    op: F,
    result: Option<R>,
    reply: oneshot::Sender<Result<R, StorageError>>,
}

impl<R, F> Job for Change<R, F>
where
    R: Send,
    F: Fn(&Tx<'_>) -> TxResult<R> + Send,
{
    fn run(&mut self, tx: &Tx<'_>) -> TxResult<()> {
        self.result = Some((self.op)(tx)?);
        Ok(())
    }

    fn finish(self: Box<Self>, durable: Result<(), StorageError>) {
        let answer = match (durable, self.result) {
            (Ok(()), Some(r)) => Ok(r),
            (Ok(()), None) => Err(StorageError::Transaction("a change left no result".into())),
            (Err(e), _) => Err(e),
        };
        let _ = self.reply.send(answer);
    }
}

/// Test hooks on the flusher (armed through a node's test faults).
#[derive(Debug, Default)]
struct FlushHooks {
    /// Flushes wait while this is set.
    hold: AtomicBool,
    /// This many flushes fail.
    fail: AtomicU32,
}

/// The committer of one sled database.
#[derive(Clone)]
pub struct Committer {
    jobs: mpsc::UnboundedSender<Box<dyn Job>>,
    durable: watch::Receiver<u64>,
    failed: watch::Receiver<Option<String>>,
    hooks: Arc<FlushHooks>,
}

impl std::fmt::Debug for Committer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Committer")
            .field("durable", &*self.durable.borrow())
            .finish()
    }
}

impl Committer {
    /// Starts the committer and flusher threads of `db`. Transactions span
    /// the trees in `trees` (trees may be added later); `outbox` is the
    /// tree whose highest durable key is published.
    pub(crate) fn start(
        db: sled::Db,
        trees: Arc<RwLock<Vec<sled::Tree>>>,
        outbox: sled::Tree,
    ) -> Result<Self, StorageError> {
        let (jobs_tx, jobs_rx) = mpsc::unbounded_channel();
        let recovered = last_key(&outbox)?;
        let (durable_tx, durable) = watch::channel(recovered);
        let (failed_tx, failed) = watch::channel(None);
        let hooks = Arc::new(FlushHooks::default());
        let flusher = Flusher {
            durable: durable_tx,
            failed: failed_tx,
            hooks: hooks.clone(),
            poisoned: None,
        };
        std::thread::Builder::new()
            .name("sled-committer".into())
            .spawn(move || commit_loop(db, jobs_rx, trees, outbox, flusher))
            .map_err(|e| StorageError::Transaction(format!("cannot start the committer: {e}")))?;
        Ok(Self {
            jobs: jobs_tx,
            durable,
            failed,
            hooks,
        })
    }

    /// Commits `op` with whatever else is waiting, and resolves once it is
    /// durable (see the module docs for what `op` may do).
    pub async fn commit<R, F>(&self, op: F) -> Result<R, StorageError>
    where
        R: Send + 'static,
        F: Fn(&Tx<'_>) -> TxResult<R> + Send + 'static,
    {
        if let Some(reason) = self.failed.borrow().clone() {
            return Err(StorageError::Poisoned(reason));
        }
        let (reply, answer) = oneshot::channel();
        let job: Box<dyn Job> = Box::new(Change {
            op,
            result: None,
            reply,
        });
        self.jobs
            .send(job)
            .map_err(|_| StorageError::FlusherStopped)?;
        answer.await.map_err(|_| StorageError::FlusherStopped)?
    }

    /// The highest outbox key known to be on disk, and its changes.
    pub fn durable_outbox(&self) -> watch::Receiver<u64> {
        self.durable.clone()
    }

    /// Resolves with the reason once a flush has failed (the store is
    /// poisoned and the node should restart).
    pub async fn failed(&self) -> String {
        let mut failed = self.failed.clone();
        let reason = match failed.wait_for(Option::is_some).await {
            Ok(reason) => reason.clone().unwrap_or_default(),
            Err(_) => "the flusher stopped".into(),
        };
        reason
    }

    /// Test fault: flushes wait (never return) from now on, as if the disk
    /// hung, so committed changes stay in memory only.
    pub fn hold_flushes(&self) {
        self.hooks.hold.store(true, Ordering::SeqCst);
    }

    /// Test fault: the next `n` flushes fail, as if the disk refused them.
    pub fn fail_flushes(&self, n: u32) {
        self.hooks.fail.store(n, Ordering::SeqCst);
    }
}

fn last_key(outbox: &sled::Tree) -> Result<u64, StorageError> {
    Ok(outbox.last()?.map(|(k, _)| key_of(&k)).unwrap_or(0))
}

/// A big-endian u64 key.
pub(crate) fn key_of(bytes: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    let n = bytes.len().min(8);
    b[8 - n..].copy_from_slice(&bytes[..n]);
    u64::from_be_bytes(b)
}

fn commit_loop(
    db: sled::Db,
    mut jobs: mpsc::UnboundedReceiver<Box<dyn Job>>,
    trees: Arc<RwLock<Vec<sled::Tree>>>,
    outbox: sled::Tree,
    flusher: Flusher,
) {
    let mut flusher = flusher;
    while let Some(first) = jobs.blocking_recv() {
        // Everything that arrived while the last batch was being flushed.
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        if let Some(reason) = &flusher.poisoned {
            fail_all_poisoned(batch, reason);
            continue;
        }
        let trees = match trees.read() {
            Ok(t) => t.clone(),
            Err(_) => {
                fail_all(batch, "the tree registry is poisoned");
                continue;
            }
        };
        let pending = RefCell::new(batch);
        let result = Transactional::<StorageError>::transaction(&trees[..], |view| {
            let tx = Tx { trees: view };
            for job in pending.borrow_mut().iter_mut() {
                job.run(&tx)?;
            }
            Ok(())
        });
        let batch = pending.into_inner();
        match result
            .map_err(StorageError::from)
            .and_then(|()| last_key(&outbox))
        {
            Ok(outbox_high) => flusher.flush(&db, batch, outbox_high),
            Err(e) => {
                tracing::error!(error = %e, "a batch of changes failed to commit");
                for job in batch {
                    job.finish(Err(StorageError::Transaction(e.to_string())));
                }
            }
        }
    }
}

fn fail_all(batch: Vec<Box<dyn Job>>, reason: &str) {
    for job in batch {
        job.finish(Err(StorageError::Transaction(reason.into())));
    }
}

/// Makes committed batches durable and publishes the watermark.
struct Flusher {
    durable: watch::Sender<u64>,
    failed: watch::Sender<Option<String>>,
    hooks: Arc<FlushHooks>,
    poisoned: Option<String>,
}

impl Flusher {
    fn flush(&mut self, db: &sled::Db, jobs: Vec<Box<dyn Job>>, outbox_high: u64) {
        while self.hooks.hold.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(10));
        }
        let injected = self
            .hooks
            .fail
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        let result = if injected {
            Err("injected fault: the disk refused the flush".to_string())
        } else {
            db.flush().map(|_| ()).map_err(|e| e.to_string())
        };
        match result {
            Ok(()) => {
                self.durable.send_if_modified(|w| {
                    let moved = outbox_high > *w;
                    *w = (*w).max(outbox_high);
                    moved
                });
                for job in jobs {
                    job.finish(Ok(()));
                }
            }
            Err(reason) => {
                tracing::error!(%reason, "sled flush failed: nothing more is acknowledged or published");
                let reason = format!("flush failed: {reason}");
                fail_all_poisoned(jobs, &reason);
                let _ = self.failed.send(Some(reason.clone()));
                self.poisoned = Some(reason);
            }
        }
    }
}

fn fail_all_poisoned(jobs: Vec<Box<dyn Job>>, reason: &str) {
    for job in jobs {
        job.finish(Err(StorageError::Poisoned(reason.into())));
    }
}

impl From<TransactionError<StorageError>> for StorageError {
    fn from(e: TransactionError<StorageError>) -> Self {
        match e {
            TransactionError::Abort(inner) => inner,
            TransactionError::Storage(s) => StorageError::Sled(s),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::{outbox, outbox::StreamEvent, sled_store::SledStore};

    fn ev(i: u32) -> StreamEvent {
        StreamEvent {
            event_id: format!("e{i}"),
            kind: "K".into(),
            data: "{}".into(),
            partition_key: String::new(),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn many_concurrent_writers_all_complete_durably_and_see_each_other() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SledStore::open(dir.path()).expect("open");
        let (things, id) = store.tree("things").expect("tree");
        let outbox_id = store.outbox_id();
        let mut tasks = Vec::new();
        for i in 0..64u32 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                store
                    .commit(move |tx| {
                        // Every writer claims the same key; one wins.
                        let first = tx.tree(id).insert(b"claim".as_slice(), &i.to_be_bytes())?;
                        tx.tree(id).insert(&i.to_be_bytes(), vec![1u8; 512])?;
                        outbox::stage(tx.tree(outbox_id), &ev(i))?;
                        Ok(first.is_none())
                    })
                    .await
            }));
        }
        let mut winners = 0;
        for t in tasks {
            if t.await.expect("join").expect("commit") {
                winners += 1;
            }
        }
        assert_eq!(winners, 1, "later changes see the earlier ones' writes");
        assert_eq!(things.len(), 65);
        // The watermark covers every staged event once its writer was
        // answered.
        let durable = *store.durable_outbox().borrow();
        let (outbox, _) = store.tree(outbox::OUTBOX_TREE).expect("outbox");
        assert_eq!(
            outbox::pending(&outbox, durable, 100)
                .expect("pending")
                .len(),
            64
        );
    }

    #[tokio::test]
    async fn a_failed_flush_acknowledges_nothing_publishes_nothing_and_poisons_the_store() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SledStore::open(dir.path()).expect("open");
        let outbox_id = store.outbox_id();
        store
            .commit(move |tx| outbox::stage(tx.tree(outbox_id), &ev(1)))
            .await
            .expect("a healthy commit");
        let before = *store.durable_outbox().borrow();
        store.committer().fail_flushes(1);
        let failed = store
            .commit(move |tx| outbox::stage(tx.tree(outbox_id), &ev(2)))
            .await;
        assert!(
            matches!(failed, Err(crate::StorageError::Poisoned(_))),
            "{failed:?}"
        );
        assert_eq!(
            *store.durable_outbox().borrow(),
            before,
            "the watermark does not move past the failed flush"
        );
        let reason = store.committer().failed().await;
        assert!(reason.contains("injected"), "{reason}");
        let later = store
            .commit(move |tx| outbox::stage(tx.tree(outbox_id), &ev(3)))
            .await;
        assert!(later.is_err(), "a poisoned store takes no more changes");
        assert_eq!(*store.durable_outbox().borrow(), before);
    }
}
