//! The delivery role: deliveries and read models in Redis, fed by two
//! consumer groups, and the owner's update service.

use std::sync::{
    atomic::{AtomicBool, Ordering},
    Arc,
};

use kukka_actors::{
    delivery_core::{DeliveryCore, DeliveryHandler},
    read_models::ViewProjector,
    service_actors::DeliveryService,
    supervisor::child,
};
use kukka_http_edge::routes::health::ReadyCheck;

use super::{consumer, HttpSurface, RoleRuntime};
use crate::cli::NodeArgs;

/// Consumer group that turns paid orders into deliveries.
pub const DELIVERY_GROUP: &str = "delivery";
/// Consumer group that maintains MyPage and OrderDetails.
pub const VIEWS_GROUP: &str = "views";

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
            consumer(
                "delivery-consumer",
                Arc::new(DeliveryHandler),
                DELIVERY_GROUP,
                args,
            ),
            consumer("views-consumer", Arc::new(ViewProjector), VIEWS_GROUP, args),
        ],
        http: HttpSurface::Admin(ready),
        store: None,
    })
}
