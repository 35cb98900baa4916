//! # kukka-storage
//!
//! The persistence layer under kukka's actors. Nothing here knows about
//! orders or payments: it stores bytes and JSON the domain hands it.
//!
//! Layout:
//! - [`error`]: the crate's error type, [`StorageError`].
//! - [`sled_store`]: a sled database on the node's own volume, written
//!   through its [`committer::Committer`].
//! - [`committer`]: group commit: every writer waiting goes into one sled
//!   transaction, one `fsync` serves many transactions, and the durable
//!   outbox watermark says what the relay may publish.
//! - [`aggregate_repo`]: a generic sled repository for one aggregate kind:
//!   records by sequence number, an optional secondary key, and atomic
//!   read-modify-write that stages events in the outbox.
//! - [`outbox`]: the transactional outbox: a state change and its events are
//!   written in one sled transaction, and a relay later moves them to Redis.
//! - [`redis_conn`]: opening Redis connections with explicit timeouts.
//! - [`bus`]: the Redis Streams event bus (append, consumer groups, ack,
//!   reclaim).
//! - [`retention`]: trimming the streams below what every consumer group
//!   acknowledged, keeping the retention period.
//! - [`dead_letters`]: listing and redriving parked events.
//! - [`views`]: read models and Redis-held aggregates as hashes, merged by an
//!   atomic Lua script so that applying an update twice, or out of order,
//!   ends in the same state.
//! - [`page`]: the cursor/limit pair every list endpoint takes.

pub mod aggregate_repo;
pub mod bus;
pub mod committer;
pub mod dead_letters;
pub mod error;
pub mod outbox;
pub mod page;
pub mod redis_conn;
pub mod retention;
pub mod sled_store;
pub mod views;

pub use error::StorageError;
