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

/// Moves the delivery of `order_id` to `to` from one of `to`'s allowed
/// statuses; with `create`, creates it in status `to` instead (if it does
/// not exist yet), stamped with that creation time.
pub async fn change(
    conn: &mut ConnectionManager,
    correlation_id: &str,
    order_id: OrderId,
    to: DeliveryStatus,
    create: Option<&str>,
) -> Result<TransitionOutcome, StorageError> {
    let event = Envelope::new(
        correlation_id,
        order_id,
        EventBody::DeliveryChanged { status: to },
    );
    let creating = create.is_some();
    let from: Vec<&str> = if creating {
        Vec::new()
    } else {
        to.allowed_from().iter().map(|s| s.as_str()).collect()
    };
    let created_at = create.unwrap_or_default();
    let id = order_id.to_string();
    let key = delivery_key(&id);
    let member = index_member(created_at, &id);
    let fields = [
        ("orderId", id.clone()),
        ("createdAt", created_at.to_string()),
    ];
    views::transition(
        conn,
        &Transition {
            key: &key,
            index: DELIVERY_INDEX,
            index_member: &member,
            to: to.as_str(),
            from: &from,
            updated_at: &event.occurred_at,
            fields: if creating { &fields } else { &[] },
            event: &event.to_stream_event(),
            stream: EVENTS_STREAM,
        },
    )
    .await
}
