//! The place saga on the order shard: pay through the bulkhead, then
//! establish the order (or reject it) in one durable write with its event;
//! and its repair for payment reconciliation ([`Orders::resolve`]).
//!
//! An order is written only after payment answered: `Ordered` with
//! `OrderPlaced` in the outbox when the charge went through, `Rejected`
//! with `OrderRejected` when it failed or timed out (a charge that still
//! lands is then voided by payment). A call the bulkhead refused without
//! calling payment (full, circuit open) writes nothing: there is no charge
//! to compensate, and a shed request costs no disk write. An
//! `Idempotency-Key` maps to the order it placed, so a retry returns that
//! order instead of paying again ([`super::idempotency`]). A request whose
//! expected total is not the shop's is refused before anything is charged
//! or written.

use kukka_storage::aggregate_repo::Inserted;
use ractor::rpc::CallResult;
use time::OffsetDateTime;

use super::{
    bulkhead::{BulkheadMsg, ChargeError},
    idempotency,
    messages::{ByOrder, PlaceOrder},
    model::{Order, OrderStatus},
    shard::Orders,
};
use crate::{
    events::{Envelope, EventBody},
    payment::{messages::ChargeRequest, model::Payment},
    runtime::{
        clock,
        error::{Reply, ServiceError},
        faults::Fault,
        metrics,
    },
};

impl Orders {
    /// Pays for and establishes an order (see the module docs).
    #[tracing::instrument(skip_all, fields(correlation_id = %req.correlation_id, order_id))]
    pub async fn place(&self, req: PlaceOrder) -> Reply<Order> {
        if self.faults.fire(Fault::PanicInRequest) {
            panic!("injected fault: panic while placing an order");
        }
        let idem_key = req
            .idempotency_key
            .as_deref()
            .map(|k| idempotency::storage_key(&req.key_scope, k));
        // Requests with one key take turns: a concurrent retry waits, then
        // finds the order this one placed (one charge, not two).
        let _turn = match &idem_key {
            Some(key) => Some(self.idempotency.locks.lock(key).await),
            None => None,
        };
        if let Some(key) = &idem_key {
            if let Some(seq) = self.repo.seq_by_key(key)? {
                match self.repo.get(seq)? {
                    Some(existing)
                        if !self
                            .idempotency
                            .expired(&existing.created_at, OffsetDateTime::now_utc()) =>
                    {
                        return same_request(Some(existing), &req);
                    }
                    // Expired (or dangling): the key is free again.
                    _ => {
                        self.repo.remove_keys(&[(key.clone(), seq)]).await?;
                    }
                }
            }
        }
        // Nothing is charged or written for a customer who expects another
        // total than the shop's.
        req.order.check_price()?;
        let seq = self.repo.next_seq()?;
        let id = self.order_id(seq);
        tracing::Span::current().record("order_id", tracing::field::display(id));
        let now = clock::now();
        let charge = ChargeRequest {
            correlation_id: req.correlation_id.clone(),
            order_id: id,
            amount: req.order.price,
            traceparent: req.traceparent.clone(),
        };
        let payment = match self.charge(charge).await {
            Ok(payment) => payment,
            Err(ChargeError::Refused(e)) => {
                metrics::order("Refused");
                return Err(e);
            }
            Err(ChargeError::Failed(e)) => {
                tracing::warn!(error = %e, "payment failed; order rejected");
                self.reject(seq, &req, e.to_string(), &now).await?;
                return Err(e);
            }
        };
        let order = Order::placed(id, req.order.clone().into_line(), payment.id.clone(), &now)
            .by(req.customer);
        let event = Envelope::new(
            &req.correlation_id,
            id,
            EventBody::order_placed(&order, &payment.id),
        )
        .with_traceparent(req.traceparent.clone());
        match self
            .repo
            .insert(seq, idem_key.as_deref(), &order, &[event.to_stream_event()])
            .await?
        {
            Inserted::New => {
                metrics::order("Ordered");
                tracing::info!("order placed");
                Ok(order)
            }
            Inserted::Fenced => Err(ServiceError::internal(
                "an idempotency key was fenced; only payment's order keys are",
            )),
            Inserted::Existing(taken, _) if taken == seq => {
                // Payment reconciliation gave up on this order while we were
                // slow and fenced the id; its charge is voided.
                tracing::warn!("order fenced by reconciliation before it committed");
                Err(ServiceError::payment_unavailable(
                    "the order could not be confirmed in time",
                ))
            }
            Inserted::Existing(_, existing) => {
                // A concurrent retry with the same key won; void our charge.
                self.reject(seq, &req, "duplicate idempotency key".into(), &now)
                    .await?;
                same_request(Some(existing), &req)
            }
        }
    }

