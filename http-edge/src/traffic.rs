//! Counting the requests the edge answers, for the status page.
//!
//! [`counted`] wraps the public API: after each response it adds one to
//! `kukka_edge_requests_total{route, class}` in [`kukka_actors::runtime::metrics`]
//! (so the counters also appear on `/metrics`). `route` is the request's
//! route group (a fixed, small set, so a client cannot grow the registry
//! by inventing paths) and `class` the status class (`2xx`, `4xx`...).
//! [`snapshot`] reads the totals back; rates are the difference between
//! two snapshots, which the status page computes between its polls.

use std::collections::BTreeMap;

use serde::Serialize;
use warp::{filters::BoxedFilter, http::StatusCode, path::FullPath, reply::Response, Filter};

/// The counter's name.
pub const REQUESTS_TOTAL: &str = "kukka_edge_requests_total";

/// Every value of the `route` label.
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

/// Every value of the `class` label.
pub const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// The route group of a request path.
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

/// The class label of a status.
pub fn class_of(status: StatusCode) -> &'static str {
    match status.as_u16() / 100 {
        1 => "1xx",
        2 => "2xx",
        3 => "3xx",
        4 => "4xx",
        _ => "5xx",
    }
}

/// Counts one answered request.
pub fn record(path: &str, status: StatusCode) {
    kukka_actors::runtime::metrics::inc(
        REQUESTS_TOTAL,
        &[("route", route_of(path)), ("class", class_of(status))],
    );
}

/// Wraps `routes` (which must never reject, i.e. already recovered) so that
/// every response is counted.
pub fn counted(routes: BoxedFilter<(Response,)>) -> BoxedFilter<(Response,)> {
    warp::path::full()
        .and(routes)
        .map(|path: FullPath, resp: Response| {
            record(path.as_str(), resp.status());
            resp
        })
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
    for route in ROUTES {
        for class in CLASSES {
            let n = kukka_actors::runtime::metrics::get(
                REQUESTS_TOTAL,
                &[("route", route), ("class", class)],
            )
            .unwrap_or(0.0);
            // Counters only ever hold whole, non-negative numbers.
            let n = if n.is_finite() && n > 0.0 {
                n as u64
            } else {
                0
            };
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
    fn recorded_requests_show_in_the_snapshot() {
        let before = snapshot();
        record("/orders", StatusCode::CREATED);
        record("/nope", StatusCode::NOT_FOUND);
        let after = snapshot();
        assert!(after.total >= before.total + 2);
        assert!(after.by_route["orders"] > before.by_route["orders"]);
        assert!(after.by_route["other"] > before.by_route["other"]);
        assert!(after.by_class["4xx"] > before.by_class["4xx"]);
        assert_eq!(class_of(StatusCode::SERVICE_UNAVAILABLE), "5xx");
    }
}
