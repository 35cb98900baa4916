//! What a payment shard does with events: void or refund when an order is
//! rejected or cancelled, and settle a charge once its order is seen
//! established. Each payment shard reads the stream in its own consumer
//! group, [`consumer_group`], and acts on the orders it charged.

use kukka_storage::redis_conn::RedisConn;

use super::shard::Payments;
use crate::{
    events::{Envelope, EventBody, EventKind},
    runtime::{
        consumer::{EventHandler, HandlerError},
        faults::Fault,
    },
};

/// Prefix of the payment shards' consumer groups.
pub const CONSUMER_GROUP_PREFIX: &str = "payment-";

/// The consumer group of payment shard `shard`.
pub fn consumer_group(shard: u32) -> String {
    format!("{CONSUMER_GROUP_PREFIX}{shard}")
}

impl EventHandler for Payments {
    fn wants(&self, kind: EventKind) -> bool {
        matches!(
            kind,
            EventKind::OrderPlaced | EventKind::OrderRejected | EventKind::OrderCancelled
        )
    }

    async fn apply(&self, _conn: &mut RedisConn, event: Envelope) -> Result<(), HandlerError> {
        match event.body {
            EventBody::OrderCancelled | EventBody::OrderRejected { .. } => {
                if self.faults.fire(Fault::FailRefund) {
                    return Err(HandlerError::Retry(
                        "injected fault: no space left on the payment node's disk".into(),
                    ));
                }
                self.cancel_for_order(
                    &event.correlation_id,
                    event.traceparent.as_deref(),
                    event.order_id,
                )
                .await?
            }
            EventBody::OrderPlaced { .. } => self.settle(event.order_id)?,
            _ => {}
        }
        Ok(())
    }
}
