//! All routes of the edge, one module per group: the JSON API
//! ([`catalog`], [`orders`], [`payments`], [`deliveries`], [`views`]) and
//! its description ([`openapi`]), the probes ([`health`], served on the
//! admin port only, not by [`api`]), the cluster status for operators
//! ([`status`],
//! `GET /status.json`) and the web pages ([`pages`]: `/`, `/owner`,
//! `/status` and `/assets/...`).
//!
//! [`api`] tries the groups in turn; their paths do not overlap (the pages
//! match `/` exactly, `/owner`, `/status` and `/assets/{name}` only), so
//! anything else still reaches the JSON 404 of [`crate::error::recover`].
//! Every answer is counted by [`crate::traffic`].

pub mod catalog;
pub mod deliveries;
pub mod health;
pub mod openapi;
pub mod orders;
pub mod pages;
pub mod payments;
pub mod status;
pub mod views;

use warp::{
    filters::BoxedFilter,
    http::{header, HeaderValue, StatusCode},
    path::FullPath,
    reply::Response,
    Filter,
};

use crate::{auth::Access, error::recover, state::EdgeState, traffic};

/// One route of the public port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Route {
    /// Its method.
    pub method: &'static str,
    /// Its path; `{name}` stands for one path segment.
    pub path: &'static str,
    /// Who may use it (`None`: anyone, no token looked at: pages, the
    /// catalog and the API description).
    pub access: Option<Access>,
}

const fn route(method: &'static str, path: &'static str, access: Option<Access>) -> Route {
    Route {
        method,
        path,
        access,
    }
}

const OWNER: Option<Access> = Some(Access::Owner);
const CUSTOMER: Option<Access> = Some(Access::CustomerOrOwner);

/// Every route of the public port: what the OpenAPI description must
/// describe and the tests walk (`nodes/tests/integration/openapi.rs`,
/// `nodes/tests/integration/access.rs`), and where a `405` finds its
/// `Allow` header.
pub const TABLE: [Route; 20] = [
    route("GET", "/catalog", None),
    route("POST", "/orders", Some(Access::Anyone)),
    route("GET", "/orders", OWNER),
    route("GET", "/orders/{id}", CUSTOMER),
    route("POST", "/orders/{id}/cancel", CUSTOMER),
    route("GET", "/payments", OWNER),
    route("GET", "/payments/{orderId}", CUSTOMER),
    route("GET", "/myPages", CUSTOMER),
    route("GET", "/myPages/{orderId}", CUSTOMER),
    route("GET", "/orderDetails", OWNER),
    route("GET", "/orderDetails/{orderId}", OWNER),
    route("GET", "/deliveries", OWNER),
    route("POST", "/deliveries", OWNER),
    route("GET", "/deliveries/{orderId}", OWNER),
    route("GET", "/status.json", OWNER),
    route("GET", "/openapi.json", None),
    route("GET", "/", None),
    route("GET", "/owner", None),
    route("GET", "/status", None),
    route("GET", "/assets/{name}", None),
];

/// Whether `path` (of a request) fits `pattern`.
pub fn matches(pattern: &str, path: &str) -> bool {
    let (p, q) = (pattern.split('/'), path.split('/'));
    p.clone().count() == q.clone().count()
        && p.zip(q).all(|(p, q)| {
            if p.starts_with('{') {
                !q.is_empty()
            } else {
                p == q
            }
        })
}

/// The methods the routes at `path` take (for `Allow`).
pub fn allowed_methods(path: &str) -> Vec<&'static str> {
    let mut methods: Vec<&'static str> = TABLE
        .iter()
        .filter(|r| matches(r.path, path))
        .map(|r| r.method)
        .collect();
    methods.dedup();
    methods
}

/// A filter handing the shared state to handlers.
pub fn with_state(
    state: EdgeState,
) -> impl Filter<Extract = (EdgeState,), Error = std::convert::Infallible> + Clone {
    warp::any().map(move || state.clone())
}

/// The whole public API and the web pages, with errors mapped to the JSON
/// error body and every answer counted.
pub fn api(state: EdgeState) -> BoxedFilter<(Response,)> {
    let routes = catalog::routes(state.clone())
        .or(orders::routes(state.clone()))
        .unify()
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
        .or(openapi::routes(&state.settings.catalog))
        .unify()
        .recover(recover)
        .unify();
    // A 405 says which methods the path takes.
    let routes = warp::path::full()
        .and(routes)
        .map(|path: FullPath, mut resp: Response| {
            if resp.status() == StatusCode::METHOD_NOT_ALLOWED {
                let allow = allowed_methods(path.as_str()).join(", ");
                if let Ok(v) = HeaderValue::from_str(&allow) {
                    resp.headers_mut().insert(header::ALLOW, v);
                }
            }
            resp
        })
        .boxed();
    traffic::counted(routes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_match_their_patterns_and_a_405_knows_the_methods() {
        assert!(matches("/", "/"));
        assert!(matches("/orders/{id}", "/orders/0-1"));
        assert!(!matches("/orders/{id}", "/orders/"));
        assert!(!matches("/orders/{id}", "/orders/0-1/cancel"));
        assert!(matches("/orders/{id}/cancel", "/orders/x/cancel"));
        assert_eq!(allowed_methods("/orders"), ["POST", "GET"]);
        assert_eq!(allowed_methods("/deliveries"), ["GET", "POST"]);
        assert_eq!(allowed_methods("/orders/0-1/cancel"), ["POST"]);
        assert!(allowed_methods("/nowhere").is_empty());
    }
}
