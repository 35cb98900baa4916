//! Deliveries in Redis: their keys, their JSON shape, and the one atomic
//! transition every change goes through.
//!
//! A delivery is a hash ([`delivery_key`]) listed in [`DELIVERY_INDEX`]. A
//! change is one Lua script (`kukka_storage::views::transition`) that checks
//! the current status against [`DeliveryStatus::allowed_from`], writes the
//! new one and appends the `DeliveryChanged` event to the order's partition
//! of the stream in the same step, so a delivery's state and its event never
//! disagree. The hash carries the partition's hash tag, so the script keeps
//! to one slot on a Redis Cluster; a new delivery is then listed in the
//! index by a separate command.

use std::collections::HashMap;

use kukka_storage::{
    bus::Partitions,
    outbox::StreamEvent,
    redis_conn::RedisConn,
    views::{self, Transition, TransitionOutcome},
    StorageError,
};
use serde_json::{json, Value};

use super::model::DeliveryStatus;
use crate::{
    events::{Envelope, EventBody},
    order::id::OrderId,
    runtime::role::Role,
    views::keys::{index_member, text},
};

/// What follows a delivery's partition tag (`kukka:{p<N>}:delivery:<id>`).
pub const DELIVERY_KEY_INFIX: &str = ":delivery:";
/// Index of every delivery, by creation time.
pub const DELIVERY_INDEX: &str = "kukka:deliveries";

/// Hash key of an order's delivery.
pub fn delivery_key(partitions: Partitions, order_id: &str) -> String {
    format!(
        "kukka:{}{DELIVERY_KEY_INFIX}{order_id}",
        partitions.of(order_id).tag()
    )
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
    stream: String,
    member: Option<String>,
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
        partitions: Partitions,
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
        let (from, fields, member) = match create {
            Some(created_at) => (
                Vec::new(),
                vec![
                    ("orderId", id.clone()),
                    ("createdAt", created_at.to_string()),
                ],
                Some(index_member(created_at, &id)),
            ),
            None => (
                to.allowed_from().iter().map(|s| s.as_str()).collect(),
                Vec::new(),
                None,
            ),
        };
        Self {
            key: delivery_key(partitions, &id),
            stream: Role::Delivery.stream(partitions.of(&id)),
            member,
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
            to: self.to.as_str(),
            from: &self.from,
            updated_at: &self.updated_at,
            fields: &self.fields,
            event: &self.event,
            stream: &self.stream,
        }
    }
}

/// Applies one change (see [`Change::new`]).
pub async fn change(
    conn: &mut RedisConn,
    partitions: Partitions,
    correlation_id: &str,
    order_id: OrderId,
    to: DeliveryStatus,
    create: Option<&str>,
) -> Result<TransitionOutcome, StorageError> {
    let c = Change::new(partitions, correlation_id, order_id, to, create);
    let mut results = change_many(conn, std::slice::from_ref(&c)).await?;
    results
        .pop()
        .unwrap_or_else(|| Err(StorageError::Config("a change lost its answer".into())))
}

/// Applies many changes at once, in order within each partition; one result
/// each. Deliveries created are listed in the index afterwards.
pub async fn change_many(
    conn: &mut RedisConn,
    changes: &[Change],
) -> Result<Vec<Result<TransitionOutcome, StorageError>>, StorageError> {
    let ts: Vec<_> = changes.iter().map(Change::transition).collect();
    let results = views::transition_many(conn, &ts).await?;
    let mut listed: Vec<String> = Vec::new();
    for (c, r) in changes.iter().zip(&results) {
        let Some(member) = &c.member else { continue };
        match r {
            Ok(TransitionOutcome::Applied) => listed.push(member.clone()),
            // It existed already: it may have been created by an attempt
            // that died before listing it. Listing again is harmless, under
            // the member its own creation time gives.
            Ok(TransitionOutcome::Unchanged { .. }) => {
                let created_at: Option<String> = redis::cmd("HGET")
                    .arg(&c.key)
                    .arg("createdAt")
                    .query_async(conn)
                    .await?;
                if let (Some(at), Some(id)) = (created_at, member.rsplit_once('|')) {
                    listed.push(index_member(&at, id.1));
                }
            }
            _ => {}
        }
    }
    let entries: Vec<(&str, &str)> = listed
        .iter()
        .map(|m| (DELIVERY_INDEX, m.as_str()))
        .collect();
    views::list_in(conn, &entries).await?;
    Ok(results)
}
