//! Correlation ids: taken from `X-Correlation-Id` when it is sane, made up
//! otherwise, and returned on every response.

use warp::Filter;

/// The header.
pub const HEADER: &str = "x-correlation-id";

/// Accepts 1..=128 characters of `[A-Za-z0-9._:-]`; anything else is
/// replaced (it will be written into logs and events).
pub fn accept_or_new(given: Option<&str>) -> String {
    match given {
        Some(id)
            if !id.is_empty()
                && id.len() <= 128
                && id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._:-".contains(c)) =>
        {
            id.to_string()
        }
        _ => uuid::Uuid::new_v4().to_string(),
    }
}

/// A filter extracting the request's correlation id.
pub fn correlation_id() -> impl Filter<Extract = (String,), Error = std::convert::Infallible> + Clone
{
    // The raw value: one that is not text is replaced, never a rejection.
    warp::header::value(HEADER)
        .map(|v: warp::http::HeaderValue| accept_or_new(v.to_str().ok()))
        .or(warp::any().map(|| accept_or_new(None)))
        .unify()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sane_ids_are_kept_and_others_replaced() {
        assert_eq!(accept_or_new(Some("abc-123")), "abc-123");
        for bad in [None, Some(""), Some("a b"), Some("<script>")] {
            let id = accept_or_new(bad);
            assert_eq!(id.len(), 36, "{bad:?} -> {id}");
        }
        assert_ne!(accept_or_new(Some(&"x".repeat(129))), "x".repeat(129));
    }
}
