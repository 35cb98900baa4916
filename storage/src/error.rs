//! Errors of the storage layer.

/// Anything that can go wrong below the domain.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// sled reported an I/O or corruption error.
    #[error("sled: {0}")]
    Sled(#[from] sled::Error),
    /// A sled transaction aborted or failed.
    #[error("sled transaction: {0}")]
    Transaction(String),
    /// Redis could not be reached or answered with an error.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// A stored record could not be decoded.
    #[error("corrupt record {key}: {reason}")]
    Corrupt {
        /// The key of the record.
        key: String,
        /// What was wrong with it.
        reason: String,
    },
    /// The configuration cannot work (e.g. nodes disagree on the number of
    /// event partitions).
    #[error("configuration: {0}")]
    Config(String),
    /// A write reached the Redis master but not enough replicas in time (it
    /// is retried; the master may still lose it in a failover).
    #[error("only {got} of {wanted} replicas acknowledged the write")]
    NotReplicated {
        /// Replicas asked for.
        wanted: u32,
        /// Replicas that had it.
        got: u64,
    },
    /// The committer is gone (the node is shutting down).
    #[error("the committer has stopped")]
    FlusherStopped,
    /// A flush failed earlier: the store takes no more changes in this
    /// process (the node restarts from what the disk holds).
    #[error("the store is poisoned: {0}")]
    Poisoned(String),
}
