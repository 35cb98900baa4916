//! The cancel saga on the order shard.
//!
//! A delivered order cannot be cancelled, and the owner's "Delivered" may
//! race the customer's cancel. So the shard first asks a delivery desk to
//! reserve the delivery for cancellation (one atomic transition that
//! refuses `Delivered`), and only then cancels the order, with
//! `OrderCancelled` in the outbox: payment refunds on it, and delivery is
//! already cancelled. If the node dies between the two steps, the
//! `DeliveryCancelled` event finishes the cancel ([`super::on_events`]).

use super::{
    messages::ByOrder,
    model::{Order, OrderStatus},
    shard::Orders,
};
use crate::{
    delivery::messages::DeliveryMsg,
    domain_error::DomainError,
    events::{Envelope, EventBody},
    runtime::{
        clock,
        error::{Reply, ServiceError},
        faults::Fault,
        groups::DELIVERY_DESKS,
        rpc::rpc,
        wire::Wire,
    },
};

impl Orders {
    /// Cancels an order (idempotent); see the module docs.
    #[tracing::instrument(skip_all, fields(correlation_id = %q.correlation_id, order_id = %q.order_id))]
    pub async fn cancel(&self, q: ByOrder) -> Reply<Order> {
        let order = self.get(&q)?;
        match order.status {
            OrderStatus::OrderCancelled => return Ok(order),
            OrderStatus::Rejected => {
                return Err(ServiceError::Conflict {
                    message: format!("order {} was never established", q.order_id),
                })
            }
            OrderStatus::Ordered => {}
        }
        let desk = self
            .ns
            .pick::<DeliveryMsg>(DELIVERY_DESKS)
            .ok_or_else(|| ServiceError::unavailable("no delivery node is joined"))?;
        let reserve = q.clone();
        rpc(
            &desk,
            |port| DeliveryMsg::ReserveCancel(Wire::new(reserve), port),
            self.call_timeout,
        )
        .await?;
        if self.faults.fire(Fault::CrashMidCancel) {
            tracing::error!("injected fault: the order node dies in the middle of a cancel");
            std::process::abort();
        }
        self.cancel_locally(&q).await
    }

    /// Cancels the order in this shard's store (after its delivery was
    /// reserved for cancellation); idempotent.
    pub async fn cancel_locally(&self, q: &ByOrder) -> Reply<Order> {
        let not_found = || ServiceError::not_found(format!("order {}", q.order_id));
        let seq = self.seq_of(q.order_id).ok_or_else(not_found)?;
        let now = clock::now();
        let (correlation_id, order_id) = (q.correlation_id.clone(), q.order_id);
        let traceparent = q.traceparent.clone();
        let outcome = self
            .repo
            .update(seq, move |mut order| {
                let events = if order.cancel(&now)? {
                    let e = Envelope::new(&correlation_id, order_id, EventBody::OrderCancelled)
                        .with_traceparent(traceparent.clone());
                    vec![e.to_stream_event()]
                } else {
                    Vec::new()
                };
                Ok::<_, DomainError>((order, events))
            })
            .await?;
        match outcome {
            Ok(Some(order)) => {
                tracing::info!("order cancelled");
                Ok(order)
            }
            Ok(None) => Err(not_found()),
            Err(e) => Err(e.into()),
        }
    }
}
