//! The payment shard: the actor that owns one shard's payments in sled and
//! serves charges and reads ([`PaymentMsg`]), and the ledger operations the
//! events and the reconciler also use.
//!
//! A charge is idempotent per order and leaves an "unsettled" marker until
//! the order is seen established (`OrderPlaced`); an order that was
//! rejected or cancelled has its payment voided or refunded, and an order
//! rejected before its charge landed is fenced so the late charge is
//! refused. Together with [`super::reconciler`] this keeps the invariant:
//! no charge survives without an established order.

use std::sync::Arc;

use kukka_storage::{
    aggregate_repo::{AggregateRepo, Inserted},
    committer::TreeId,
    sled_store::encode,
    StorageError,
};
use ractor::{Actor, ActorProcessingErr, ActorRef};

use super::{
    messages::{ChargeRequest, PaymentMsg},
    model::Payment,
};
use crate::{
    events::{Envelope, EventBody},
    order::{id::OrderId, messages::ByOrder},
    runtime::{
        clock,
        drain::Drain,
        error::{Reply, ServiceError},
        faults::Faults,
        groups::{payment_shard, Namespace, PAYMENT_SHARDS},
        latency::InjectedLatency,
        metrics,
        paging::{ListQuery, ShardPage},
    },
};

/// Short name of the payment shard actor on its node.
pub const PAYMENT_SHARD: &str = "payment-shard";

/// One shard's payments and what serving them needs.
#[derive(Clone, Debug)]
pub struct Payments {
    /// Payments, with the order id as secondary key.
    pub repo: AggregateRepo<Payment>,
    /// This shard's number (part of payment ids).
    pub shard: u32,
    /// Where this node's actors and its peers are found.
    pub ns: Namespace,
    /// Fault injection: every charge first waits a drawn time (a slow
    /// payment provider).
    pub inject_latency: Option<InjectedLatency>,
    /// Charges whose order has not been seen established yet (order id →
    /// [`Unsettled`]), for reconciliation, and the tree's id in changes.
    pub unsettled: (sled::Tree, TreeId),
    /// This node's test faults.
    pub faults: Arc<Faults>,
}

/// A charge whose order has not been seen established yet.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Unsettled {
    /// When it was charged, in milliseconds since the Unix epoch.
    pub charged_at_ms: u64,
    /// The correlation id of the charge's request.
    pub correlation_id: String,
}

