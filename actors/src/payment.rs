//! The payment context: one charge per established order, refunded when the
//! order is cancelled and voided when it was never established.
//!
//! - [`model`]: the aggregate ([`model::Payment`], [`model::PaymentStatus`]).
//! - [`messages`]: what the payment shard accepts over the cluster.
//! - [`shard`]: the payment shard actor and its ledger (charge, refund,
//!   void, settle).
//! - [`reconciler`]: voids charges whose order never committed.
//! - [`on_events`]: refunds, voids and settlements driven by order events,
//!   and the shard's consumer group.

pub mod messages;
pub mod model;
pub mod on_events;
pub mod reconciler;
pub mod shard;
