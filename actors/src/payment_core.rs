//! What a payment node does: charge (idempotent per order), read, and void
//! or refund when the order side says so.

use std::time::Duration;

use kukka_storage::aggregate_repo::{AggregateRepo, Inserted};
use rand::Rng;
use redis::aio::ConnectionManager;

use kukka_storage::StorageError;

use crate::{
    consumer::EventHandler,
    domain::{
        order::OrderStatus,
        payment::{Payment, PaymentStatus},
    },
    events::{Envelope, EventBody},
    protocol::{
        order_shard_group, rpc, ByOrder, ChargeRequest, ListQuery, OrderMsg, Reply, ServiceError,
        ShardPage,
    },
    relay, remote,
    wire::Wire,
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
    /// Charges whose order has not been seen established yet (order id →
    /// marker), for reconciliation.
    pub unsettled: sled::Tree,
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
        // The marker goes first (same group commit as the charge), so no
        // charge ever exists without one.
        let marker = Unsettled {
            charged_at_ms: now_millis(),
            correlation_id: req.correlation_id.clone(),
        };
        self.unsettled
            .insert(
                req.order_id.as_bytes(),
                serde_json::to_vec(&marker).unwrap_or_default(),
            )
            .map_err(StorageError::from)?;
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
            Inserted::Fenced => {
                self.unsettled
                    .remove(req.order_id.as_bytes())
                    .map_err(StorageError::from)?;
                Err(ServiceError::Conflict {
                    message: format!("order {} was already rejected", req.order_id),
                })
            }
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
        ShardPage::read(&self.repo, self.shard, q)
    }

    /// Refunds (order cancelled) or voids (order rejected) the payment of an
    /// order. If no charge exists yet, the order is fenced so that a charge
    /// still in flight is refused: no charge survives without an order.
    pub async fn cancel_for_order(
        &self,
        correlation_id: &str,
        order_id: &str,
    ) -> Result<(), StorageError> {
        let seq = match self.repo.seq_by_key(order_id)? {
            Some(seq) => seq,
            None => match self.repo.fence(order_id).await? {
                None => {
                    tracing::info!("no charge yet; order fenced against late charges");
                    self.unsettled.remove(order_id.as_bytes())?;
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
                    let body = EventBody::PaymentCancelled {
                        payment_id: p.id.clone(),
                    };
                    vec![Envelope::new(correlation_id, order_id, body).to_stream_event()]
                } else {
                    Vec::new()
                };
                Ok::<_, std::convert::Infallible>((p, events))
            })
            .await?;
        self.unsettled.remove(order_id.as_bytes())?;
        if let Ok(Some(p)) = outcome {
            relay::kick();
            tracing::info!(payment_id = %p.id, "payment cancelled");
        }
        Ok(())
    }

    /// The order was established: its charge needs no reconciliation.
    pub fn settle(&self, order_id: &str) -> Result<(), StorageError> {
        self.unsettled.remove(order_id.as_bytes())?;
        Ok(())
    }

    /// Checks charges whose order has not been seen established for
    /// `settle_after`: asks the order's shard, and voids the charge if the
    /// order was never committed (the shard fences the id, so a late commit
    /// is refused). Returns how many charges were voided.
    pub async fn reconcile_once(&self, settle_after: Duration, call_timeout: Duration) -> usize {
        let now_ms = now_millis();
        let due: Vec<(String, Unsettled)> = self
            .unsettled
            .iter()
            .filter_map(Result::ok)
            .filter_map(|(k, v)| {
                let marker: Unsettled = serde_json::from_slice(&v).ok()?;
                let age = now_ms.saturating_sub(marker.charged_at_ms);
                (age >= settle_after.as_millis() as u64)
                    .then(|| (String::from_utf8_lossy(&k).into_owned(), marker))
            })
            .collect();
        let mut voided = 0;
        for (order_id, marker) in due {
            // Only a confirmed charge needs the order shard's word.
            let confirmed = match self.repo.seq_by_key(&order_id) {
                Ok(Some(seq)) => matches!(
                    self.repo.get(seq),
                    Ok(Some(Payment {
                        status: PaymentStatus::PaymentConfirmed,
                        ..
                    }))
                ),
                Ok(None) => false,
                Err(_) => continue,
            };
            if !confirmed {
                let _ = self.settle(&order_id);
                continue;
            }
            let Some(shard) = order_id
                .split_once('-')
                .and_then(|(s, _)| s.parse::<u32>().ok())
            else {
                let _ = self.settle(&order_id);
                continue;
            };
            let Some(owner) = remote::pick::<OrderMsg>(&order_shard_group(shard)) else {
                continue;
            };
            let q = ByOrder {
                correlation_id: marker.correlation_id.clone(),
                order_id: order_id.clone(),
            };
            match rpc(
                &owner,
                |port| OrderMsg::Resolve(Wire::new(q), port),
                call_timeout,
            )
            .await
            {
                Ok(OrderStatus::Ordered) | Ok(OrderStatus::OrderCancelled) => {
                    let _ = self.settle(&order_id);
                }
                Ok(OrderStatus::Rejected) => {
                    tracing::warn!(%order_id, correlation_id = %marker.correlation_id, "charge without an established order; voiding");
                    if self
                        .cancel_for_order(&marker.correlation_id, &order_id)
                        .await
                        .is_ok()
                    {
                        voided += 1;
                        crate::metrics::inc(
                            "kukka_payments_reconciled_total",
                            &[("outcome", "voided")],
                        );
                    }
                }
                Err(e) => tracing::debug!(%order_id, error = %e, "cannot reconcile yet"),
            }
        }
        voided
    }
}

