//! The order role: orders in sled, the payment gateway, the outbox relay.

use std::{
    sync::{atomic::AtomicBool, Arc},
    time::Duration,
};

use kukka_actors::{
    order_core::OrderCore,
    payment_gateway::{GatewayConfig, PaymentGateway, GATEWAY_NAME},
    relay::{OutboxRelay, RelayArgs, RELAY_NAME},
    service_actors::OrderService,
    supervisor::child,
};
use kukka_storage::aggregate_repo::AggregateRepo;

use super::{accepting, consumer, open_store, HttpSurface, RoleRuntime};
use crate::cli::NodeArgs;

/// Builds the order role.
pub fn build(args: &NodeArgs, draining: Arc<AtomicBool>) -> anyhow::Result<RoleRuntime> {
    let store = open_store(args)?;
    let repo = AggregateRepo::open(&store, "orders")?;
    let payment_timeout = Duration::from_millis(args.payment_timeout_ms);
    let core = Arc::new(OrderCore {
        repo: repo.clone(),
        shard: args.shard,
        gateway_grace: payment_timeout + Duration::from_secs(1),
    });
    let relay_args = RelayArgs {
        outbox: repo.outbox().clone(),
        redis_url: args.redis_url.clone(),
    };
    let gateway = GatewayConfig {
        call_timeout: payment_timeout,
        max_concurrent: args.payment_max_concurrent,
        breaker: args.breaker(),
    };
    Ok(RoleRuntime {
        children: vec![
            child(RELAY_NAME, move || (OutboxRelay, relay_args.clone())),
            child(GATEWAY_NAME, move || (PaymentGateway, gateway)),
            child("order-service", {
                let core = core.clone();
                move || (OrderService, core.clone())
            }),
            // Forward recovery of the cancel saga (see `OrderCore::apply`).
            consumer(
                "order-consumer",
                core.clone(),
                &format!("order-{}", args.shard),
                args,
            ),
        ],
        http: HttpSurface::Admin(accepting(draining)),
        store: Some(store),
    })
}
