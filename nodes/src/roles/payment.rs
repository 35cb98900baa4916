//! The payment role: the payment shard (payments in sled), its outbox
//! relay, the reconciler, and the consumer that voids or refunds when
//! orders are rejected or cancelled.

use std::{sync::Arc, time::Duration};

use kukka_actors::{
    payment::{
        on_events::consumer_group,
        reconciler::{PaymentReconciler, ReconcilerArgs, RECONCILER},
        shard::{PaymentShard, PaymentShardArgs, Payments, PAYMENT_SHARD},
    },
    runtime::{
        latency::InjectedLatency,
        relay::{OutboxRelay, RelayArgs, RELAY},
        role::Role,
        supervisor::child,
    },
};
use kukka_storage::aggregate_repo::AggregateRepo;

use super::{accepting, consumer, open_store, HttpSurface, NodeContext, RoleRuntime};

/// Builds the payment role.
pub fn build(node: &NodeContext) -> anyhow::Result<RoleRuntime> {
    let args = &node.args;
    let store = open_store(args)?;
    let repo = AggregateRepo::open(&store, "payments")?;
    let payments = Arc::new(Payments {
        repo: repo.clone(),
        shard: args.shard,
        ns: node.ns.clone(),
        inject_latency: args
            .inject_latency_ms
            .and_then(|(min, max)| InjectedLatency::new(min, max)),
        unsettled: store.tree("payments.unsettled")?,
        faults: node.faults.clone(),
    });
    let reconciler = ReconcilerArgs {
        payments: payments.clone(),
        settle_after: Duration::from_millis(args.reconcile_after_ms),
        every: Duration::from_millis((args.reconcile_after_ms / 4).clamp(200, 5000)),
    };
    let relay = RelayArgs {
        outbox: repo.outbox().clone(),
        durable: store.durable_outbox(),
        partitions: node.partitions,
        producer: Role::Payment,
        replicated: args.replicated(),
        redis_url: args.redis.redis_url.clone(),
    };
    let shard = PaymentShardArgs {
        payments: payments.clone(),
        drain: node.drain.clone(),
    };
    Ok(RoleRuntime {
        children: vec![
            child(&node.ns, RELAY, move || (OutboxRelay, relay.clone())),
            child(&node.ns, PAYMENT_SHARD, move || {
                (PaymentShard, shard.clone())
            }),
            child(&node.ns, RECONCILER, move || {
                (PaymentReconciler, reconciler.clone())
            }),
            // Every payment shard reads every event in its own group and
            // acts on the orders it charged.
            consumer(
                node,
                "payment-consumer",
                payments,
                &consumer_group(args.shard),
            ),
        ],
        http: HttpSurface::Admin(accepting(node.stopping.clone())),
        store: Some(store),
        services: &[PAYMENT_SHARD],
    })
}