/// Milliseconds since the Unix epoch.
pub fn now_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Payments {
    /// Charges for an order, once: a second charge for the same order returns
    /// the first; a charge for an order already rejected is refused.
    #[tracing::instrument(skip_all, fields(correlation_id = %req.correlation_id, order_id = %req.order_id))]
    pub async fn charge(&self, req: ChargeRequest) -> Reply<Payment> {
        if let Some(latency) = self.inject_latency {
            latency.wait().await;
        }
        // The marker is written in the same transaction as the charge, so
        // no charge ever exists without one.
        let marker = encode(&Unsettled {
            charged_at_ms: now_millis(),
            correlation_id: req.correlation_id.clone(),
        });
        let order_key = req.order_id.to_string();
        let seq = self.repo.next_seq()?;
        let id = format!("pay-{}-{seq}", self.shard);
        let now = clock::now();
        let payment = Payment::confirmed(id.clone(), req.order_id, req.amount, &now);
        let event = Envelope::new(
            &req.correlation_id,
            req.order_id,
            EventBody::PaymentConfirmed {
                payment_id: id,
                amount: req.amount,
            },
        )
        .with_traceparent(req.traceparent.clone());
        let (repo, unsettled) = (self.repo.clone(), self.unsettled.1);
        let (bytes, events) = (encode(&payment), [event.to_stream_event()]);
        let inserted = self
            .repo
            .store()
            .commit(move |tx| {
                let done = repo.insert_in(tx, seq, Some(&order_key), &bytes, &events)?;
                if done == Inserted::New {
                    tx.tree(unsettled)
                        .insert(order_key.as_bytes(), marker.as_slice())?;
                }
                Ok(done)
            })
            .await?;
        match inserted {
            Inserted::New => {
                metrics::payment("PaymentConfirmed");
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
        let not_found = || ServiceError::not_found(format!("payment for order {}", q.order_id));
        let seq = self
            .repo
            .seq_by_key(&q.order_id.to_string())?
            .ok_or_else(not_found)?;
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
        traceparent: Option<&str>,
        order_id: OrderId,
    ) -> Result<(), StorageError> {
        let (repo, unsettled) = (self.repo.clone(), self.unsettled.1);
        let correlation_id = correlation_id.to_string();
        let traceparent = traceparent.map(str::to_string);
        let now = clock::now();
        let cancelled = self
            .repo
            .store()
            .commit(move |tx| {
                let order_key = order_id.to_string();
                tx.tree(unsettled).remove(order_key.as_bytes())?;
                let seq = match repo.seq_by_key_in(tx, &order_key)? {
                    Some(seq) => seq,
                    None => match repo.fence_in(tx, &order_key)? {
                        // No charge yet: the fence refuses a late one.
                        None => return Ok(None),
                        Some(seq) => seq,
                    },
                };
                let refund = |mut p: Payment| {
                    let events = if p.cancel(&now) {
                        let body = EventBody::PaymentCancelled {
                            payment_id: p.id.clone(),
                        };
                        vec![Envelope::new(&correlation_id, order_id, body)
                            .with_traceparent(traceparent.clone())
                            .to_stream_event()]
                    } else {
                        Vec::new()
                    };
                    Ok::<_, std::convert::Infallible>((p, events))
                };
                Ok(match repo.update_in(tx, seq, &refund)? {
                    Ok(Some(p)) => Some(p.id),
                    _ => None,
                })
            })
            .await?;
        match cancelled {
            Some(payment_id) => {
                metrics::payment("PaymentCancelled");
                tracing::info!(%payment_id, "payment cancelled");
            }
            None => tracing::info!("no charge yet; order fenced against late charges"),
        }
        Ok(())
    }

    /// The order was established: its charge needs no reconciliation. (Not
    /// waited for on disk: a marker that comes back after a crash only makes
    /// the reconciler ask the order shard once more.)
    pub fn settle(&self, order_id: OrderId) -> Result<(), StorageError> {
        self.unsettled.0.remove(order_id.to_string().as_bytes())?;
        Ok(())
    }
}

/// What the payment shard actor is started with.
#[derive(Clone, Debug)]
pub struct PaymentShardArgs {
    /// The shard's payments.
    pub payments: Arc<Payments>,
    /// The node's in-flight accounting.
    pub drain: Arc<Drain>,
}

/// The payment shard actor.
#[derive(Debug)]
pub struct PaymentShard;

impl Actor for PaymentShard {
    type Msg = PaymentMsg;
    type State = PaymentShardArgs;
    type Arguments = PaymentShardArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: PaymentShardArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        let p = &args.payments;
        metrics::payment_node_started();
        p.ns.join(
            &myself.get_cell(),
            &[PAYMENT_SHARDS.to_string(), payment_shard(p.shard)],
        );
        Ok(args)
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let payments = state.payments.clone();
        let drain = &state.drain;
        match msg {
            PaymentMsg::Charge(req, reply) => {
                drain.serve(
                    reply,
                    async move { payments.charge(req.into_valid()?).await },
                )
            }
            PaymentMsg::Get(q, reply) => {
                drain.serve(reply, async move { payments.get(&q.into_valid()?) })
            }
            PaymentMsg::List(q, reply) => {
                drain.serve(reply, async move { payments.list(&q.into_valid()?) })
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use kukka_storage::sled_store::SledStore;

    use super::*;
    use crate::payment::model::PaymentStatus;

    fn core(dir: &std::path::Path) -> Payments {
        let store = SledStore::open(dir).expect("open");
        let ns = Namespace::new("payment-unit-test", "payment-0");
        Payments {
            repo: AggregateRepo::open(&store, "payments").expect("repo"),
            shard: 0,
            ns,
            inject_latency: None,
            unsettled: store.tree("payments.unsettled").expect("tree"),
            faults: Faults::disabled(),
        }
    }

    fn order(seq: u64) -> OrderId {
        OrderId::new(0, seq)
    }

    fn charge(seq: u64) -> ChargeRequest {
        ChargeRequest {
            correlation_id: "c".into(),
            order_id: order(seq),
            amount: 100,
            traceparent: None,
        }
    }

    #[tokio::test]
    async fn charges_are_idempotent_and_settle_or_void_their_marker() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = core(dir.path());
        let first = p.charge(charge(1)).await.expect("charge");
        let again = p.charge(charge(1)).await.expect("charge");
        assert_eq!(first, again, "one payment per order");
        assert_eq!(p.repo.len(), 1);
        assert!(p.unsettled.0.contains_key("0-1").expect("tree"));

        // Unreachable order shard: a confirmed charge stays under watch.
        assert_eq!(
            p.reconcile_once(Duration::ZERO, Duration::from_millis(10))
                .await,
            0
        );
        assert!(p.unsettled.0.contains_key("0-1").expect("tree"));

        // The order was established: settled.
        p.settle(order(1)).expect("settle");
        assert!(!p.unsettled.0.contains_key("0-1").expect("tree"));

        // A rejected order voids its charge and clears the marker.
        p.charge(charge(2)).await.expect("charge");
        p.cancel_for_order("c", None, order(2)).await.expect("void");
        assert!(!p.unsettled.0.contains_key("0-2").expect("tree"));
        let voided = p
            .get(&ByOrder {
                correlation_id: "c".into(),
                order_id: order(2),
                customer: None,
                traceparent: None,
            })
            .expect("get");
        assert_eq!(voided.status, PaymentStatus::PaymentCancelled);
    }

    #[tokio::test]
    async fn a_rejection_before_the_charge_fences_it_off() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = core(dir.path());
        p.cancel_for_order("c", None, order(3))
            .await
            .expect("fence");
        let late = p.charge(charge(3)).await;
        assert!(
            matches!(late, Err(ServiceError::Conflict { .. })),
            "{late:?}"
        );
        assert!(p.repo.is_empty(), "no charge was stored");
        assert!(!p.unsettled.0.contains_key("0-3").expect("tree"));
        // Markers without a confirmed charge are simply dropped.
        p.unsettled
            .0
            .insert(
                "0-4",
                b"{\"chargedAtMs\":0,\"correlationId\":\"c\"}".as_slice(),
            )
            .expect("insert");
        p.reconcile_once(Duration::ZERO, Duration::from_millis(10))
            .await;
        assert!(!p.unsettled.0.contains_key("0-4").expect("tree"));
    }
}
