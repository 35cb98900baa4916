//! What the bounded contexts share: how actors are found, called, served,
//! supervised and fed with events.
//!
//! - [`groups`]: the [`groups::Namespace`] of a system (process-group scope
//!   and registered-name prefix), the process group names, and picking a
//!   member.
//! - [`rpc`]: calls with a deadline; [`wire`]: the JSON codec for message
//!   fields (a bad frame becomes an error reply, not a panic);
//!   [`error`]: [`error::ServiceError`], the error every reply can carry;
//!   [`validate`]: the rules every request is checked against by the node
//!   that receives it.
//! - [`drain`]: per-request tasks, in-flight counting and draining at
//!   shutdown.
//! - [`supervisor`]: the root supervisor (restart with backoff, escalation).
//! - [`relay`]: the outbox relay (sled → Redis stream).
//! - [`consumer`]: consumer-group readers of the stream, generic over an
//!   [`consumer::EventHandler`], with typed handler errors; [`retry`]: when
//!   a failing event is tried again and when it is dead-lettered;
//!   [`retention`]: the actor that trims the streams.
//! - [`paging`]: one page of a shard's records.
//! - [`presence`]: the edge's marker in the edge process group.
//! - [`role`]: what a node is ([`role::Role`]), named by events and by
//!   the cluster certificates.
//! - [`faults`]: test-only fault injection (off unless enabled);
//!   [`latency`]: the injected latency of the circuit-breaker experiment.
//! - [`metrics`]: the Prometheus metrics (prometheus-client); [`clock`]: RFC 3339
//!   timestamps.

pub mod clock;
pub mod consumer;
pub mod drain;
pub mod error;
pub mod faults;
pub mod groups;
pub mod latency;
pub mod metrics;
pub mod paging;
pub mod presence;
pub mod relay;
pub mod retention;
pub mod retry;
pub mod role;
pub mod rpc;
pub mod supervisor;
pub mod validate;
pub mod wire;