    /// Stores the order as `Rejected` with `OrderRejected`, which makes
    /// payment void a charge that may still land.
    async fn reject(&self, seq: u64, req: &PlaceOrder, reason: String, now: &str) -> Reply<()> {
        let id = self.order_id(seq);
        let order = Order::rejected(id, req.order.clone().into_line(), reason.clone(), now)
            .by(req.customer);
        let event = Envelope::new(&req.correlation_id, id, EventBody::OrderRejected { reason })
            .with_traceparent(req.traceparent.clone());
        self.repo
            .insert(seq, None, &order, &[event.to_stream_event()])
            .await?;
        metrics::order("Rejected");
        Ok(())
    }

    /// Charges through this node's bulkhead.
    async fn charge(&self, req: ChargeRequest) -> Result<Payment, ChargeError> {
        let Some(bulkhead) = self.bulkhead() else {
            return Err(ChargeError::Refused(ServiceError::payment_unavailable(
                "the bulkhead is restarting",
            )));
        };
        match bulkhead
            .call(
                |port| BulkheadMsg::Charge(req, port),
                Some(self.call_timeout),
            )
            .await
        {
            Ok(CallResult::Success(r)) => r,
            // It may have called payment: treat as a failed call.
            _ => Err(ChargeError::Failed(ServiceError::payment_unavailable(
                "the bulkhead did not answer",
            ))),
        }
    }

    /// Settles an order's fate for payment reconciliation: its status if it
    /// was committed; otherwise it is fenced off as rejected (so a late
    /// commit is refused) and `Rejected` is answered.
    #[tracing::instrument(skip_all, fields(correlation_id = %q.correlation_id, order_id = %q.order_id))]
    pub async fn resolve(&self, q: ByOrder) -> Reply<OrderStatus> {
        let seq = self
            .seq_of(q.order_id)
            .ok_or_else(|| ServiceError::not_found(format!("order {}", q.order_id)))?;
        if let Some(order) = self.repo.get(seq)? {
            return Ok(order.status);
        }
        let fence = Order::unconfirmed(q.order_id, &clock::now());
        let reason = fence.reject_reason.clone().unwrap_or_default();
        let event = Envelope::new(
            &q.correlation_id,
            q.order_id,
            EventBody::OrderRejected { reason },
        )
        .with_traceparent(q.traceparent.clone());
        match self
            .repo
            .insert(seq, None, &fence, &[event.to_stream_event()])
            .await?
        {
            Inserted::Existing(_, order) => Ok(order.status),
            Inserted::New | Inserted::Fenced => {
                tracing::warn!("uncommitted order fenced off for payment reconciliation");
                Ok(OrderStatus::Rejected)
            }
        }
    }
}

/// The order an `Idempotency-Key` placed, if the retry asks for the same
/// thing.
fn same_request(existing: Option<Order>, req: &PlaceOrder) -> Reply<Order> {
    let existing =
        existing.ok_or_else(|| ServiceError::internal("idempotency key without order"))?;
    if req.order.asks_for(&existing.line) {
        Ok(existing)
    } else {
        Err(ServiceError::IdempotencyMismatch {
            message: "this Idempotency-Key was already used with a different request body".into(),
        })
    }
}
