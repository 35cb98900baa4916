//! # kukka-actors
//!
//! The domain and the actors of kukka, the flower-subscription shop, one
//! module per bounded context of the original design, plus what they share.
//! Each context holds its aggregate and rules (plain Rust, no I/O), the
//! messages it accepts over the cluster, its actor, and its event handlers
//! with the consumer group each runs in. `docs/ARCHITECTURE.md` follows one
//! order through these files.
//!
//! - [`order`]: orders, established only when paid. The order shard actor,
//!   the place and cancel sagas, the bulkhead that guards the payment call
//!   and its circuit breaker, and the cancel saga's forward recovery.
//! - [`payment`]: one charge per established order. The payment shard
//!   actor and its ledger, the reconciler, refunds and voids on events.
//! - [`delivery`]: the shop owner's side. The delivery desk actor,
//!   deliveries in Redis, paid orders becoming deliveries.
//! - [`views`]: MyPage and OrderDetails (CQRS): the projector and the reads
//!   the edge serves.
//! - [`events`]: the events the contexts publish to each other, and their
//!   envelope.
//! - [`domain_error`]: [`domain_error::DomainError`], a broken rule.
//! - [`runtime`]: what the contexts share: process groups and names, RPC
//!   with deadlines, the wire format, per-request tasks and draining,
//!   supervision, the outbox relay, the stream consumer, metrics, faults.

pub mod delivery;
pub mod domain_error;
pub mod events;
pub mod order;
pub mod payment;
pub mod runtime;
pub mod views;
