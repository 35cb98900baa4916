//! Payment reconciliation: the safety net behind "no charge survives without
//! an established order".
//!
//! The normal paths keep charges and orders in step through events: an
//! established order's `OrderPlaced` settles its charge, a rejected order's
//! `OrderRejected` voids it. But an order node can die between the charge and
//! its own commit, leaving a charge no event will ever mention. This actor
//! periodically asks the owning order shard about charges unsettled for
//! longer than `settle_after`; the shard answers with the order's status or,
//! if it never committed, fences the id off as rejected, and the charge is
//! voided.

use std::{sync::Arc, time::Duration};

use ractor::{Actor, ActorProcessingErr, ActorRef};
use ractor_cluster::RactorMessage;

use crate::payment_core::PaymentCore;

/// Settings.
#[derive(Clone, Debug)]
pub struct ReconcilerArgs {
    /// The payment node.
    pub core: Arc<PaymentCore>,
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
            .core
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
