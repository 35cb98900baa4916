//! What delivery does with events, in consumer group [`CONSUMER_GROUP`]: a
//! paid order (`OrderPlaced`) becomes a requested delivery; a refunded one
//! (`PaymentCancelled`) cancels it.

use kukka_storage::views::TransitionOutcome;
use redis::aio::ConnectionManager;

use super::{model::DeliveryStatus, store::change};
use crate::{
    events::{Envelope, EventBody, EventKind},
    runtime::consumer::{EventHandler, HandlerError},
};

/// The delivery nodes' consumer group (every replica reads in it, so each
/// event is applied by one of them).
pub const CONSUMER_GROUP: &str = "delivery";

/// Consumes order and payment events into deliveries.
#[derive(Clone, Copy, Debug, Default)]
pub struct DeliveryHandler;

impl EventHandler for DeliveryHandler {
    fn wants(&self, kind: EventKind) -> bool {
        matches!(kind, EventKind::OrderPlaced | EventKind::PaymentCancelled)
    }

    async fn apply(
        &self,
        conn: &mut ConnectionManager,
        event: Envelope,
    ) -> Result<(), HandlerError> {
        let (to, create) = match &event.body {
            EventBody::OrderPlaced { created_at, .. } => {
                (DeliveryStatus::DeliveryRequested, Some(created_at.as_str()))
            }
            EventBody::PaymentCancelled { .. } => (DeliveryStatus::DeliveryCancelled, None),
            _ => return Ok(()),
        };
        let (cid, oid) = (&event.correlation_id, event.order_id);
        match change(conn, cid, oid, to, create).await? {
            TransitionOutcome::Applied => tracing::info!(status = to.as_str(), "delivery changed"),
            TransitionOutcome::Missing => {
                // The refund overtook the order (replicas apply in parallel):
                // record the delivery as cancelled; the late `OrderPlaced`
                // then finds it and changes nothing.
                let created = change(conn, cid, oid, to, Some(&event.occurred_at)).await?;
                tracing::info!(
                    ?created,
                    "refund arrived before the order; delivery recorded as cancelled"
                );
            }
            TransitionOutcome::Illegal { current } => {
                tracing::warn!(%current, to = to.as_str(), "delivery not changed: illegal transition");
            }
            TransitionOutcome::Unchanged { .. } => {}
        }
        Ok(())
    }
}
