//! What a payment node does: charge (idempotent per order), read, and void
//! or refund when the order side says so.

use std::time::Duration;

use kukka_storage::aggregate_repo::{AggregateRepo, Inserted};
use rand::Rng;
use redis::aio::ConnectionManager;

use crate::{
    consumer::EventHandler,
    domain::payment::Payment,
    events::{Envelope, EventBody},
    protocol::{ByOrder, ChargeRequest, ListQuery, Reply, ServiceError, ShardPage},
    relay,
};

/// A payment node's data and settings.
#[derive(Clone, Debug)]
pub struct PaymentCore {
    /// Payments, with the order id as secondary key.
    pub repo: AggregateRepo<Payment>,
    /// This node's shard number (part of payment ids).
    pub shard: u32,
    /// Fault injection: every charge waits a random time in this range.
    pub inject_latency: Option<(Duration, Duration)>,
}

impl PaymentCore {
    /// Charges for an order, once: a second charge for the same order returns
    /// the first; a charge for an order already rejected is refused.
    #[tracing::instrument(skip_all, fields(correlation_id = %req.correlation_id, order_id = %req.order_id))]
    pub async fn charge(&self, req: ChargeRequest) -> Reply<Payment> {
        if let Some((min, max)) = self.inject_latency {
            let wait = if max > min {
                rand::rng().random_range(min..=max)
            } else {
                min
            };
            tokio::time::sleep(wait).await;
        }
        let seq = self.repo.next_seq()?;
        let id = format!("pay-{}-{seq}", self.shard);
        let now = crate::clock::now();
        let payment = Payment::confirmed(id.clone(), req.order_id.clone(), req.amount, &now);
        let event = Envelope::new(
            &req.correlation_id,
            &req.order_id,
            EventBody::PaymentConfirmed {
                payment_id: id,
                amount: req.amount,
            },
        );
        match self
            .repo
            .insert(
                seq,
                Some(&req.order_id),
                &payment,
                &[event.to_stream_event()],
            )
            .await?
        {
            Inserted::New => {
                relay::kick();
                crate::metrics::inc("kukka_payments_total", &[("status", "PaymentConfirmed")]);
                tracing::info!(amount = req.amount, "payment confirmed");
                Ok(payment)
            }
            Inserted::Existing(_, existing) => Ok(existing),
            Inserted::Fenced => Err(ServiceError::Conflict {
                message: format!("order {} was already rejected", req.order_id),
            }),
        }
    }

    /// The payment of one order.
    pub fn get(&self, q: &ByOrder) -> Reply<Payment> {
        let not_found = || ServiceError::NotFound {
            what: format!("payment for order {}", q.order_id),
        };
        let seq = self.repo.seq_by_key(&q.order_id)?.ok_or_else(not_found)?;
        self.repo.get(seq)?.ok_or_else(not_found)
    }

    /// One page of payments.
    pub fn list(&self, q: &ListQuery) -> Reply<ShardPage<Payment>> {
        let after = q.after.get(&self.shard).copied();
        let (items, has_more) = self.repo.list(after, q.limit as usize)?;
        Ok(ShardPage {
            shard: self.shard,
            items,
            has_more,
        })
    }

    /// Refunds (order cancelled) or voids (order rejected) the payment of an
    /// order. If no charge exists yet, the order is fenced so that a charge
    /// still in flight is refused: no charge survives without an order.
    pub async fn cancel_for_order(&self, env: &Envelope) -> Result<(), String> {
        let seq = match self
            .repo
            .seq_by_key(&env.order_id)
            .map_err(|e| e.to_string())?
        {
            Some(seq) => seq,
            None => match self
                .repo
                .fence(&env.order_id)
                .await
                .map_err(|e| e.to_string())?
            {
                None => {
                    tracing::info!("no charge yet; order fenced against late charges");
                    return Ok(());
                }
                Some(seq) => seq,
            },
        };
        let now = crate::clock::now();
        let outcome = self
            .repo
            .update(seq, |mut p| {
                let events = if p.cancel(&now) {
                    let e = Envelope::new(
                        &env.correlation_id,
                        &env.order_id,
                        EventBody::PaymentCancelled {
                            payment_id: p.id.clone(),
                        },
                    );
                    vec![e.to_stream_event()]
                } else {
                    Vec::new()
                };
                Ok::<_, std::convert::Infallible>((p, events))
            })
            .await
            .map_err(|e| e.to_string())?;
        if let Ok(Some(p)) = outcome {
            relay::kick();
            tracing::info!(payment_id = %p.id, "payment cancelled");
        }
        Ok(())
    }
}

impl EventHandler for PaymentCore {
    async fn apply(&self, _conn: &mut ConnectionManager, event: Envelope) -> Result<(), String> {
        match event.body {
            EventBody::OrderCancelled | EventBody::OrderRejected { .. } => {
                self.cancel_for_order(&event).await
            }
            _ => Ok(()),
        }
    }
}
