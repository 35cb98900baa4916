//! What the edge records about every request it answers on its public port:
//! the metrics, the access log, and the totals of the status page.
//!
//! [`counted`] wraps the public API; after each response [`answered`]
//! - observes `kukka_http_requests_total` and
//!   `kukka_http_request_duration_seconds` with the labels `method`,
//!   `route` (the route template, e.g. `/orders/{id}`, or `other`: a fixed,
//!   small set, so a client cannot grow the registry by inventing paths or
//!   methods) and `status` (the code);
//! - writes one access-log line at info level, target `access` (method,
//!   route, path, status, duration, correlation id; `RUST_LOG=info,access=off`
//!   silences it), JSON like every line under `--log-format json`;
//! - adds one to the status page's totals per route group and status class
//!   ([`snapshot`]; rates are the difference between two snapshots, which
//!   the status page computes between its polls).
//!
//! The duration runs from the moment routing starts to the moment the
//! response head is ready (a streamed body is not waited for).

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::{Duration, Instant},
};

use kukka_actors::runtime::metrics::{self, HttpLabels};
use serde::Serialize;
use std::collections::BTreeMap;
use warp::{
    filters::BoxedFilter,
    http::{HeaderMap, HeaderValue, Method, StatusCode},
    path::FullPath,
    reply::Response,
    Filter,
};

use crate::correlation;

/// The tracing target of the access log.
pub const ACCESS_TARGET: &str = "access";

/// Every value of the status page's route groups.
pub const ROUTES: [&str; 11] = [
    "catalog",
    "orders",
    "payments",
    "deliveries",
    "myPages",
    "orderDetails",
    "pages",
    "status",
    "probes",
    "openapi",
    "other",
];

/// Every value of the status page's status classes.
pub const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// The status page's totals, `[route group][class]`.
static TOTALS: [[AtomicU64; CLASSES.len()]; ROUTES.len()] =
    [const { [const { AtomicU64::new(0) }; CLASSES.len()] }; ROUTES.len()];

/// The route template of a request path (`/orders/0-1/cancel` →
/// `/orders/{id}/cancel`), or `other` when no route has that shape.
pub fn route_template(path: &str) -> &'static str {
    let Some(path) = path.strip_prefix('/') else {
        return "other";
    };
    let mut segs = path.split('/');
    let parts: [Option<&str>; 4] = std::array::from_fn(|_| segs.next());
    let id = |s: &str| !s.is_empty();
    match parts {
        [Some(""), None, ..] => "/",
        [Some("orders"), None, ..] => "/orders",
        [Some("orders"), Some(i), None, _] if id(i) => "/orders/{id}",
        [Some("orders"), Some(i), Some("cancel"), None] if id(i) => "/orders/{id}/cancel",
        [Some("payments"), None, ..] => "/payments",
        [Some("payments"), Some(i), None, _] if id(i) => "/payments/{orderId}",
        [Some("deliveries"), None, ..] => "/deliveries",
        [Some("deliveries"), Some(i), None, _] if id(i) => "/deliveries/{orderId}",
        [Some("myPages"), None, ..] => "/myPages",
        [Some("myPages"), Some(i), None, _] if id(i) => "/myPages/{orderId}",
        [Some("orderDetails"), None, ..] => "/orderDetails",
        [Some("orderDetails"), Some(i), None, _] if id(i) => "/orderDetails/{orderId}",
        [Some("catalog"), None, ..] => "/catalog",
        [Some("status.json"), None, ..] => "/status.json",
        [Some("openapi.json"), None, ..] => "/openapi.json",
        [Some("owner"), None, ..] => "/owner",
        [Some("status"), None, ..] => "/status",
        [Some("assets"), Some(n), None, _] if id(n) => "/assets/{name}",
        _ => "other",
    }
}

