//! The order role: the order shard (orders in sled), its bulkhead, its
//! outbox relay, the sweeper of expired idempotency keys, and the consumer
//! of the cancel saga's forward recovery.

use std::{sync::Arc, time::Duration};

use kukka_actors::{
    order::{
        bulkhead::{Bulkhead, BulkheadArgs, BulkheadConfig, BULKHEAD},
        idempotency::{Idempotency, IdempotencySweeper, SWEEPER},
        on_events::consumer_group,
        shard::{OrderShard, OrderShardArgs, Orders, ORDER_SHARD},
    },
    runtime::{
        relay::{OutboxRelay, RelayArgs, RELAY},
        role::Role,
        supervisor::child,
    },
};
use kukka_storage::aggregate_repo::AggregateRepo;

use super::{accepting, consumer, open_store, HttpSurface, NodeContext, RoleRuntime};

/// Builds the order role.
pub fn build(node: &NodeContext) -> anyhow::Result<RoleRuntime> {
    let args = &node.args;
    if args.shard >= args.order_shards {
        anyhow::bail!(
            "order shard {} is outside the configured shards 0..{}: set KUKKA_ORDER_SHARDS (--order-shards) on every role to the number of order shards",
            args.shard,
            args.order_shards
        );
    }
    let store = open_store(args)?;
    let repo = AggregateRepo::open(&store, "orders")?;
    let payment_timeout = Duration::from_millis(args.payment_timeout_ms);
    let orders = Arc::new(Orders {
        repo: repo.clone(),
        shard: args.shard,
        ns: node.ns.clone(),
        faults: node.faults.clone(),
        call_timeout: payment_timeout + Duration::from_secs(1),
        idempotency: Idempotency::new(Duration::from_secs(args.idempotency_ttl_secs)),
    });
    let relay = RelayArgs {
        outbox: repo.outbox().clone(),
        durable: store.durable_outbox(),
        partitions: node.partitions,
        producer: Role::Order,
        replicated: args.replicated(),
        redis_url: args.redis.redis_url.clone(),
    };
    let bulkhead = BulkheadArgs {
        config: BulkheadConfig {
            call_timeout: payment_timeout,
            max_concurrent: args.payment_max_concurrent,
            breaker: args.breaker(),
        },
        ns: node.ns.clone(),
    };
    let shard = OrderShardArgs {
        orders: orders.clone(),
        drain: node.drain.clone(),
    };
    let swept = orders.clone();
    Ok(RoleRuntime {
        children: vec![
            child(&node.ns, RELAY, move || (OutboxRelay, relay.clone())),
            child(&node.ns, BULKHEAD, move || (Bulkhead, bulkhead.clone())),
            child(&node.ns, ORDER_SHARD, move || (OrderShard, shard.clone())),
            child(&node.ns, SWEEPER, move || {
                (IdempotencySweeper, swept.clone())
            }),
            consumer(node, "order-consumer", orders, &consumer_group(args.shard)),
        ],
        http: HttpSurface::Admin(accepting(node.stopping.clone())),
        store: Some(store),
        services: &[ORDER_SHARD],
    })
}
