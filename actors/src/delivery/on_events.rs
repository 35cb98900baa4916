//! What delivery does with events, in consumer group [`CONSUMER_GROUP`]: a
//! paid order (`OrderPlaced`) becomes a requested delivery; a refunded one
//! (`PaymentCancelled`) cancels it. A batch of events is applied in one
//! round trip (each change is still its own atomic script, in stream
//! order).

use kukka_storage::redis_conn::RedisConn;
use kukka_storage::{bus::Partitions, views::TransitionOutcome};

use super::{
    model::DeliveryStatus,
    store::{change, change_many, Change},
};
use crate::{
    events::{Envelope, EventBody, EventKind},
    runtime::consumer::{EventHandler, HandlerError},
};

/// The delivery nodes' consumer group (every replica reads in it, so each
/// event is applied by one of them).
pub const CONSUMER_GROUP: &str = "delivery";

/// Consumes order and payment events into deliveries.
#[derive(Clone, Copy, Debug, Default)]
pub struct DeliveryHandler {
    /// The event stream's partitions (they name the delivery keys).
    pub partitions: Partitions,
}

/// The change an event asks for: the new status, and the creation time when
/// it creates the delivery.
fn wanted(event: &Envelope) -> Option<(DeliveryStatus, Option<&str>)> {
    match &event.body {
        EventBody::OrderPlaced { created_at, .. } => {
            Some((DeliveryStatus::DeliveryRequested, Some(created_at.as_str())))
        }
        EventBody::PaymentCancelled { .. } => Some((DeliveryStatus::DeliveryCancelled, None)),
        _ => None,
    }
}

/// What happened, logged with the event's correlation id; the follow-up
/// when the refund overtook the order.
async fn settle(
    conn: &mut RedisConn,
    partitions: Partitions,
    event: &Envelope,
    to: DeliveryStatus,
    outcome: TransitionOutcome,
) -> Result<(), HandlerError> {
    let (cid, oid) = (&event.correlation_id, event.order_id);
    match outcome {
        TransitionOutcome::Applied => {
            tracing::info!(correlation_id = %cid, order_id = %oid, status = to.as_str(), "delivery changed")
        }
        TransitionOutcome::Missing => {
            // The refund overtook the order (replicas apply in parallel):
            // record the delivery as cancelled; the late `OrderPlaced` then
            // finds it and changes nothing. If the order's delivery was
            // created meanwhile (later in the same batch), move it instead.
            let p = partitions;
            let created = match change(conn, p, cid, oid, to, Some(&event.occurred_at)).await? {
                TransitionOutcome::Unchanged { .. } => change(conn, p, cid, oid, to, None).await?,
                other => other,
            };
            tracing::info!(correlation_id = %cid, order_id = %oid, ?created, "refund arrived before the order; delivery recorded as cancelled");
        }
        TransitionOutcome::Illegal { current } => {
            tracing::warn!(correlation_id = %cid, order_id = %oid, %current, to = to.as_str(), "delivery not changed: illegal transition");
        }
        TransitionOutcome::Unchanged { .. } => {}
    }
    Ok(())
}

impl EventHandler for DeliveryHandler {
    fn wants(&self, kind: EventKind) -> bool {
        matches!(kind, EventKind::OrderPlaced | EventKind::PaymentCancelled)
    }

    async fn apply(&self, conn: &mut RedisConn, event: Envelope) -> Result<(), HandlerError> {
        let mut results = self.apply_batch(conn, vec![event]).await;
        results.pop().unwrap_or(Ok(()))
    }

    async fn apply_batch(
        &self,
        conn: &mut RedisConn,
        events: Vec<Envelope>,
    ) -> Vec<Result<(), HandlerError>> {
        let changes: Vec<Option<Change>> = events
            .iter()
            .map(|e| {
                wanted(e).map(|(to, create)| {
                    Change::new(self.partitions, &e.correlation_id, e.order_id, to, create)
                })
            })
            .collect();
        let sent: Vec<Change> = changes.iter().flatten().cloned().collect();
        let mut outcomes = match change_many(conn, &sent).await {
            Ok(o) => o.into_iter(),
            Err(e) => {
                return events
                    .iter()
                    .map(|_| Err(HandlerError::Retry(e.to_string())))
                    .collect()
            }
        };
        let mut results = Vec::with_capacity(events.len());
        for (event, change) in events.iter().zip(&changes) {
            let result = match (change, wanted(event)) {
                (Some(_), Some((to, _))) => match outcomes.next() {
                    Some(Ok(outcome)) => settle(conn, self.partitions, event, to, outcome).await,
                    Some(Err(e)) => Err(HandlerError::Retry(e.to_string())),
                    None => Err(HandlerError::Retry("no answer for this change".into())),
                },
                _ => Ok(()),
            };
            results.push(result);
        }
        results
    }
}