/// The status page's route group of a request path.
pub fn route_of(path: &str) -> &'static str {
    let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
    match first {
        "catalog" => "catalog",
        "openapi.json" => "openapi",
        "orders" => "orders",
        "payments" => "payments",
        "deliveries" => "deliveries",
        "myPages" => "myPages",
        "orderDetails" => "orderDetails",
        "" | "owner" | "status" | "assets" => "pages",
        "status.json" => "status",
        "healthz" | "readyz" | "metrics" => "probes",
        _ => "other",
    }
}

/// The `method` label: the usual methods by name, anything else `other`.
pub fn method_label(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// The class of a status.
pub fn class_of(status: StatusCode) -> &'static str {
    match status.as_u16() / 100 {
        1 => "1xx",
        2 => "2xx",
        3 => "3xx",
        4 => "4xx",
        _ => "5xx",
    }
}

/// Records one answered request: metrics, the status page's totals and the
/// access-log line. `resp` gets the `X-Correlation-Id` header if its
/// handler did not set one (the id the request gave, or a new one).
pub fn answered(
    method: &Method,
    path: &str,
    request_headers: &HeaderMap,
    started: Instant,
    resp: &mut Response,
) {
    let took = started.elapsed();
    let status = resp.status();
    let route = route_template(path);
    let method = method_label(method);
    metrics::http_request(
        HttpLabels {
            method,
            route,
            status: status.as_u16(),
        },
        took,
    );
    count(path, status);
    let correlation_id = correlation_of(request_headers, resp);
    access_log(method, route, path, status, took, &correlation_id);
}

/// The correlation id of an answered request: the one the request gave,
/// else the one its handler answered with, else a new one, which is then
/// put on the response.
fn correlation_of(request_headers: &HeaderMap, resp: &mut Response) -> String {
    if let Some(given) = correlation::given(request_headers) {
        if let Ok(v) = HeaderValue::from_str(&given) {
            resp.headers_mut().insert(correlation::HEADER, v);
        }
        return given;
    }
    if let Some(id) = resp
        .headers()
        .get(correlation::HEADER)
        .and_then(|v| v.to_str().ok())
    {
        return id.to_string();
    }
    let id = correlation::accept_or_new(None);
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert(correlation::HEADER, v);
    }
    id
}

fn access_log(
    method: &'static str,
    route: &'static str,
    path: &str,
    status: StatusCode,
    took: Duration,
    correlation_id: &str,
) {
    tracing::info!(
        target: ACCESS_TARGET,
        method,
        route,
        path,
        status = status.as_u16(),
        duration_ms = took.as_secs_f64() * 1000.0,
        correlation_id,
        "request"
    );
}

/// Adds one to the status page's totals.
fn count(path: &str, status: StatusCode) {
    let r = ROUTES.iter().position(|r| *r == route_of(path));
    let c = CLASSES.iter().position(|c| *c == class_of(status));
    if let (Some(r), Some(c)) = (r, c) {
        TOTALS[r][c].fetch_add(1, Ordering::Relaxed);
    }
}

/// Wraps `routes` (which must never reject, i.e. already recovered) so that
/// every response is recorded ([`answered`]).
pub fn counted(routes: BoxedFilter<(Response,)>) -> BoxedFilter<(Response,)> {
    warp::any()
        .map(Instant::now)
        .and(warp::method())
        .and(warp::path::full())
        .and(warp::header::headers_cloned())
        .and(routes)
        .map(
            |started: Instant,
             method: Method,
             path: FullPath,
             headers: HeaderMap,
             mut resp: Response| {
                answered(&method, path.as_str(), &headers, started, &mut resp);
                resp
            },
        )
        .boxed()
}

/// Request totals since the edge started.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Traffic {
    /// Every request.
    pub total: u64,
    /// Per route group (every group, zeros included).
    pub by_route: BTreeMap<&'static str, u64>,
    /// Per status class (every class, zeros included).
    pub by_class: BTreeMap<&'static str, u64>,
}

