//! The crate's error type.

use std::path::PathBuf;

/// What can stop a bench run or the baseline server.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// A flag made no sense.
    #[error("{0}")]
    Usage(String),
    /// The HTTP client could not be built.
    #[error("http client: {0}")]
    Client(#[from] reqwest::Error),
    /// A file or process operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// Why it failed.
        source: std::io::Error,
    },
    /// JSON could not be written.
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
    /// The `kukka` binary was not found.
    #[error("cannot find the kukka binary at {0} (build it, or pass --kukka PATH)")]
    KukkaNotFound(PathBuf),
    /// The spawned system did not become ready.
    #[error("{0}")]
    NotReady(String),
    /// Storage (sled) failed in the baseline.
    #[error("storage: {0}")]
    Storage(#[from] kukka_storage::StorageError),
    /// Redis failed in the baseline.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// Seeding orders for a read scenario failed.
    #[error("seeding: {0}")]
    Seed(String),
    /// A worker task died.
    #[error("a load task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
}

impl BenchError {
    /// An I/O error with context.
    pub fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            what: what.into(),
            source,
        }
    }
}
