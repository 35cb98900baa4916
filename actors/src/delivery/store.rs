//! Deliveries in Redis: their keys, their JSON shape, and the one atomic
//! transition every change goes through.
//!
//! A delivery is a hash ([`delivery_key`]) listed in [`DELIVERY_INDEX`]. A
//! change is one Lua script (`kukka_storage::views::transition`) that checks
//! the current status against [`DeliveryStatus::allowed_from`], writes the
//! new one and appends the `DeliveryChanged` event to the stream in the same
//! step, so a delivery's state and its event never disagree.

use std::collections::HashMap;

use kukka_storage::{
    bus::EVENTS_STREAM,
    outbox::StreamEvent,
    views::{self, Transition, TransitionOutcome},
    StorageError,
};
use redis::aio::ConnectionManager;
use serde_json::{json, Value};

use super::model::DeliveryStatus;
use crate::{
    events::{Envelope, EventBody},
    order::id::OrderId,
    views::keys::{index_member, text},
};

/// Key prefix of a delivery's hash (`kukka:delivery:<order id>`).
pub const DELIVERY_KEY_PREFIX: &str = "kukka:delivery:";
/// Index of every delivery, by creation time.
pub const DELIVERY_INDEX: &str = "kukka:deliveries";

/// Hash key of an order's delivery.
pub fn delivery_key(order_id: &str) -> String {
    format!("{DELIVERY_KEY_PREFIX}{order_id}")
}

/// A delivery hash as the contract's JSON.
pub fn delivery_json(map: &HashMap<String, String>) -> Option<Value> {
    map.get("orderId")?;
    Some(json!({
        "orderId": text(map, "orderId"),
        "status": text(map, "status"),
        "createdAt": text(map, "createdAt"),
        "updatedAt": text(map, "updatedAt"),
    }))
}

/// A delivery change, ready to send: the new status, the statuses it may
/// come from (none: create it), and the event it appends.
#[derive(Clone, Debug)]
pub struct Change {
    key: String,
    member: String,
    to: DeliveryStatus,
    from: Vec<&'static str>,
    fields: Vec<(&'static str, String)>,
    event: StreamEvent,
    updated_at: String,
}

impl Change {
    /// Moves the delivery of `order_id` to `to` from one of `to`'s allowed
    /// statuses; with `create`, creates it in status `to` instead (if it
    /// does not exist yet), stamped with that creation time.
    pub fn new(
        correlation_id: &str,
        order_id: OrderId,
        to: DeliveryStatus,
        create: Option<&str>,
    ) -> Self {
        let event = Envelope::new(
            correlation_id,
            order_id,
            EventBody::DeliveryChanged { status: to },
        );
        let id = order_id.to_string();
        let created_at = create.unwrap_or_default();
        let (from, fields) = match create {
            Some(_) => (
                Vec::new(),
                vec![
                    ("orderId", id.clone()),
                    ("createdAt", created_at.to_string()),
                ],
            ),
            None => (
                to.allowed_from().iter().map(|s| s.as_str()).collect(),
                Vec::new(),
            ),
        };
        Self {
            key: delivery_key(&id),
            member: index_member(created_at, &id),
            to,
            from,
            fields,
            updated_at: event.occurred_at.clone(),
            event: event.to_stream_event(),
        }
    }

    fn transition(&self) -> Transition<'_> {
        Transition {
            key: &self.key,
            index: DELIVERY_INDEX,
            index_member: &self.member,
            to: self.to.as_str(),
            from: &self.from,
            updated_at: &self.updated_at,
            fields: &self.fields,
            event: &self.event,
            stream: EVENTS_STREAM,
        }
    }
}

/// Applies one change (see [`Change::new`]).
pub async fn change(
    conn: &mut ConnectionManager,
    correlation_id: &str,
    order_id: OrderId,
    to: DeliveryStatus,
    create: Option<&str>,
) -> Result<TransitionOutcome, StorageError> {
    let c = Change::new(correlation_id, order_id, to, create);
    views::transition(conn, &c.transition()).await
}

/// Applies many changes in one round trip, in order; one result each.
pub async fn change_many(
    conn: &mut ConnectionManager,
    changes: &[Change],
) -> Result<Vec<Result<TransitionOutcome, StorageError>>, StorageError> {
    let ts: Vec<_> = changes.iter().map(Change::transition).collect();
    views::transition_many(conn, &ts).await
}