/// The totals now.
pub fn snapshot() -> Traffic {
    let mut t = Traffic::default();
    for (route, row) in ROUTES.iter().zip(&TOTALS) {
        for (class, n) in CLASSES.iter().zip(row) {
            let n = n.load(Ordering::Relaxed);
            t.total += n;
            *t.by_route.entry(route).or_default() += n;
            *t.by_class.entry(class).or_default() += n;
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_map_to_a_fixed_set_of_route_groups() {
        assert_eq!(route_of("/"), "pages");
        assert_eq!(route_of("/owner"), "pages");
        assert_eq!(route_of("/assets/app.css"), "pages");
        assert_eq!(route_of("/status"), "pages");
        assert_eq!(route_of("/status.json"), "status");
        assert_eq!(route_of("/orders/0-1/cancel"), "orders");
        assert_eq!(route_of("/myPages/0-1"), "myPages");
        assert_eq!(route_of("/readyz"), "probes");
        assert_eq!(route_of("/wp-admin/x"), "other");
        for path in ["/", "/orders", "/x", "/status.json", "/healthz"] {
            assert!(ROUTES.contains(&route_of(path)), "{path}");
        }
    }

    #[test]
    fn paths_map_to_their_route_templates() {
        let cases = [
            ("/", "/"),
            ("/orders", "/orders"),
            ("/orders/0-17", "/orders/{id}"),
            ("/orders/0-17/cancel", "/orders/{id}/cancel"),
            ("/payments/0-1", "/payments/{orderId}"),
            ("/myPages", "/myPages"),
            ("/myPages/0-1", "/myPages/{orderId}"),
            ("/orderDetails/0-1", "/orderDetails/{orderId}"),
            ("/deliveries", "/deliveries"),
            ("/status.json", "/status.json"),
            ("/assets/app.js", "/assets/{name}"),
            ("/orders/0-1/cancel/x", "other"),
            ("/orders/", "other"),
            ("/orders//cancel", "other"),
            ("/healthz", "other"),
            ("/wp-admin/setup.php", "other"),
            ("", "other"),
        ];
        for (path, template) in cases {
            assert_eq!(route_template(path), template, "{path}");
        }
        assert_eq!(method_label(&Method::POST), "POST");
        let odd = Method::from_bytes(b"BREW").expect("method");
        assert_eq!(method_label(&odd), "other");
    }

    #[test]
    fn answered_requests_are_counted_and_carry_a_correlation_id() {
        let before = snapshot();
        let labels = HttpLabels {
            method: "GET",
            route: "/orders/{id}",
            status: 404,
        };
        let metric_before = metrics::http_requests(&labels);
        let mut headers = HeaderMap::new();
        headers.insert(correlation::HEADER, HeaderValue::from_static("abc-1"));
        let mut resp = Response::new(Default::default());
        *resp.status_mut() = StatusCode::NOT_FOUND;
        answered(
            &Method::GET,
            "/orders/9-9",
            &headers,
            Instant::now(),
            &mut resp,
        );
        assert_eq!(resp.headers()[correlation::HEADER], "abc-1");
        assert_eq!(metrics::http_requests(&labels), metric_before + 1);
        let mut resp = Response::new(Default::default());
        answered(
            &Method::GET,
            "/nope",
            &HeaderMap::new(),
            Instant::now(),
            &mut resp,
        );
        assert_eq!(
            resp.headers()[correlation::HEADER].len(),
            36,
            "a new id when none was given"
        );
        let after = snapshot();
        assert!(after.total >= before.total + 2);
        assert!(after.by_route["orders"] > before.by_route["orders"]);
        assert!(after.by_route["other"] > before.by_route["other"]);
        assert!(after.by_class["4xx"] > before.by_class["4xx"]);
        assert_eq!(class_of(StatusCode::SERVICE_UNAVAILABLE), "5xx");
    }
}
