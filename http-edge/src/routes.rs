//! All routes of the edge, one module per group.

pub mod deliveries;
pub mod health;
pub mod orders;
pub mod payments;
pub mod views;

use warp::{filters::BoxedFilter, reply::Response, Filter};

use crate::{error::recover, state::EdgeState};

/// A filter handing the shared state to handlers.
pub fn with_state(
    state: EdgeState,
) -> impl Filter<Extract = (EdgeState,), Error = std::convert::Infallible> + Clone {
    warp::any().map(move || state.clone())
}

/// The whole public API, with errors mapped to the JSON error body.
pub fn api(state: EdgeState) -> BoxedFilter<(Response,)> {
    orders::routes(state.clone())
        .or(payments::routes(state.clone()))
        .unify()
        .or(deliveries::routes(state.clone()))
        .unify()
        .or(views::routes(state.clone()))
        .unify()
        .or(health::edge_routes(state))
        .unify()
        .recover(recover)
        .unify()
        .boxed()
}
