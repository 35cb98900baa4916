//! Judging a request's `Authorization` header ([`credentials`]) and
//! admitting it on a route ([`Access`]).

use std::{
    convert::Infallible,
    net::{IpAddr, Ipv4Addr, SocketAddr},
    time::Instant,
};

use kukka_actors::order::{customer::CustomerId, idempotency::KeyScope};
use warp::{
    http::{header, HeaderMap},
    Filter,
};

use crate::{error::ApiError, state::EdgeState};

/// The address of the connection's peer, put on every request by the
/// server (`crate::server`).
#[derive(Clone, Copy, Debug)]
pub struct PeerAddr(pub SocketAddr);

/// Who is calling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Caller {
    /// No token.
    Anonymous,
    /// The shop owner.
    Owner,
    /// A customer.
    Customer(CustomerId),
}

impl Caller {
    /// The customer whose orders are all the caller may see; `None`: every
    /// order (the owner). Only for callers a route admitted.
    pub fn only_orders_of(&self) -> Option<CustomerId> {
        match self {
            Self::Customer(c) => Some(*c),
            Self::Owner | Self::Anonymous => None,
        }
    }

    /// Whose `Idempotency-Key`s the caller's are.
    pub fn key_scope(&self) -> KeyScope {
        match self {
            Self::Anonymous => KeyScope::Anonymous,
            Self::Owner => KeyScope::Owner,
            Self::Customer(c) => KeyScope::Customer(*c),
        }
    }
}

/// What a request's `Authorization` header amounts to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Credentials {
    /// A known caller (anonymous when there is no bearer token).
    Known(Caller),
    /// A bearer token that is neither the owner's nor a customer's.
    Invalid,
    /// The client failed too often lately; refused for this many seconds.
    Locked(u32),
}

/// Who may use a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Anyone; a token, if given, must be valid (it says who places an
    /// order).
    Anyone,
    /// A customer (their own orders) or the owner (all).
    CustomerOrOwner,
    /// The owner only.
    Owner,
}

impl Access {
    /// The caller, if this route admits it: `401` without a token (or with
    /// a token that matches nobody, outside owner routes), `403` for a
    /// token that is not the owner's on an owner route, `429` for a client
    /// that failed too often.
    pub fn admit(self, credentials: Credentials) -> Result<Caller, ApiError> {
        use Credentials::{Invalid, Known, Locked};
        match (self, credentials) {
            (_, Locked(secs)) => Err(ApiError::TooManyAttempts(secs)),
            (Self::Owner, Known(Caller::Owner)) => Ok(Caller::Owner),
            (Self::Owner, Known(Caller::Anonymous)) => Err(ApiError::Unauthorized),
            (Self::Owner, Known(Caller::Customer(_)) | Invalid) => Err(ApiError::Forbidden),
            (Self::CustomerOrOwner, Known(Caller::Anonymous)) => Err(ApiError::Unauthorized),
            (Self::CustomerOrOwner | Self::Anyone, Invalid) => Err(ApiError::InvalidToken),
            (Self::CustomerOrOwner | Self::Anyone, Known(caller)) => Ok(caller),
        }
    }
}

/// The bearer token of `Authorization: Bearer <token>` (scheme in any
/// case); `None` without one (no header, another scheme, no token).
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Compares in time independent of where the first difference is.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for (i, x) in a.iter().enumerate() {
        diff |= usize::from(x ^ b.get(i % b.len().max(1)).copied().unwrap_or(0));
    }
    diff == 0
}

/// The client a request comes from: from `--client-ip-header` when the
/// edge is told to trust it (the last address of `X-Forwarded-For`, the
/// one the nearest proxy added), else the peer's address.
pub fn client_of(header: Option<&str>, headers: &HeaderMap, peer: Option<PeerAddr>) -> IpAddr {
    let from_header = header.and_then(|name| {
        let value = headers.get(name)?.to_str().ok()?;
        value.rsplit(',').next()?.trim().parse::<IpAddr>().ok()
    });
    from_header
        .or(peer.map(|p| p.0.ip()))
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
}

