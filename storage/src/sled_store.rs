//! A sled database on the node's volume, written through its
//! [`Committer`] (group commit).

use std::{
    collections::HashMap,
    path::Path,
    sync::{Arc, Mutex, RwLock},
};

use serde::{de::DeserializeOwned, Serialize};
use tokio::sync::watch;

use crate::{
    committer::{Committer, TreeId, Tx, TxResult},
    outbox::OUTBOX_TREE,
    StorageError,
};

/// The sled database of one order or payment node.
#[derive(Clone, Debug)]
pub struct SledStore {
    db: sled::Db,
    trees: Arc<RwLock<Vec<sled::Tree>>>,
    ids: Arc<Mutex<HashMap<String, TreeId>>>,
    committer: Committer,
}

impl SledStore {
    /// Opens (or creates) the database under `dir` and starts its
    /// committer. sled's background flush is off: every flush is the
    /// committer's, so nothing becomes durable without it knowing.
    pub fn open(dir: &Path) -> Result<Self, StorageError> {
        let db = sled::Config::new()
            .path(dir)
            .mode(sled::Mode::HighThroughput)
            .flush_every_ms(None)
            .open()?;
        let outbox = db.open_tree(OUTBOX_TREE)?;
        let trees = Arc::new(RwLock::new(vec![outbox.clone()]));
        let ids = Arc::new(Mutex::new(HashMap::from([(
            OUTBOX_TREE.to_string(),
            TreeId(0),
        )])));
        let committer = Committer::start(db.clone(), trees.clone(), outbox)?;
        Ok(Self {
            db,
            trees,
            ids,
            committer,
        })
    }

    /// The raw sled handle.
    pub fn db(&self) -> &sled::Db {
        &self.db
    }

    /// Opens a named tree, which changes may then write to (through
    /// [`SledStore::commit`] and the returned id).
    pub fn tree(&self, name: &str) -> Result<(sled::Tree, TreeId), StorageError> {
        let poisoned = || StorageError::Transaction("the tree registry is poisoned".into());
        let mut ids = self.ids.lock().map_err(|_| poisoned())?;
        let tree = self.db.open_tree(name)?;
        if let Some(id) = ids.get(name) {
            return Ok((tree, *id));
        }
        let mut trees = self.trees.write().map_err(|_| poisoned())?;
        let id = TreeId(trees.len());
        trees.push(tree.clone());
        ids.insert(name.to_string(), id);
        Ok((tree, id))
    }

    /// The outbox tree's id.
    pub fn outbox_id(&self) -> TreeId {
        TreeId(0)
    }

    /// A new id, unique and increasing across restarts of this database.
    pub fn next_id(&self) -> Result<u64, StorageError> {
        Ok(self.db.generate_id()?)
    }

    /// Commits `change` with whatever else is waiting; resolves once it is
    /// on disk (see [`crate::committer`]).
    pub async fn commit<R, F>(&self, change: F) -> Result<R, StorageError>
    where
        R: Send + 'static,
        F: Fn(&Tx<'_>) -> TxResult<R> + Send + 'static,
    {
        self.committer.commit(change).await
    }

    /// The highest outbox key known to be on disk.
    pub fn durable_outbox(&self) -> watch::Receiver<u64> {
        self.committer.durable_outbox()
    }

    /// The committer (for its failure signal and test faults).
    pub fn committer(&self) -> &Committer {
        &self.committer
    }

    /// Flushes synchronously; for shutdown paths.
    pub fn flush_blocking(&self) -> Result<(), StorageError> {
        self.db.flush()?;
        Ok(())
    }
}

/// Encodes a record as JSON bytes.
pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value)
        .expect("our records encode to JSON: plain structs, no maps with non-string keys")
}

/// Decodes a JSON record, naming the key in the error.
pub fn decode<T: DeserializeOwned>(key: &[u8], bytes: &[u8]) -> Result<T, StorageError> {
    serde_json::from_slice(bytes).map_err(|e| StorageError::Corrupt {
        key: String::from_utf8_lossy(key).into_owned(),
        reason: e.to_string(),
    })
}
