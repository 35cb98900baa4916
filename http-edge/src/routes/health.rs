//! `/healthz`, `/readyz` and `/metrics`: served by the edge on its public
//! port and by every other node on its admin port.

use std::{collections::BTreeMap, future::Future, pin::Pin, sync::Arc};

use kukka_actors::runtime::groups::{DELIVERY_DESKS, ORDER_SHARDS, PAYMENT_SHARDS};
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
            kukka_actors::runtime::metrics::render(),
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )
        .into_response()
    });
    healthz.or(readyz).unify().or(metrics).unify().boxed()
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
                ("order", state.ns.joined(ORDER_SHARDS)),
                ("payment", state.ns.joined(PAYMENT_SHARDS)),
                ("delivery", state.ns.joined(DELIVERY_DESKS)),
                ("redis", redis),
            ])
        })
    });
    admin_routes(check)
}
