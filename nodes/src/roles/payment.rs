//! The payment role: payments in sled, the outbox relay, and the consumer
//! that voids or refunds when orders are rejected or cancelled.

use std::{
    sync::{atomic::AtomicBool, Arc},
    time::Duration,
};

use kukka_actors::{
    payment_core::PaymentCore,
    reconciler::{PaymentReconciler, ReconcilerArgs},
    relay::{OutboxRelay, RelayArgs, RELAY_NAME},
    service_actors::PaymentService,
    supervisor::child,
};
use kukka_storage::aggregate_repo::AggregateRepo;

use super::{accepting, consumer, open_store, HttpSurface, RoleRuntime};
use crate::cli::NodeArgs;

/// Builds the payment role.
pub fn build(args: &NodeArgs, draining: Arc<AtomicBool>) -> anyhow::Result<RoleRuntime> {
    let store = open_store(args)?;
    let repo = AggregateRepo::open(&store, "payments")?;
    let core = Arc::new(PaymentCore {
        repo: repo.clone(),
        shard: args.shard,
        inject_latency: args
            .inject_latency_ms
            .map(|(a, b)| (Duration::from_millis(a), Duration::from_millis(b))),
        unsettled: store.tree("payments.unsettled")?,
    });
    let reconciler = ReconcilerArgs {
        core: core.clone(),
        settle_after: Duration::from_millis(args.reconcile_after_ms),
        every: Duration::from_millis((args.reconcile_after_ms / 4).clamp(200, 5000)),
    };
    let relay_args = RelayArgs {
        outbox: repo.outbox().clone(),
        redis_url: args.redis_url.clone(),
    };
    Ok(RoleRuntime {
        children: vec![
            child(RELAY_NAME, move || (OutboxRelay, relay_args.clone())),
            child("payment-service", {
                let core = core.clone();
                move || (PaymentService, core.clone())
            }),
            child("payment-reconciler", move || {
                (PaymentReconciler, reconciler.clone())
            }),
            // Every payment shard reads every event (its own group) and acts
            // on the orders it charged.
            consumer(
                "payment-consumer",
                core.clone(),
                &format!("payment-{}", args.shard),
                args,
            ),
        ],
        http: HttpSurface::Admin(accepting(draining)),
        store: Some(store),
    })
}
