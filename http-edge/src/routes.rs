//! All routes of the edge, one module per group: the JSON API
//! ([`orders`], [`payments`], [`deliveries`], [`views`]), the probes
//! ([`health`], served on the admin port only, not by [`api`]), the
//! cluster status for operators ([`status`],
//! `GET /status.json`) and the web pages ([`pages`]: `/`, `/owner`,
//! `/status` and `/assets/...`).
//!
//! [`api`] tries the groups in turn; their paths do not overlap (the pages
//! match `/` exactly, `/owner`, `/status` and `/assets/{name}` only), so
//! anything else still reaches the JSON 404 of [`crate::error::recover`].
//! Every answer is counted by [`crate::traffic`].

pub mod deliveries;
pub mod health;
pub mod orders;
pub mod pages;
pub mod payments;
pub mod status;
pub mod views;

use warp::{filters::BoxedFilter, reply::Response, Filter};

use crate::{error::recover, state::EdgeState, traffic};

/// A filter handing the shared state to handlers.
pub fn with_state(
    state: EdgeState,
) -> impl Filter<Extract = (EdgeState,), Error = std::convert::Infallible> + Clone {
    warp::any().map(move || state.clone())
}

/// The whole public API and the web pages, with errors mapped to the JSON
/// error body and every answer counted.
pub fn api(state: EdgeState) -> BoxedFilter<(Response,)> {
    let routes = orders::routes(state.clone())
        .or(payments::routes(state.clone()))
        .unify()
        .or(deliveries::routes(state.clone()))
        .unify()
        .or(views::routes(state.clone()))
        .unify()
        .or(status::routes(state.clone()))
        .unify()
        .or(pages::routes())
        .unify()
        .recover(recover)
        .unify()
        .boxed();
    traffic::counted(routes)
}
