//! `POST /faults/<kind>?times=N` on a node's admin address, when the node was
//! started with `--enable-test-faults` (see `kukka_actors::runtime::faults`).

use std::sync::Arc;

use kukka_actors::runtime::faults::{Fault, Faults};
use serde_json::json;
use warp::{filters::BoxedFilter, http::StatusCode, reply::Response, Filter, Reply};

#[derive(serde::Deserialize)]
struct Times {
    times: Option<u32>,
}

/// Adds the route that arms `faults` to `routes`.
pub fn with_fault_routes(
    faults: Arc<Faults>,
    routes: BoxedFilter<(Response,)>,
) -> BoxedFilter<(Response,)> {
    let arm = warp::path!("faults" / String)
        .and(warp::post())
        .and(warp::query::<Times>())
        .map(move |kind: String, t: Times| {
            let times = t.times.unwrap_or(1);
            match Fault::parse(&kind) {
                Some(f) if faults.arm(f, times) => {
                    tracing::warn!(fault = %kind, times, "fault armed");
                    warp::reply::json(&json!({"armed": kind})).into_response()
                }
                _ => warp::reply::with_status(
                    warp::reply::json(
                        &json!({"error": {"code": "unknown_fault", "message": kind}}),
                    ),
                    StatusCode::NOT_FOUND,
                )
                .into_response(),
            }
        });
    arm.or(routes).unify().boxed()
}
