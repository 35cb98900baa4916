//! Building responses: JSON bodies, status, and the correlation header.

use serde::Serialize;
use warp::{
    http::{header, HeaderValue, StatusCode},
    reply::Response,
    Reply,
};

use crate::{correlation, error::ApiError};

/// A JSON response with `status`.
pub fn json<T: Serialize>(status: StatusCode, body: &T, correlation_id: &str) -> Response {
    let mut resp = warp::reply::with_status(warp::reply::json(body), status).into_response();
    if let Ok(v) = HeaderValue::from_str(correlation_id) {
        resp.headers_mut().insert(correlation::HEADER, v);
    }
    resp
}

/// A `201 Created` with `Location`.
pub fn created<T: Serialize>(body: &T, location: &str, correlation_id: &str) -> Response {
    let mut resp = json(StatusCode::CREATED, body, correlation_id);
    if let Ok(v) = HeaderValue::from_str(location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}

/// `Ok` as `200` JSON, `Err` through the error table.
pub fn result<T: Serialize>(r: Result<T, ApiError>, correlation_id: &str) -> Response {
    match r {
        Ok(v) => json(StatusCode::OK, &v, correlation_id),
        Err(e) => e.into_response_with(correlation_id),
    }
}