/// A charge whose order has not been seen established yet.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Unsettled {
    charged_at_ms: u64,
    correlation_id: String,
}

fn now_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl EventHandler for PaymentCore {
    fn wants(&self, kind: &str) -> bool {
        matches!(kind, "OrderPlaced" | "OrderRejected" | "OrderCancelled")
    }

    async fn apply(&self, _conn: &mut ConnectionManager, event: Envelope) -> Result<(), String> {
        let result = match event.body {
            EventBody::OrderCancelled | EventBody::OrderRejected { .. } => {
                self.cancel_for_order(&event.correlation_id, &event.order_id)
                    .await
            }
            EventBody::OrderPlaced { .. } => self.settle(&event.order_id),
            _ => Ok(()),
        };
        result.map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use kukka_storage::sled_store::SledStore;

    use super::*;

    fn core(dir: &std::path::Path) -> PaymentCore {
        let store = SledStore::open(dir).expect("open");
        PaymentCore {
            repo: AggregateRepo::open(&store, "payments").expect("repo"),
            shard: 0,
            inject_latency: None,
            unsettled: store.tree("payments.unsettled").expect("tree"),
        }
    }

    fn charge(order_id: &str) -> ChargeRequest {
        ChargeRequest {
            correlation_id: "c".into(),
            order_id: order_id.into(),
            amount: 100,
        }
    }

    #[tokio::test]
    async fn charges_are_idempotent_and_settle_or_void_their_marker() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = core(dir.path());
        let first = p.charge(charge("0-1")).await.expect("charge");
        let again = p.charge(charge("0-1")).await.expect("charge");
        assert_eq!(first, again, "one payment per order");
        assert_eq!(p.repo.len(), 1);
        assert!(p.unsettled.contains_key("0-1").expect("tree"));

        // Unreachable order shard: a confirmed charge stays under watch.
        assert_eq!(
            p.reconcile_once(Duration::ZERO, Duration::from_millis(10))
                .await,
            0
        );
        assert!(p.unsettled.contains_key("0-1").expect("tree"));

        // The order was established: settled.
        p.settle("0-1").expect("settle");
        assert!(!p.unsettled.contains_key("0-1").expect("tree"));

        // A rejected order voids its charge and clears the marker.
        p.charge(charge("0-2")).await.expect("charge");
        p.cancel_for_order("c", "0-2").await.expect("void");
        assert!(!p.unsettled.contains_key("0-2").expect("tree"));
        let voided = p
            .get(&ByOrder {
                correlation_id: "c".into(),
                order_id: "0-2".into(),
            })
            .expect("get");
        assert_eq!(voided.status, PaymentStatus::PaymentCancelled);
    }

    #[tokio::test]
    async fn a_rejection_before_the_charge_fences_it_off() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = core(dir.path());
        p.cancel_for_order("c", "0-3").await.expect("fence");
        let late = p.charge(charge("0-3")).await;
        assert!(
            matches!(late, Err(ServiceError::Conflict { .. })),
            "{late:?}"
        );
        assert!(p.repo.is_empty(), "no charge was stored");
        assert!(!p.unsettled.contains_key("0-3").expect("tree"));
        // Markers without a confirmed charge are simply dropped.
        p.unsettled
            .insert(
                "0-4",
                b"{\"chargedAtMs\":0,\"correlationId\":\"c\"}".as_slice(),
            )
            .expect("insert");
        p.reconcile_once(Duration::ZERO, Duration::from_millis(10))
            .await;
        assert!(!p.unsettled.contains_key("0-4").expect("tree"));
    }
}
