//! Reading a JSON request body: content type, size limit (counted while
//! reading, so a chunked body cannot exceed it either), UTF-8 and JSON
//! syntax, each with its own clear error. A body that does not arrive
//! within the server's body-read timeout is `408` ([`crate::server`] gives
//! every request body its deadline).

use futures_util::StreamExt;
use serde_json::Value;
use warp::{Buf, Filter};

use crate::error::ApiError;

/// Extracts the body as JSON, or the reason it is not acceptable.
pub fn json_body(
    limit: u64,
) -> impl Filter<Extract = (Result<Value, ApiError>,), Error = warp::Rejection> + Clone {
    // Headers are read raw: a header that is not valid text is this
    // body's problem (415), never a rejection that another route's `405`
    // could win over.
    warp::header::headers_cloned()
        .and(warp::body::stream())
        .then(move |headers: warp::http::HeaderMap, body| {
            let ctype = headers
                .get(warp::http::header::CONTENT_TYPE)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
            let length = headers
                .get(warp::http::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
            read(ctype, length, body, limit)
        })
}

async fn read<S, B>(
    ctype: Option<String>,
    length: Option<u64>,
    body: S,
    limit: u64,
) -> Result<Value, ApiError>
where
    S: futures_util::Stream<Item = Result<B, warp::Error>>,
    B: Buf,
{
    if let Some(ct) = ctype {
        let essence = ct
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if essence != "application/json" {
            return Err(ApiError::UnsupportedMediaType);
        }
    }
    if length.is_some_and(|n| n > limit) {
        return Err(ApiError::PayloadTooLarge(Some(limit)));
    }
    let mut body = std::pin::pin!(body);
    let mut bytes = Vec::new();
    while let Some(chunk) = body.next().await {
        let mut chunk = chunk.map_err(unreadable)?;
        if bytes.len() as u64 + chunk.remaining() as u64 > limit {
            return Err(ApiError::PayloadTooLarge(Some(limit)));
        }
        while chunk.has_remaining() {
            let part = chunk.chunk();
            bytes.extend_from_slice(part);
            let n = part.len();
            chunk.advance(n);
        }
    }
    parse(&bytes)
}

/// Why a body stream failed: its deadline passed, or the connection broke
/// (whose I/O error text is not the client's business).
fn unreadable(e: warp::Error) -> ApiError {
    if crate::server::is_body_timeout(&e) {
        ApiError::BodyTimeout
    } else {
        tracing::debug!(error = %e, "the request body could not be read");
        ApiError::MalformedJson("the body could not be read".into())
    }
}

/// Parses bytes as JSON with precise errors.
pub fn parse(bytes: &[u8]) -> Result<Value, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::MalformedJson("the body is empty".into()));
    }
    let text = std::str::from_utf8(bytes)
        .map_err(|_| ApiError::MalformedJson("the body is not UTF-8".into()))?;
    serde_json::from_str(text).map_err(|e| ApiError::MalformedJson(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_non_utf8_deep_and_broken_bodies_are_malformed() {
        let deep = "[".repeat(10_000) + &"]".repeat(10_000);
        for bad in [&b""[..], b"  ", b"\xff\xfe", b"{\"a\":", deep.as_bytes()] {
            assert!(
                matches!(parse(bad), Err(ApiError::MalformedJson(_))),
                "{:?}",
                String::from_utf8_lossy(&bad[..bad.len().min(10)])
            );
        }
        assert!(parse(b"{\"a\":1}").is_ok());
    }
}
