//! Payment reconciliation: the safety net behind "no charge survives without
//! an established order".
//!
//! The normal paths keep charges and orders in step through events: an
//! established order's `OrderPlaced` settles its charge, a rejected order's
//! `OrderRejected` voids it. But an order node can die between the charge and
//! its own commit, leaving a charge no event will ever mention. The
//! [`PaymentReconciler`] periodically asks the owning order shard about
//! charges unsettled for longer than `settle_after`; the shard answers with
//! the order's status or, if it never committed, fences the id off as
//! rejected, and the charge is voided.

use std::{sync::Arc, time::Duration};

use ractor::{Actor, ActorProcessingErr, ActorRef};
use ractor_cluster::RactorMessage;

use super::{
    model::{Payment, PaymentStatus},
    shard::{now_millis, Payments, Unsettled},
};
use crate::{
    order::{
        id::OrderId,
        messages::{ByOrder, OrderMsg},
        model::OrderStatus,
    },
    runtime::{groups::order_shard, metrics, rpc::rpc, wire::Wire},
};

/// Short name of the reconciler on its node.
pub const RECONCILER: &str = "payment-reconciler";

impl Payments {
    /// Checks charges whose order has not been seen established for
    /// `settle_after`: asks the order's shard, and voids the charge if the
    /// order was never committed. Returns how many charges were voided.
    pub async fn reconcile_once(&self, settle_after: Duration, call_timeout: Duration) -> usize {
        let now_ms = now_millis();
        let due: Vec<(OrderId, Unsettled)> = self
            .unsettled
            .0
            .iter()
            .filter_map(Result::ok)
            .filter_map(|(k, v)| {
                let marker: Unsettled = serde_json::from_slice(&v).ok()?;
                let order_id: OrderId = std::str::from_utf8(&k).ok()?.parse().ok()?;
                let age = now_ms.saturating_sub(marker.charged_at_ms);
                (age >= settle_after.as_millis() as u64).then_some((order_id, marker))
            })
            .collect();
        let mut voided = 0;
        for (order_id, marker) in due {
            // Only a confirmed charge needs the order shard's word.
            let confirmed = match self.repo.seq_by_key(&order_id.to_string()) {
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
                let _ = self.settle(order_id);
                continue;
            }
            let Some(owner) = self.ns.pick::<OrderMsg>(&order_shard(order_id.shard())) else {
                continue;
            };
            let q = ByOrder {
                correlation_id: marker.correlation_id.clone(),
                order_id,
                customer: None,
                traceparent: None,
            };
            match rpc(
                &owner,
                |port| OrderMsg::Resolve(Wire::new(q), port),
                call_timeout,
            )
            .await
            {
                Ok(OrderStatus::Ordered) | Ok(OrderStatus::OrderCancelled) => {
                    metrics::reconciled("settled");
                    let _ = self.settle(order_id);
                }
                Ok(OrderStatus::Rejected) => {
                    tracing::warn!(%order_id, correlation_id = %marker.correlation_id, "charge without an established order; voiding");
                    if self
                        .cancel_for_order(&marker.correlation_id, None, order_id)
                        .await
                        .is_ok()
                    {
                        voided += 1;
                        metrics::reconciled("voided");
                    }
                }
                Err(e) => tracing::debug!(%order_id, error = %e, "cannot reconcile yet"),
            }
        }
        voided
    }
}

/// What the reconciler is started with.
#[derive(Clone, Debug)]
pub struct ReconcilerArgs {
    /// The shard's payments.
    pub payments: Arc<Payments>,
    /// A charge unsettled for this long is checked.
    pub settle_after: Duration,
    /// How often to look.
    pub every: Duration,
}

/// Messages of the reconciler.
#[derive(RactorMessage)]
pub enum ReconcilerMsg {
    /// Look now.
    Tick,
}

/// The reconciler actor.
#[derive(Debug)]
pub struct PaymentReconciler;

impl Actor for PaymentReconciler {
    type Msg = ReconcilerMsg;
    type State = ReconcilerArgs;
    type Arguments = ReconcilerArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: ReconcilerArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        myself.send_interval(args.every, || ReconcilerMsg::Tick);
        Ok(args)
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        _msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let voided = state
            .payments
            .reconcile_once(state.settle_after, Duration::from_secs(2))
            .await;
        if voided > 0 {
            tracing::warn!(
                voided,
                "reconciliation voided charges of orders that were never established"
            );
        }
        Ok(())
    }
}
