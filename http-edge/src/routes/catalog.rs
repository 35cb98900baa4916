//! `GET /catalog`: the boxes for sale and their prices (public). The
//! customer page builds its form from it; the prices are the ones `POST
//! /orders` charges.

use warp::{filters::BoxedFilter, http::StatusCode, reply::Response, Filter};

use super::with_state;
use crate::{correlation::correlation_id, respond, state::EdgeState};

/// The catalog route.
pub fn routes(state: EdgeState) -> BoxedFilter<(Response,)> {
    warp::path!("catalog")
        .and(warp::get())
        .and(with_state(state))
        .and(correlation_id())
        .map(|state: EdgeState, cid: String| {
            respond::json(StatusCode::OK, &state.settings.catalog, &cid)
        })
        .boxed()
}
