//! # kukka-actors
//!
//! The domain and the actors of kukka, the flower-subscription shop. The
//! domain is plain Rust (no I/O); the actors put it on ractor nodes joined
//! with ractor_cluster and keep it alive under supervisors.
//!
//! Layout:
//! - [`domain`]: order, payment and delivery aggregates, their state
//!   machines, and [`domain::new_order::NewOrder`] validation.
//! - [`events`]: domain events and the envelope (event id, correlation id)
//!   they travel in.
//! - [`protocol`]: what crosses the cluster: process-group names, message
//!   enums of the service actors, payloads, [`protocol::ServiceError`], and
//!   [`protocol::rpc`] (every call has a deadline).
//! - [`wire`]: the JSON codec for message fields that turns a bad frame into
//!   an error reply instead of a panic.
//! - [`remote`]: finding service actors through process groups.
//! - [`order_core`], [`payment_core`], [`delivery_core`]: what each role does,
//!   as plain async functions over its storage.
//! - [`service_actors`]: the cluster-facing actors that serve those
//!   functions concurrently.
//! - [`edge_presence`]: the edge's marker in the edge process group (for
//!   status pages).
//! - [`payment_gateway`]: the bulkhead actor, the order node's single door
//!   to payment (timeout, concurrency limit, circuit breaker).
//! - [`breaker`]: the circuit breaker state machine, plain code with an
//!   explicit clock.
//! - [`reconciler`]: payment reconciliation (voids charges of orders that
//!   were never established).
//! - [`relay`]: the outbox relay (sled → Redis stream).
//! - [`consumer`]: consumer-group readers of the stream, generic over an
//!   [`consumer::EventHandler`].
//! - [`read_models`]: MyPage / OrderDetails projection and the readers of
//!   Redis-held views.
//! - [`supervisor`]: the root supervisor (restart with backoff, escalation).
//! - [`faults`]: test-only fault injection (off unless enabled).
//! - [`metrics`], [`clock`]: Prometheus counters and RFC 3339 timestamps.

pub mod breaker;
pub mod clock;
pub mod consumer;
pub mod delivery_core;
pub mod domain;
pub mod edge_presence;
pub mod events;
pub mod faults;
pub mod metrics;
pub mod order_core;
pub mod payment_core;
pub mod payment_gateway;
pub mod protocol;
pub mod read_models;
pub mod reconciler;
pub mod relay;
pub mod remote;
pub mod service_actors;
pub mod supervisor;
pub mod wire;
