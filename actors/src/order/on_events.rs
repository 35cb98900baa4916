//! What the order shard does with events: the cancel saga's forward
//! recovery.
//!
//! A delivery cancelled for a customer's cancel means the order must end
//! cancelled, even if this node died between reserving the delivery and
//! cancelling the order ([`super::cancel`]). Each order shard reads the
//! stream in its own consumer group, [`consumer_group`].

use kukka_storage::redis_conn::RedisConn;

use super::{messages::ByOrder, shard::Orders};
use crate::{
    delivery::model::DeliveryStatus,
    events::{Envelope, EventBody, EventKind},
    runtime::{
        consumer::{EventHandler, HandlerError},
        error::ServiceError,
    },
};

/// Prefix of the order shards' consumer groups.
pub const CONSUMER_GROUP_PREFIX: &str = "order-";

/// The consumer group of order shard `shard`.
pub fn consumer_group(shard: u32) -> String {
    format!("{CONSUMER_GROUP_PREFIX}{shard}")
}

impl EventHandler for Orders {
    fn wants(&self, kind: EventKind) -> bool {
        kind == EventKind::DeliveryCancelled
    }

    async fn apply(&self, _conn: &mut RedisConn, event: Envelope) -> Result<(), HandlerError> {
        let EventBody::DeliveryChanged {
            status: DeliveryStatus::DeliveryCancelled,
        } = event.body
        else {
            return Ok(());
        };
        if self.seq_of(event.order_id).is_none() {
            return Ok(());
        }
        let q = ByOrder {
            correlation_id: event.correlation_id.clone(),
            order_id: event.order_id,
            customer: None,
            traceparent: event.traceparent.clone(),
        };
        match self.cancel_locally(&q).await {
            // Not ours, already cancelled, or never established: nothing to do.
            Ok(_) | Err(ServiceError::NotFound { .. }) | Err(ServiceError::Conflict { .. }) => {
                Ok(())
            }
            Err(e) => Err(HandlerError::Retry(e.to_string())),
        }
    }
}
