//! A sled database on the node's volume, with its group-commit flusher.

use std::path::Path;

use serde::{de::DeserializeOwned, Serialize};

use crate::{group_commit::Flusher, StorageError};

/// The sled database of one order or payment node.
#[derive(Clone, Debug)]
pub struct SledStore {
    db: sled::Db,
    flusher: Flusher,
}

impl SledStore {
    /// Opens (or creates) the database under `dir` and starts its flusher.
    /// Must be called inside a tokio runtime.
    pub fn open(dir: &Path) -> Result<Self, StorageError> {
        let db = sled::Config::new()
            .path(dir)
            .mode(sled::Mode::HighThroughput)
            .open()?;
        let flusher = Flusher::spawn(db.clone());
        Ok(Self { db, flusher })
    }

    /// The raw sled handle.
    pub fn db(&self) -> &sled::Db {
        &self.db
    }

    /// Opens a named tree.
    pub fn tree(&self, name: &str) -> Result<sled::Tree, StorageError> {
        Ok(self.db.open_tree(name)?)
    }

    /// A new id, unique and increasing across restarts of this database.
    pub fn next_id(&self) -> Result<u64, StorageError> {
        Ok(self.db.generate_id()?)
    }

    /// Waits until everything written so far is on disk (group commit).
    pub async fn flush(&self) -> Result<(), StorageError> {
        self.flusher.flush().await
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
