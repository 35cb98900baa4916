//! `/healthz`, `/readyz` and `/metrics`: served by the edge on its public
//! port and by every other node on its admin port.

use std::{collections::BTreeMap, future::Future, pin::Pin, sync::Arc};

use kukka_actors::protocol::{DELIVERY_GROUP, ORDER_GROUP, PAYMENT_GROUP};
use serde_json::json;
use warp::{
    filters::BoxedFilter,
    http::{header, StatusCode},
    reply::Response,
    Filter, Reply,
};

use crate::state::EdgeState;

/// Named checks; ready when all pass.
pub type Checks = BTreeMap<&'static str, bool>;

/// A readiness probe.
pub type ReadyCheck = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Checks> + Send>> + Send + Sync>;

/// `/healthz` (the process answers), `/readyz` (every check passes) and
/// `/metrics` (Prometheus text).
pub fn admin_routes(check: ReadyCheck) -> BoxedFilter<(Response,)> {
    let healthz = warp::path!("healthz")
        .and(warp::get())
        .map(|| warp::reply::json(&json!({"status": "ok"})).into_response());
    let readyz = warp::path!("readyz").and(warp::get()).then(move || {
        let check = check.clone();
        async move {
            let checks = check().await;
            let ready = checks.values().all(|ok| *ok);
            let status = if ready {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            warp::reply::with_status(
                warp::reply::json(&json!({"ready": ready, "checks": checks})),
                status,
            )
            .into_response()
        }
    });
    let metrics = warp::path!("metrics").and(warp::get()).map(|| {
        warp::reply::with_header(
            kukka_actors::metrics::render(),
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )
        .into_response()
    });
    healthz.or(readyz).unify().or(metrics).unify().boxed()
}

/// Whether at least one member of `group` is joined.
pub fn joined(group: &str) -> bool {
    !kukka_actors::remote::members(group).is_empty()
}

/// The edge's probes: ready when not draining, every role is joined, and
/// Redis answers.
pub fn edge_routes(state: EdgeState) -> BoxedFilter<(Response,)> {
    let check: ReadyCheck = Arc::new(move || {
        let state = state.clone();
        Box::pin(async move {
            let mut conn = state.redis.clone();
            let redis = kukka_storage::redis_conn::ping(&mut conn).await;
            BTreeMap::from([
                ("accepting", !state.is_draining()),
                ("order", joined(ORDER_GROUP)),
                ("payment", joined(PAYMENT_GROUP)),
                ("delivery", joined(DELIVERY_GROUP)),
                ("redis", redis),
            ])
        })
    });
    admin_routes(check)
}
