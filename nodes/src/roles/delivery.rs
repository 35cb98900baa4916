//! The delivery role: deliveries and read models in Redis, fed by two
//! consumer groups, and the owner's update service.

use std::sync::{
    atomic::{AtomicBool, Ordering},
    Arc,
};

use kukka_actors::{
    consumer::{ConsumerArgs, ConsumerConfig, EventHandler, StreamConsumer},
    delivery_core::{DeliveryCore, DeliveryHandler},
    read_models::ViewProjector,
    service_actors::DeliveryService,
    supervisor::{child, ChildSpec},
};
use kukka_http_edge::routes::health::ReadyCheck;

use super::{HttpSurface, RoleRuntime};
use crate::cli::NodeArgs;

/// Consumer group that turns paid orders into deliveries.
pub const DELIVERY_GROUP: &str = "delivery";
/// Consumer group that maintains MyPage and OrderDetails.
pub const VIEWS_GROUP: &str = "views";

fn consumer<H: EventHandler>(name: &str, handler: H, group: &str, args: &NodeArgs) -> ChildSpec {
    let handler = Arc::new(handler);
    let redis_url = args.redis_url.clone();
    let group = group.to_string();
    let instance = args.instance();
    child(name, move || {
        (
            StreamConsumer::default(),
            ConsumerArgs {
                handler: handler.clone(),
                redis_url: redis_url.clone(),
                group: group.clone(),
                consumer: instance.clone(),
                config: ConsumerConfig::default(),
            },
        )
    })
}

/// Builds the delivery role.
pub async fn build(args: &NodeArgs, draining: Arc<AtomicBool>) -> anyhow::Result<RoleRuntime> {
    let core = Arc::new(DeliveryCore::connect(&args.redis_url).await?);
    let probe =
        kukka_storage::redis_conn::connect(&args.redis_url, std::time::Duration::from_millis(500))
            .await?;
    let ready: ReadyCheck = Arc::new(move || {
        let draining = draining.clone();
        let mut conn = probe.clone();
        Box::pin(async move {
            let redis = kukka_storage::redis_conn::ping(&mut conn).await;
            [
                ("accepting", !draining.load(Ordering::SeqCst)),
                ("redis", redis),
            ]
            .into_iter()
            .collect()
        })
    });
    Ok(RoleRuntime {
        children: vec![
            child("delivery-service", move || (DeliveryService, core.clone())),
            consumer("delivery-consumer", DeliveryHandler, DELIVERY_GROUP, args),
            consumer("views-consumer", ViewProjector, VIEWS_GROUP, args),
        ],
        http: HttpSurface::Admin(ready),
        store: None,
    })
}
