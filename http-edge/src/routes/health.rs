//! `/healthz`, `/readyz` and `/metrics`: served by every node on its admin
//! port only (never on the edge's public port).
//!
//! - `/healthz`: the process answers (`{"status":"ok"}`).
//! - `/readyz`: the node can do its job: `200 {"ready":true,...}` or `503`
//!   naming the failed checks. For the edge that is "not draining and
//!   Redis answers": with a role missing, the routes that need it answer
//!   `503` with `Retry-After` themselves, and every other route (views,
//!   pages) still works, so the edge stays in its Service. The edge's
//!   answer also shows whether each role is joined, without requiring it.
//! - `/readyz?scope=cluster`: on the edge, also every role joined (order,
//!   payment, delivery): what `kukka up`, the tests and `kukka-bench` wait
//!   for before sending work. Elsewhere the same as `/readyz`.
//! - `/metrics`: Prometheus text ([`kukka_actors::runtime::metrics`]).

use std::{collections::BTreeMap, future::Future, pin::Pin, sync::Arc, time::Duration};

use kukka_actors::runtime::{
    groups::{DELIVERY_DESKS, ORDER_SHARDS, PAYMENT_SHARDS},
    metrics,
};
use serde_json::json;
use warp::{
    filters::BoxedFilter,
    http::{header, StatusCode},
    reply::Response,
    Filter, Reply,
};

use crate::{error::ApiError, state::EdgeState};

/// Named checks; ready when all pass.
pub type Checks = BTreeMap<&'static str, bool>;

/// A readiness probe.
pub type ReadyCheck = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Checks> + Send>> + Send + Sync>;

/// How long a scrape may spend reading values from Redis.
const SCRAPE_BUDGET: Duration = Duration::from_millis(500);

/// What `/readyz` is asked about (`?scope=node`, the default, or
/// `?scope=cluster`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// This node (the default): what a load balancer needs.
    Node,
    /// The whole cluster as this node sees it (the edge: every role joined).
    Cluster,
}

/// Which checks decide readiness in a scope.
type Required = fn(Scope, &str) -> bool;

/// `/healthz`, `/readyz` (every check must pass, whatever the scope) and
/// `/metrics`.
pub fn admin_routes(check: ReadyCheck) -> BoxedFilter<(Response,)> {
    probes(check, |_, _| true)
}

/// The edge's probes: ready when not draining and Redis answers; with
/// `?scope=cluster` also every role joined.
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
    probes(check, |scope, name| {
        scope == Scope::Cluster || matches!(name, "accepting" | "redis")
    })
}

fn probes(check: ReadyCheck, required: Required) -> BoxedFilter<(Response,)> {
    let healthz = warp::path!("healthz")
        .and(warp::get())
        .map(|| warp::reply::json(&json!({"status": "ok"})).into_response());
    let readyz = warp::path!("readyz")
        .and(warp::get())
        .and(warp::query::raw().or(warp::any().map(String::new)).unify())
        .then(move |query: String| {
            let check = check.clone();
            async move {
                let scope = match query.as_str() {
                    "" | "scope=node" => Scope::Node,
                    "scope=cluster" => Scope::Cluster,
                    _ => {
                        return ApiError::BadQuery("scope must be node or cluster".into())
                            .into_response_with(&crate::correlation::accept_or_new(None))
                    }
                };
                ready_answer(check().await, scope, required)
            }
        });
    let metrics = warp::path!("metrics").and(warp::get()).then(|| async {
        warp::reply::with_header(
            metrics::scrape(SCRAPE_BUDGET).await,
            header::CONTENT_TYPE,
            metrics::CONTENT_TYPE,
        )
        .into_response()
    });
    healthz.or(readyz).unify().or(metrics).unify().boxed()
}

fn ready_answer(checks: Checks, scope: Scope, required: Required) -> Response {
    let needed: Vec<&str> = checks
        .keys()
        .copied()
        .filter(|name| required(scope, name))
        .collect();
    let ready = needed.iter().all(|name| checks[name]);
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let scope = match scope {
        Scope::Node => "node",
        Scope::Cluster => "cluster",
    };
    warp::reply::with_status(
        warp::reply::json(&json!({
            "ready": ready,
            "scope": scope,
            "required": needed,
            "checks": checks,
        })),
        status,
    )
    .into_response()
}