/// Judges the request's credentials (see the module docs).
pub fn judge(state: &EdgeState, headers: &HeaderMap, peer: Option<PeerAddr>) -> Credentials {
    let Some(token) = bearer(headers) else {
        return Credentials::Known(Caller::Anonymous);
    };
    let client = client_of(state.settings.client_ip_header.as_deref(), headers, peer);
    let now = Instant::now();
    if let Some(wait) = state.limiter.locked_for(client, now) {
        let secs = u32::try_from(wait.as_secs().saturating_add(1)).unwrap_or(u32::MAX);
        return Credentials::Locked(secs);
    }
    if let Some(owner) = &state.settings.owner_token {
        if constant_time_eq(token.as_bytes(), owner.as_bytes()) {
            return Credentials::Known(Caller::Owner);
        }
    }
    if let Some(customer) = state.tokens.verify(token) {
        return Credentials::Known(Caller::Customer(customer));
    }
    state.limiter.failed(client, now);
    tracing::info!(%client, "a bearer token matched nobody");
    Credentials::Invalid
}

/// The request's [`Credentials`]. Never rejects: a route decides what they
/// are worth with [`Access::admit`].
pub fn credentials(
    state: EdgeState,
) -> impl Filter<Extract = (Credentials,), Error = Infallible> + Clone {
    warp::header::headers_cloned()
        .and(warp::ext::optional::<PeerAddr>())
        .map(move |headers: HeaderMap, peer: Option<PeerAddr>| judge(&state, &headers, peer))
}

#[cfg(test)]
mod tests {
    use super::*;
    use warp::http::HeaderValue;

    #[test]
    fn constant_time_eq_compares_exactly() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
        assert!(!constant_time_eq(b"", b"x"));
        assert!(constant_time_eq(b"", b""));
    }

    #[test]
    fn the_client_is_the_peer_unless_a_trusted_proxy_says_otherwise() {
        let peer = Some(PeerAddr("10.0.0.9:4242".parse().expect("addr")));
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            HeaderValue::from_static("6.6.6.6, 203.0.113.7"),
        );
        let ip = |s: &str| s.parse::<IpAddr>().expect("ip");
        assert_eq!(client_of(None, &h, peer), ip("10.0.0.9"), "not trusted");
        assert_eq!(
            client_of(Some("x-forwarded-for"), &h, peer),
            ip("203.0.113.7"),
            "the address the nearest proxy added"
        );
        assert_eq!(
            client_of(Some("x-real-ip"), &h, peer),
            ip("10.0.0.9"),
            "no such header: the peer"
        );
        h.insert("x-forwarded-for", HeaderValue::from_static("garbage"));
        assert_eq!(client_of(Some("x-forwarded-for"), &h, peer), ip("10.0.0.9"));
    }

    #[test]
    fn only_bearer_tokens_count() {
        let with = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(
                header::AUTHORIZATION,
                HeaderValue::from_str(v).expect("value"),
            );
            bearer(&h).map(String::from)
        };
        assert_eq!(with("Bearer abc").as_deref(), Some("abc"));
        assert_eq!(with("bearer  abc ").as_deref(), Some("abc"));
        assert_eq!(with("BEARER abc").as_deref(), Some("abc"));
        assert_eq!(with("Basic abc"), None);
        assert_eq!(with("Bearer "), None);
        assert_eq!(with("abc"), None);
        assert_eq!(bearer(&HeaderMap::new()), None);
    }

    #[test]
    fn each_access_admits_exactly_whom_the_design_says() {
        use Credentials::{Invalid, Known, Locked};
        let c = Caller::Customer(CustomerId::random());
        let status = |a: Access, cr: Credentials| match a.admit(cr) {
            Ok(_) => 200,
            Err(e) => e.classify().0.as_u16(),
        };
        let table = [
            (Access::Owner, Known(Caller::Anonymous), 401),
            (Access::Owner, Known(c), 403),
            (Access::Owner, Invalid, 403),
            (Access::Owner, Known(Caller::Owner), 200),
            (Access::CustomerOrOwner, Known(Caller::Anonymous), 401),
            (Access::CustomerOrOwner, Invalid, 401),
            (Access::CustomerOrOwner, Known(c), 200),
            (Access::CustomerOrOwner, Known(Caller::Owner), 200),
            (Access::Anyone, Known(Caller::Anonymous), 200),
            (Access::Anyone, Invalid, 401),
            (Access::Anyone, Known(c), 200),
            (Access::Owner, Locked(3), 429),
            (Access::Anyone, Locked(3), 429),
        ];
        for (access, cr, expected) in table {
            assert_eq!(status(access, cr), expected, "{access:?} {cr:?}");
        }
    }
}
