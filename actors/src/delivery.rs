//! The delivery context: the shop owner's side of a paid order.
//!
//! - [`model`]: [`model::DeliveryStatus`] and its transitions, no I/O.
//! - [`messages`]: what a delivery desk accepts over the cluster.
//! - [`store`]: deliveries in Redis (keys, JSON shape, the atomic
//!   transition that also appends the event).
//! - [`desk`]: the desk actor (the owner's updates, cancel reservations).
//! - [`on_events`]: paid orders become deliveries, refunds cancel them; the
//!   consumer group.

pub mod desk;
pub mod messages;
pub mod model;
pub mod on_events;
pub mod store;
