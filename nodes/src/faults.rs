//! `POST /faults/<kind>?times=N` on a node's admin address, when the node was
//! started with `--enable-test-faults` (see `kukka_actors::faults`).

use kukka_actors::faults::{arm, Fault};
use serde_json::json;
use warp::{filters::BoxedFilter, http::StatusCode, reply::Response, Filter, Reply};

#[derive(serde::Deserialize)]
struct Times {
    times: Option<u32>,
}

/// Adds the fault route to `routes`.
pub fn with_fault_routes(routes: BoxedFilter<(Response,)>) -> BoxedFilter<(Response,)> {
    let faults = warp::path!("faults" / String)
        .and(warp::post())
        .and(warp::query::<Times>())
        .map(|kind: String, t: Times| match Fault::parse(&kind) {
            Some(f) if arm(f, t.times.unwrap_or(1)) => {
                tracing::warn!(fault = %kind, times = t.times.unwrap_or(1), "fault armed");
                warp::reply::json(&json!({"armed": kind})).into_response()
            }
            _ => warp::reply::with_status(
                warp::reply::json(&json!({"error": {"code": "unknown_fault", "message": kind}})),
                StatusCode::NOT_FOUND,
            )
            .into_response(),
        });
    faults.or(routes).unify().boxed()
}
