//! The one table from errors to HTTP statuses and stable error codes.
//!
//! Every error answer is `{"error": {"code": "...", "message": "..."}}`.
//! Client mistakes are 4xx; a dependency that is down is `503` with
//! `Retry-After`; a 5xx other than 503 means a bug or a broken disk.

use std::convert::Infallible;

use kukka_actors::runtime::error::ServiceError;
use serde_json::json;
use warp::{
    http::{header, HeaderValue, StatusCode},
    reply::Response,
    Rejection,
};

/// Everything the edge can answer with instead of success.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// From a service actor.
    #[error(transparent)]
    Service(#[from] ServiceError),
    /// The body is not valid JSON (or not UTF-8, or nested too deep).
    #[error("the body is not valid JSON: {0}")]
    MalformedJson(String),
    /// Not `application/json`.
    #[error("the body must be application/json")]
    UnsupportedMediaType,
    /// Over the body limit (`None` when the limit is not known where the
    /// size was noticed).
    #[error("the body is too large{}", .0.map(|n| format!(": the limit is {n} bytes")).unwrap_or_default())]
    PayloadTooLarge(Option<u64>),
    /// A bad query parameter.
    #[error("{0}")]
    BadQuery(String),
    /// No such route.
    #[error("no such route")]
    NoRoute,
    /// Route exists, method does not.
    #[error("method not allowed on this route")]
    MethodNotAllowed,
    /// Owner route without a token.
    #[error("this route needs the owner's bearer token")]
    Unauthorized,
    /// Owner route with a wrong token.
    #[error("the owner token is wrong")]
    Forbidden,
    /// Redis (views) unreachable.
    #[error("the views are unavailable: {0}")]
    ViewsUnavailable(String),
}

impl ApiError {
    /// Status, stable code, and `Retry-After` seconds if any.
    pub fn classify(&self) -> (StatusCode, &'static str, Option<u32>) {
        match self {
            Self::Service(e) => match e {
                ServiceError::Invalid { .. } => {
                    (StatusCode::BAD_REQUEST, "validation_failed", None)
                }
                ServiceError::NotFound { .. } => (StatusCode::NOT_FOUND, "not_found", None),
                ServiceError::Conflict { .. } => (StatusCode::CONFLICT, "conflict", None),
                ServiceError::IdempotencyMismatch { .. } => (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "idempotency_key_reused",
                    None,
                ),
                ServiceError::PaymentUnavailable {
                    retry_after_secs, ..
                } => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "payment_unavailable",
                    Some(*retry_after_secs),
                ),
                ServiceError::Unavailable {
                    retry_after_secs, ..
                } => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    Some(*retry_after_secs),
                ),
                ServiceError::Internal { .. } => {
                    (StatusCode::INTERNAL_SERVER_ERROR, "internal", None)
                }
            },
            Self::MalformedJson(_) => (StatusCode::BAD_REQUEST, "malformed_json", None),
            Self::UnsupportedMediaType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                None,
            ),
            Self::PayloadTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", None),
            Self::BadQuery(_) => (StatusCode::BAD_REQUEST, "invalid_query", None),
            Self::NoRoute => (StatusCode::NOT_FOUND, "no_route", None),
            Self::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", None),
            Self::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized", None),
            Self::Forbidden => (StatusCode::FORBIDDEN, "forbidden", None),
            Self::ViewsUnavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable", Some(1)),
        }
    }

    /// The error as a response.
    pub fn into_response_with(self, correlation_id: &str) -> Response {
        let (status, code, retry_after) = self.classify();
        let message = match (&self, retry_after) {
            (Self::Service(ServiceError::PaymentUnavailable { .. }), Some(s)) => {
                format!("payment is busy; the order was not placed. Please try again in {s} s")
            }
            _ => self.to_string(),
        };
        if status.is_server_error() && status != StatusCode::SERVICE_UNAVAILABLE {
            tracing::error!(%correlation_id, error = %self, "request failed");
        }
        let mut resp = crate::respond::json(
            status,
            &json!({"error": {"code": code, "message": message}}),
            correlation_id,
        );
        if let Some(s) = retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        // These refuse a body without reading it (all of it): the connection
        // cannot carry another request, so say so, or a client reusing it
        // would see its next request fail.
        if matches!(self, Self::PayloadTooLarge(_) | Self::UnsupportedMediaType) {
            resp.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        resp
    }
}

impl From<kukka_storage::StorageError> for ApiError {
    fn from(e: kukka_storage::StorageError) -> Self {
        Self::ViewsUnavailable(e.to_string())
    }
}

/// Turns warp's rejections (no route, wrong method, body too large...) into
/// the JSON error body.
pub async fn recover(rejection: Rejection) -> Result<Response, Infallible> {
    let err = if rejection.is_not_found() {
        ApiError::NoRoute
    } else if rejection.find::<warp::reject::PayloadTooLarge>().is_some() {
        ApiError::PayloadTooLarge(None)
    } else if rejection.find::<warp::reject::MethodNotAllowed>().is_some() {
        ApiError::MethodNotAllowed
    } else if rejection.find::<warp::reject::LengthRequired>().is_some() {
        ApiError::MalformedJson("a Content-Length is required".into())
    } else if rejection
        .find::<warp::reject::UnsupportedMediaType>()
        .is_some()
    {
        ApiError::UnsupportedMediaType
    } else if rejection.find::<warp::reject::InvalidQuery>().is_some() {
        ApiError::BadQuery("malformed query string".into())
    } else if rejection.find::<warp::reject::InvalidHeader>().is_some()
        || rejection.find::<warp::reject::MissingHeader>().is_some()
    {
        ApiError::BadQuery("malformed header".into())
    } else {
        tracing::warn!(?rejection, "unhandled rejection");
        ApiError::NoRoute
    };
    Ok(err.into_response_with(&uuid::Uuid::new_v4().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_mistakes_are_4xx_and_outages_503_with_retry_after() {
        let cases = [
            (
                ApiError::Service(ServiceError::Invalid {
                    field: "price".into(),
                    message: "x".into(),
                }),
                400,
            ),
            (
                ApiError::Service(ServiceError::NotFound { what: "o".into() }),
                404,
            ),
            (
                ApiError::Service(ServiceError::Conflict {
                    message: "x".into(),
                }),
                409,
            ),
            (
                ApiError::Service(ServiceError::IdempotencyMismatch {
                    message: "x".into(),
                }),
                422,
            ),
            (ApiError::MalformedJson("x".into()), 400),
            (ApiError::UnsupportedMediaType, 415),
            (ApiError::PayloadTooLarge(Some(1)), 413),
            (ApiError::Unauthorized, 401),
            (ApiError::Forbidden, 403),
            (ApiError::MethodNotAllowed, 405),
        ];
        for (e, status) in cases {
            let (s, _, retry) = e.classify();
            assert_eq!(s.as_u16(), status, "{e:?}");
            assert!(retry.is_none());
        }
        let busy = ApiError::Service(ServiceError::PaymentUnavailable {
            message: "x".into(),
            retry_after_secs: 2,
        });
        let resp = ApiError::PayloadTooLarge(Some(1)).into_response_with("c");
        assert_eq!(resp.headers()[header::CONNECTION], "close");
        let resp = busy.into_response_with("c");
        assert_eq!(resp.status(), 503);
        assert_eq!(resp.headers()[header::RETRY_AFTER], "2");
        assert_eq!(resp.headers()["x-correlation-id"], "c");
    }
}
