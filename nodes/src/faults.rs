//! `POST /faults/<kind>?times=N` on a node's admin address, when the node was
//! started with `--enable-test-faults`: the actors' faults
//! (`kukka_actors::runtime::faults`), and on a node with a sled store
//! `hold-flush` (its flushes hang from now on, as if the disk hung) and
//! `fail-flush` (its next N flushes fail).

use std::sync::Arc;

use kukka_actors::runtime::faults::{Fault, Faults};
use kukka_storage::sled_store::SledStore;
use serde_json::json;
use warp::{filters::BoxedFilter, http::StatusCode, reply::Response, Filter, Reply};

#[derive(serde::Deserialize)]
struct Times {
    times: Option<u32>,
}

/// Arms a fault of the store: `true` if `kind` is one.
fn arm_store(store: Option<&SledStore>, kind: &str, times: u32) -> bool {
    match (store, kind) {
        (Some(s), "hold-flush") => s.committer().hold_flushes(),
        (Some(s), "fail-flush") => s.committer().fail_flushes(times),
        _ => return false,
    }
    true
}

/// Adds the route that arms `faults` (and `store`'s) to `routes`.
pub fn with_fault_routes(
    faults: Arc<Faults>,
    store: Option<SledStore>,
    routes: BoxedFilter<(Response,)>,
) -> BoxedFilter<(Response,)> {
    let arm = warp::path!("faults" / String)
        .and(warp::post())
        .and(warp::query::<Times>())
        .map(move |kind: String, t: Times| {
            let times = t.times.unwrap_or(1);
            let armed = match Fault::parse(&kind) {
                Some(f) => faults.arm(f, times),
                None => faults.is_enabled() && arm_store(store.as_ref(), &kind, times),
            };
            match armed {
                true => {
                    tracing::warn!(fault = %kind, times, "fault armed");
                    warp::reply::json(&json!({"armed": kind})).into_response()
                }
                false => warp::reply::with_status(
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
