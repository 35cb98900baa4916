//! The order context: customers' orders, established only when paid.
//!
//! - [`id`]: [`id::OrderId`], `<shard>-<seq>`, parsed once.
//! - [`customer`]: [`customer::CustomerId`], who placed an order.
//! - [`catalog`]: the boxes for sale and their prices.
//! - [`model`]: the aggregate ([`model::Order`], [`model::OrderLine`],
//!   [`model::OrderStatus`]) and its rules, no I/O.
//! - [`new_order`]: parsing a request body into a valid
//!   [`new_order::NewOrder`] (the catalog's price, the original clients'
//!   leniency).
//! - [`idempotency`]: `Idempotency-Key`s: their scope, one request per key
//!   at a time, expiry and the sweeper that forgets them.
//! - [`messages`]: what the order shard accepts over the cluster.
//! - [`shard`]: the order shard actor and its store.
//! - [`place`]: the place saga (pay through the bulkhead, then commit);
//!   [`cancel`]: the cancel saga.
//! - [`bulkhead`]: the actor that guards the payment call (timeout,
//!   concurrency limit, circuit breaker); [`breaker`]: the breaker's state
//!   machine.
//! - [`on_events`]: the cancel saga's forward recovery, and the shard's
//!   consumer group.

pub mod breaker;
pub mod bulkhead;
pub mod cancel;
pub mod catalog;
pub mod customer;
pub mod id;
pub mod idempotency;
pub mod messages;
pub mod model;
pub mod new_order;
pub mod on_events;
pub mod place;
pub mod shard;
