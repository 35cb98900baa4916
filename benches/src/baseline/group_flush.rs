//! The plain baseline's group flush: one task makes sled durable for many
//! writers at once (what kukka's storage layer did before it committed
//! writers in shared transactions; kept here so that `--storage plain`
//! stays the same reference).
//!
//! sled 0.34's `flush_async` deadlocks when many tasks await it at once
//! (spacejam/sled#1308). Instead every writer asks this flusher for the
//! *next* flush: the flusher collects all requests that are waiting, runs one
//! blocking `Db::flush()` on the blocking pool, and answers them all. A
//! request that arrives while a flush is running waits for the following one,
//! so an answer always means "everything you wrote before asking is on disk".

use tokio::sync::{mpsc, oneshot};

use kukka_storage::StorageError;

type Waiter = oneshot::Sender<Result<(), String>>;

/// A cheap, cloneable handle to the flusher task.
#[derive(Clone, Debug)]
pub struct Flusher {
    requests: mpsc::UnboundedSender<Waiter>,
}

impl Flusher {
    /// Starts the flusher task for `db`. The task ends when every handle is
    /// dropped.
    pub fn spawn(db: sled::Db) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(db, rx));
        Self { requests: tx }
    }

    /// Waits until everything written before this call is durable.
    pub async fn flush(&self) -> Result<(), StorageError> {
        let (tx, rx) = oneshot::channel();
        self.requests
            .send(tx)
            .map_err(|_| StorageError::FlusherStopped)?;
        match rx.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(reason)) => Err(StorageError::Transaction(format!("flush failed: {reason}"))),
            Err(_) => Err(StorageError::FlusherStopped),
        }
    }
}

async fn run(db: sled::Db, mut rx: mpsc::UnboundedReceiver<Waiter>) {
    let mut batch = Vec::new();
    while let Some(first) = rx.recv().await {
        batch.push(first);
        while let Ok(more) = rx.try_recv() {
            batch.push(more);
        }
        let flushing = db.clone();
        let result = match tokio::task::spawn_blocking(move || flushing.flush()).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(join) => Err(join.to_string()),
        };
        if let Err(reason) = &result {
            eprintln!("kukka-baseline: sled flush failed: {reason}");
        }
        for waiter in batch.drain(..) {
            let _ = waiter.send(result.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn many_concurrent_writers_all_complete_and_are_durable() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = sled::open(dir.path()).expect("open");
        let flusher = Flusher::spawn(db.clone());
        let mut tasks = Vec::new();
        for i in 0..64u32 {
            let db = db.clone();
            let flusher = flusher.clone();
            tasks.push(tokio::spawn(async move {
                db.insert(i.to_be_bytes(), vec![1u8; 512]).expect("insert");
                flusher.flush().await
            }));
        }
        for t in tasks {
            t.await.expect("join").expect("flush");
        }
        // After the last answer, nothing is left unflushed (checked before
        // reading the tree: a read may consolidate pages, which writes).
        assert_eq!(db.flush().expect("flush"), 0);
        assert_eq!(db.len(), 64);
    }
}
