//! The one table from errors to HTTP statuses, stable error codes and the
//! messages clients see.
//!
//! Every error answer is `{"error": {"code": "...", "message": "..."}}`.
//! Client mistakes are 4xx, with a message that names what was wrong with
//! the request (it is ours, built from the client's input); a dependency
//! that is down or a node that is overloaded is `503` with `Retry-After`;
//! a 5xx other than 503 means a bug or a broken disk.
//!
//! A 5xx answer never carries the text of the error behind it: that text
//! may come from Redis, sled, I/O or a decoder, or from whatever a service
//! actor put in its message, and may name hosts, keys or internals. The
//! client gets a fixed message per code ([`ApiError::public_message`]);
//! the original goes to the log with the request's correlation id.

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
    /// The body did not arrive within the body-read timeout.
    #[error("the request body did not arrive in time")]
    BodyTimeout,
    /// A bad query parameter.
    #[error("{0}")]
    BadQuery(String),
    /// No such route.
    #[error("no such route")]
    NoRoute,
    /// Route exists, method does not.
    #[error("method not allowed on this route")]
    MethodNotAllowed,
    /// A bad request header.
    #[error("{0}")]
    BadHeader(String),
    /// A route that needs a token, without one.
    #[error("this route needs a bearer token: a customer token or the owner's")]
    Unauthorized,
    /// A bearer token that is neither the owner's nor a customer token.
    #[error("the bearer token is not valid")]
    InvalidToken,
    /// An owner route with a token that is not the owner's.
    #[error("this route is the shop owner's, and the token given is not the owner token")]
    Forbidden,
    /// The client sent too many tokens that matched nobody lately.
    #[error("too many failed token attempts; try again in {0} s")]
    TooManyAttempts(u32),
    /// Redis (views) unreachable; the text is for the log only.
    #[error("the views are unavailable: {0}")]
    ViewsUnavailable(String),
    /// The node has as many requests in flight as it takes.
    #[error("too many requests in flight")]
    Overloaded,
    /// The listener has as many connections open as it takes.
    #[error("too many connections")]
    TooManyConnections,
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
                ServiceError::PriceMismatch { .. } => {
                    (StatusCode::CONFLICT, "price_mismatch", None)
                }
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
            Self::BodyTimeout => (StatusCode::REQUEST_TIMEOUT, "body_timeout", None),
            Self::BadQuery(_) => (StatusCode::BAD_REQUEST, "invalid_query", None),
            Self::NoRoute => (StatusCode::NOT_FOUND, "no_route", None),
            Self::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", None),
            Self::BadHeader(_) => (StatusCode::BAD_REQUEST, "invalid_header", None),
            Self::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized", None),
            Self::InvalidToken => (StatusCode::UNAUTHORIZED, "invalid_token", None),
            Self::Forbidden => (StatusCode::FORBIDDEN, "forbidden", None),
            Self::TooManyAttempts(secs) => (
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_attempts",
                Some(*secs),
            ),
            Self::ViewsUnavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable", Some(1)),
            Self::Overloaded | Self::TooManyConnections => {
                (StatusCode::SERVICE_UNAVAILABLE, "overloaded", Some(1))
            }
        }
    }

    /// What the client is told. 4xx: the error itself (it describes the
    /// request). 5xx: a fixed sentence per code, whatever the error holds.
    pub fn public_message(&self) -> String {
        let (status, _, retry_after) = self.classify();
        if !status.is_server_error() {
            return self.to_string();
        }
        let s = retry_after.unwrap_or(1);
        match self {
            Self::Service(ServiceError::PaymentUnavailable { .. }) => {
                format!("payment is busy; the order was not placed. Please try again in {s} s")
            }
            Self::Overloaded => format!("the shop is busy; please try again in {s} s"),
            Self::TooManyConnections => {
                format!("the shop has too many connections; please try again in {s} s")
            }
            _ if status == StatusCode::SERVICE_UNAVAILABLE => {
                format!("the shop is briefly unavailable; please try again in {s} s")
            }
            _ => "something went wrong on our side; it was logged under this request's correlation id"
                .into(),
        }
    }

    /// Whether the error holds text the client must not see (logged
    /// instead).
    fn has_detail(&self) -> bool {
        matches!(
            self,
            Self::Service(
                ServiceError::PaymentUnavailable { .. }
                    | ServiceError::Unavailable { .. }
                    | ServiceError::Internal { .. }
            ) | Self::ViewsUnavailable(_)
        )
    }

    /// Logs what [`ApiError::public_message`] leaves out, with the
    /// correlation id: a 500 at error level, a 503 at warn.
    fn log_detail(&self, correlation_id: &str, code: &str, status: StatusCode) {
        if !status.is_server_error() || !self.has_detail() {
            return;
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            tracing::warn!(%correlation_id, code, error = %self, "answered 503");
        } else {
            tracing::error!(%correlation_id, code, error = %self, "request failed");
        }
    }

    /// The error as a response.
    pub fn into_response_with(self, correlation_id: &str) -> Response {
        let (status, code, retry_after) = self.classify();
        let message = self.public_message();
        self.log_detail(correlation_id, code, status);
        let mut body = json!({"error": {"code": code, "message": message}});
        // A price mismatch says what the order costs now.
        if let Self::Service(ServiceError::PriceMismatch { price, .. }) = &self {
            body["error"]["price"] = json!(price);
        }
        let mut resp = crate::respond::json(status, &body, correlation_id);
        if let Some(s) = retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        // These refuse a body without reading it (all of it): the connection
        // cannot carry another request, so say so, or a client reusing it
        // would see its next request fail.
        if matches!(
            self,
            Self::PayloadTooLarge(_) | Self::UnsupportedMediaType | Self::BodyTimeout
        ) {
            resp.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        if status == StatusCode::UNAUTHORIZED {
            let challenge = if matches!(self, Self::InvalidToken) {
                "Bearer error=\"invalid_token\""
            } else {
                "Bearer"
            };
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        resp
    }
}

/// A part of a successful answer that failed (`/status.json` reports its
/// parts one by one): the error's code for the answer, its detail to the
/// log (inside the request's span, which carries the correlation id).
pub fn reported(err: impl Into<ApiError>) -> String {
    let err = err.into();
    let (_, code, _) = err.classify();
    tracing::warn!(code, error = %err, "part of an answer failed");
    code.to_string()
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
        ApiError::BadHeader("malformed header".into())
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
            (ApiError::InvalidToken, 401),
            (ApiError::Forbidden, 403),
            (ApiError::BadHeader("x".into()), 400),
            (
                ApiError::Service(ServiceError::PriceMismatch {
                    price: 20000,
                    message: "x".into(),
                }),
                409,
            ),
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
        let resp = ApiError::TooManyAttempts(7).into_response_with("c");
        assert_eq!(resp.status(), 429);
        assert_eq!(resp.headers()[header::RETRY_AFTER], "7");
        let resp = busy.into_response_with("c");
        assert_eq!(resp.status(), 503);
        assert_eq!(resp.headers()[header::RETRY_AFTER], "2");
        assert_eq!(resp.headers()["x-correlation-id"], "c");
    }

    #[test]
    fn server_errors_never_show_their_text_and_client_errors_keep_theirs() {
        let secret = "redis: Connection refused (os error 111) at 10.0.0.7:6379";
        let cases = [
            ApiError::Service(ServiceError::Internal {
                message: secret.into(),
            }),
            ApiError::Service(ServiceError::Unavailable {
                message: secret.into(),
                retry_after_secs: 1,
            }),
            ApiError::Service(ServiceError::PaymentUnavailable {
                message: secret.into(),
                retry_after_secs: 2,
            }),
            ApiError::ViewsUnavailable(secret.into()),
            ApiError::Overloaded,
        ];
        for e in cases {
            let (status, code, _) = e.classify();
            assert!(status.is_server_error(), "{e:?}");
            let shown = e.public_message();
            for leak in ["redis", "refused", "10.0.0.7", "os error"] {
                assert!(!shown.contains(leak), "{code}: {shown}");
            }
            assert_eq!(reported(e), code);
        }
        let invalid = ApiError::Service(ServiceError::Invalid {
            field: "price".into(),
            message: "must be a positive whole number".into(),
        });
        assert_eq!(
            invalid.public_message(),
            "price: must be a positive whole number"
        );
        let timeout = ApiError::BodyTimeout.into_response_with("c");
        assert_eq!(timeout.status(), 408);
        assert_eq!(timeout.headers()[header::CONNECTION], "close");
    }
}
