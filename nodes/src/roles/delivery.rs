//! The delivery role: deliveries and read models in Redis, fed by two
//! consumer groups, the desk that takes the owner's updates, and the
//! trimmer that keeps the streams bounded.

use std::sync::{atomic::Ordering, Arc};

use kukka_actors::{
    delivery::{
        desk::{Deliveries, DeliveryDesk, DeliveryDeskArgs, DELIVERY_DESK},
        on_events::{DeliveryHandler, CONSUMER_GROUP as DELIVERY_GROUP},
    },
    runtime::{
        retention::{Trimmer, TrimmerArgs, TRIMMER},
        supervisor::child,
    },
    views::projector::{ViewProjector, CONSUMER_GROUP as VIEWS_GROUP},
};
use kukka_http_edge::routes::health::ReadyCheck;
use kukka_storage::redis_conn;

use super::{consumer, HttpSurface, NodeContext, RoleRuntime};

/// Builds the delivery role.
pub async fn build(node: &NodeContext) -> anyhow::Result<RoleRuntime> {
    let url = &node.args.redis.redis_url;
    let mut conn = redis_conn::connect(url, std::time::Duration::from_secs(2)).await?;
    let p = node.partitions;
    p.agree(&mut conn).await?;
    let desk = DeliveryDeskArgs {
        deliveries: Arc::new(Deliveries::new(conn.clone(), p, node.args.replicated())),
        ns: node.ns.clone(),
        drain: node.drain.clone(),
    };
    let trimmer = TrimmerArgs {
        redis_url: url.clone(),
        partitions: p,
        keep: std::time::Duration::from_secs(node.args.events_retention_secs),
        every: std::time::Duration::from_millis(node.args.events_trim_every_ms),
    };
    let stopping = node.stopping.clone();
    let ready: ReadyCheck = Arc::new(move || {
        let stopping = stopping.clone();
        let mut conn = conn.clone();
        Box::pin(async move {
            let redis = redis_conn::ping(&mut conn).await;
            [
                ("accepting", !stopping.load(Ordering::SeqCst)),
                ("redis", redis),
            ]
            .into_iter()
            .collect()
        })
    });
    Ok(RoleRuntime {
        children: vec![
            child(&node.ns, DELIVERY_DESK, move || {
                (DeliveryDesk, desk.clone())
            }),
            consumer(
                node,
                "delivery-consumer",
                Arc::new(DeliveryHandler { partitions: p }),
                DELIVERY_GROUP,
            ),
            consumer(
                node,
                "views-consumer",
                Arc::new(ViewProjector::new(p)),
                VIEWS_GROUP,
            ),
            child(&node.ns, TRIMMER, move || (Trimmer, trimmer.clone())),
        ],
        http: HttpSurface::Admin(ready),
        store: None,
        services: &[DELIVERY_DESK],
    })
}
