//! Correlation ids and W3C trace context.
//!
//! A request's correlation id is its `X-Correlation-Id` when that is sane;
//! else, when it carries a valid W3C `traceparent`, that header's trace id
//! (32 hex digits), so a trace started by a caller and our logs line up;
//! else a new one. It is returned on every response.
//!
//! A valid `traceparent` also travels with the request to the service
//! actors and into the events they write (the envelope's `traceparent`),
//! normalised to version `00`. The server sets it around every request it
//! serves ([`with_traceparent`]); a handler building a cluster message
//! reads it with [`current_traceparent`].

use warp::{http::HeaderMap, Filter};

/// The header.
pub const HEADER: &str = "x-correlation-id";

/// The W3C trace context header.
pub const TRACEPARENT: &str = "traceparent";

/// Accepts 1..=128 characters of `[A-Za-z0-9._:-]`; anything else is
/// replaced (it will be written into logs and events).
pub fn accept_or_new(given: Option<&str>) -> String {
    given
        .filter(|id| is_sane(id))
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

fn is_sane(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._:-".contains(c))
}

/// A parsed `traceparent`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceParent {
    /// 32 lowercase hex digits, not all zero.
    pub trace_id: String,
    /// 16 lowercase hex digits, not all zero.
    pub parent_id: String,
    /// 2 hex digits.
    pub flags: String,
}

impl TraceParent {
    /// Parses a `traceparent` value as the W3C Trace Context spec says: a
    /// version of 2 hex digits other than `ff`; for version `00` exactly
    /// four fields, for a later version the first four (what follows is
    /// that version's business); ids not all zeros; lowercase hex only.
    pub fn parse(value: &str) -> Option<Self> {
        let value = value.trim();
        let mut fields = value.split('-');
        let (version, trace_id, parent_id, flags) = (
            fields.next()?,
            fields.next()?,
            fields.next()?,
            fields.next()?,
        );
        let hex = |s: &str, n: usize| {
            s.len() == n
                && s.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        };
        let zero = |s: &str| s.bytes().all(|b| b == b'0');
        let ok = hex(version, 2)
            && version != "ff"
            && (version != "00" || fields.next().is_none())
            && hex(trace_id, 32)
            && !zero(trace_id)
            && hex(parent_id, 16)
            && !zero(parent_id)
            && hex(flags, 2);
        ok.then(|| Self {
            trace_id: trace_id.to_string(),
            parent_id: parent_id.to_string(),
            flags: flags.to_string(),
        })
    }

    /// The header value, version `00`.
    pub fn header(&self) -> String {
        format!("00-{}-{}-{}", self.trace_id, self.parent_id, self.flags)
    }
}

tokio::task_local! {
    static CURRENT_TRACEPARENT: Option<String>;
}

/// The valid `traceparent` of `headers`, normalised.
pub fn traceparent_of(headers: &HeaderMap) -> Option<String> {
    headers
        .get(TRACEPARENT)
        .and_then(|v| v.to_str().ok())
        .and_then(TraceParent::parse)
        .map(|t| t.header())
}

/// Runs `fut` (serving one request) with `traceparent` as its
/// [`current_traceparent`].
pub async fn with_traceparent<F: std::future::Future>(
    traceparent: Option<String>,
    fut: F,
) -> F::Output {
    CURRENT_TRACEPARENT.scope(traceparent, fut).await
}

/// The `traceparent` of the request being served, if it had a valid one.
pub fn current_traceparent() -> Option<String> {
    CURRENT_TRACEPARENT.try_with(Clone::clone).ok().flatten()
}

/// The correlation id the request gives, if any: a sane `X-Correlation-Id`,
/// else the trace id of a valid `traceparent`.
pub fn given(headers: &HeaderMap) -> Option<String> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    match text(HEADER) {
        Some(id) if is_sane(id) => Some(id.to_string()),
        // An insane id is replaced rather than derived from elsewhere.
        Some(_) => None,
        None => text(TRACEPARENT)
            .and_then(TraceParent::parse)
            .map(|t| t.trace_id),
    }
}

/// The correlation id of a request with these headers.
pub fn of(correlation: Option<&str>, traceparent: Option<&str>) -> String {
    match correlation {
        Some(_) => accept_or_new(correlation),
        None => match traceparent.and_then(TraceParent::parse) {
            Some(t) => t.trace_id,
            None => accept_or_new(None),
        },
    }
}

/// A filter extracting the request's correlation id.
pub fn correlation_id() -> impl Filter<Extract = (String,), Error = std::convert::Infallible> + Clone
{
    // The raw headers: a value that is not text is replaced, never a
    // rejection (which another route's 405 could win over).
    warp::header::headers_cloned().map(|h: HeaderMap| {
        let text = |name: &str| h.get(name).map(|v| v.to_str().unwrap_or("\u{0}"));
        of(text(HEADER), text(TRACEPARENT))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TP: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn sane_ids_are_kept_and_others_replaced() {
        assert_eq!(accept_or_new(Some("abc-123")), "abc-123");
        for bad in [None, Some(""), Some("a b"), Some("<script>")] {
            let id = accept_or_new(bad);
            assert_eq!(id.len(), 36, "{bad:?} -> {id}");
        }
        assert_ne!(accept_or_new(Some(&"x".repeat(129))), "x".repeat(129));
    }

    #[test]
    fn a_valid_traceparent_parses_and_invalid_ones_do_not() {
        let t = TraceParent::parse(TP).expect("valid");
        assert_eq!(t.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(t.parent_id, "00f067aa0ba902b7");
        assert_eq!(t.header(), TP);
        // A later version may add fields; it is carried on as version 00.
        let later = "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-ever";
        assert_eq!(TraceParent::parse(later).expect("later").header(), TP);
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "0-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1g",
        ] {
            assert_eq!(TraceParent::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_trace_id_is_the_correlation_id_only_without_x_correlation_id() {
        assert_eq!(of(None, Some(TP)), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(of(Some("mine"), Some(TP)), "mine");
        assert_eq!(of(None, Some("garbage")).len(), 36);
        let mut h = HeaderMap::new();
        assert_eq!(given(&h), None);
        h.insert(TRACEPARENT, TP.parse().expect("value"));
        assert_eq!(
            given(&h).as_deref(),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
        h.insert(HEADER, "mine".parse().expect("value"));
        assert_eq!(given(&h).as_deref(), Some("mine"));
        h.insert(HEADER, "no spaces please".parse().expect("value"));
        assert_eq!(given(&h), None);
    }

    #[tokio::test]
    async fn the_traceparent_is_current_while_its_request_is_served() {
        let mut h = HeaderMap::new();
        h.insert(TRACEPARENT, TP.parse().expect("value"));
        let tp = traceparent_of(&h);
        assert_eq!(tp.as_deref(), Some(TP));
        let seen = with_traceparent(tp, async { current_traceparent() }).await;
        assert_eq!(seen.as_deref(), Some(TP));
        assert_eq!(current_traceparent(), None, "outside a request");
        h.insert(TRACEPARENT, "nonsense".parse().expect("value"));
        assert_eq!(traceparent_of(&h), None);
    }
}
