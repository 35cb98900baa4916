//! Who may do what: every route of the public port (`routes::TABLE`) as an
//! anonymous caller, customer A, customer B, the owner, and a forged
//! customer token, each row asserting the status and that nothing changed
//! but what the request was allowed to change (orders, payments and
//! deliveries, read through the owner's lists). Another customer's order
//! answers exactly as a missing one does.

use std::{collections::BTreeMap, time::Duration};

use kukka_http_edge::routes::TABLE;
use serde_json::json;

use super::harness::{eventually, order_body, Api, TestApp, OWNER};

const WAIT: Duration = Duration::from_secs(20);

/// What the owner's lists say: `order:<id>`, `payment:<orderId>`,
/// `delivery:<orderId>` → status.
async fn snapshot(sys: &Api) -> BTreeMap<String, String> {
    let mut s = BTreeMap::new();
    for (list, kind, id) in [
        ("/orders", "order", "id"),
        ("/payments", "payment", "orderId"),
        ("/deliveries", "delivery", "orderId"),
    ] {
        for item in sys.all_items(list, 500).await {
            s.insert(
                format!("{kind}:{}", item[id].as_str().unwrap_or("?")),
                item["status"].as_str().unwrap_or("?").to_string(),
            );
        }
    }
    s
}

/// Waits until the snapshot is `expected`.
async fn settles_on(sys: &Api, expected: &BTreeMap<String, String>, what: &str) {
    let got = eventually(WAIT, || async {
        let s = snapshot(sys).await;
        (s == *expected).then_some(s)
    })
    .await;
    if got.is_none() {
        let now = snapshot(sys).await;
        let diff: Vec<String> = expected
            .iter()
            .filter(|(k, v)| now.get(*k) != Some(v))
            .map(|(k, v)| format!("{k}: expected {v}, got {:?}", now.get(k)))
            .chain(
                now.keys()
                    .filter(|k| !expected.contains_key(*k))
                    .map(|k| format!("unexpected {k}")),
            )
            .collect();
        panic!("{what}: {diff:?}");
    }
}

/// The callers of the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    Anonymous,
    A,
    B,
    Owner,
    Forged,
}

const WHO: [Who; 5] = [Who::Anonymous, Who::A, Who::B, Who::Owner, Who::Forged];

/// One row: a route and the status each caller gets.
struct Row {
    method: &'static str,
    pattern: &'static str,
    expect: [u16; 5],
}

const fn row(method: &'static str, pattern: &'static str, expect: [u16; 5]) -> Row {
    Row {
        method,
        pattern,
        expect,
    }
}

//                                   anonymous  A    B   owner forged
const OPEN: [u16; 5] = [200, 200, 200, 200, 200];
const OWNERS: [u16; 5] = [401, 403, 403, 200, 403];
const HERS: [u16; 5] = [401, 200, 404, 200, 401];

/// DESIGN's table, as statuses (A owns the order in the path).
const ROWS: [Row; 20] = [
    row("GET", "/catalog", OPEN),
    row("POST", "/orders", [201, 201, 201, 201, 401]),
    row("GET", "/orders", OWNERS),
    row("GET", "/orders/{id}", HERS),
    row("POST", "/orders/{id}/cancel", HERS),
    row("GET", "/payments", OWNERS),
    row("GET", "/payments/{orderId}", HERS),
    row("GET", "/myPages", [401, 200, 200, 200, 401]),
    row("GET", "/myPages/{orderId}", HERS),
    row("GET", "/orderDetails", OWNERS),
    row("GET", "/orderDetails/{orderId}", OWNERS),
    row("GET", "/deliveries", OWNERS),
    row("POST", "/deliveries", OWNERS),
    row("GET", "/deliveries/{orderId}", OWNERS),
    row("GET", "/status.json", OWNERS),
    row("GET", "/openapi.json", OPEN),
    row("GET", "/", OPEN),
    row("GET", "/owner", OPEN),
    row("GET", "/status", OPEN),
    row("GET", "/assets/{name}", OPEN),
];

#[tokio::test]
async fn every_route_admits_exactly_whom_the_design_says_and_nothing_else_changes() {
    // Forged tokens fail on purpose here; the limit on failures has its own
    // test.
    let sys = TestApp::spawn_with(&["--auth-max-failures", "1000"]).await;
    // Every route of the edge is a row, and every row a route.
    let mut routes: Vec<(&str, &str)> = TABLE.iter().map(|r| (r.method, r.path)).collect();
    let mut rows: Vec<(&str, &str)> = ROWS.iter().map(|r| (r.method, r.pattern)).collect();
    routes.sort();
    rows.sort();
    assert_eq!(rows, routes, "the table covers every route");

    let (a1, token_a) = sys.place_as(None, "A").await;
    let (b1, token_b) = sys.place_as(None, "B").await;
    // Orders the allowed writes act on, so that each allowed write changes
    // an order of its own.
    let (cancel_by_a, _) = sys.place_as(Some(&token_a), "A").await;
    let (cancel_by_owner, _) = sys.place_as(Some(&token_a), "A").await;
    let ship = sys.place("SHIP").await;
    // A token of the right shape, signed with another secret.
    let forged = format!("kc1_{}{}", &token_a[4..36], "0".repeat(32));
    assert_ne!(forged, token_a);
    let mut a_orders = vec![a1.clone(), cancel_by_a.clone(), cancel_by_owner.clone()];
    let mut b_orders = vec![b1.clone()];
    for id in [&a1, &b1, &cancel_by_a, &cancel_by_owner, &ship] {
        sys.get_until(&format!("/myPages/{id}"), WAIT, |v| {
            v["deliveryStatus"] == "DeliveryRequested"
        })
        .await;
    }
    let mut expected = snapshot(&sys).await;
    let missing = "0-999999";

    let token = |who: Who| match who {
        Who::Anonymous => None,
        Who::A => Some(token_a.as_str()),
        Who::B => Some(token_b.as_str()),
        Who::Owner => Some(OWNER),
        Who::Forged => Some(forged.as_str()),
    };
    let mut ran = Vec::new();
    for r in &ROWS {
        let mut line = format!("{:<5} {:<26}", r.method, r.pattern);
        for (i, who) in WHO.iter().enumerate() {
            // The order in the path: A's, except where this caller may
            // change it (then one kept for that change).
            let target = match (r.pattern, who) {
                ("/orders/{id}/cancel", Who::A) => cancel_by_a.as_str(),
                ("/orders/{id}/cancel", Who::Owner) => cancel_by_owner.as_str(),
                _ => a1.as_str(),
            };
            let path = r
                .pattern
                .replace("{id}", target)
                .replace("{orderId}", target)
                .replace("{name}", "kukka.css");
            let body = match (r.method, r.pattern) {
                ("POST", "/orders") => Some(order_body(&format!("{who:?}"))),
                ("POST", "/deliveries") => {
                    let id = if *who == Who::Owner { &ship } else { &a1 };
                    Some(json!({"orderId": id, "status": "DeliveryStarted"}))
                }
                _ => None,
            };
            let (status, answer) = sys
                .as_caller(token(*who), r.method, &path, body.as_ref())
                .await;
            line.push_str(&format!(" {who:?}={status}"));
            assert_eq!(
                status, r.expect[i],
                "{} {path} as {who:?}: {answer}",
                r.method
            );
            // What it may have changed, and must have.
            match (r.method, r.pattern, status) {
                ("POST", "/orders", 201) => {
                    let id = answer["id"].as_str().expect("id").to_string();
                    expected.insert(format!("order:{id}"), "Ordered".into());
                    expected.insert(format!("payment:{id}"), "PaymentConfirmed".into());
                    expected.insert(format!("delivery:{id}"), "DeliveryRequested".into());
                    match who {
                        Who::A => {
                            assert_eq!(answer["customerToken"], token_a.as_str(), "same customer");
                            a_orders.push(id);
                        }
                        Who::B => {
                            assert_eq!(answer["customerToken"], token_b.as_str());
                            b_orders.push(id);
                        }
                        _ => {
                            let t = answer["customerToken"].as_str().unwrap_or_default();
                            assert!(t.starts_with("kc1_") && t != token_a && t != token_b);
                        }
                    }
                    assert!(answer.get("customerId").is_none(), "{answer}");
                }
                ("POST", "/orders/{id}/cancel", 200) => {
                    expected.insert(format!("order:{target}"), "OrderCancelled".into());
                    expected.insert(format!("payment:{target}"), "PaymentCancelled".into());
                    expected.insert(format!("delivery:{target}"), "DeliveryCancelled".into());
                }
                ("POST", "/deliveries", 200) => {
                    expected.insert(format!("delivery:{ship}"), "DeliveryStarted".into());
                }
                ("GET", "/myPages", 200) => {
                    let ids: Vec<String> = answer["items"]
                        .as_array()
                        .expect("items")
                        .iter()
                        .map(|v| v["orderId"].as_str().unwrap_or("?").to_string())
                        .collect();
                    let own = match who {
                        Who::A => Some(&a_orders),
                        Who::B => Some(&b_orders),
                        _ => None,
                    };
                    match own {
                        Some(own) => {
                            assert!(
                                !ids.is_empty() && ids.iter().all(|id| own.contains(id)),
                                "{who:?} sees only their own orders: {ids:?} of {own:?}"
                            );
                        }
                        None => assert!(ids.contains(&a1) && ids.contains(&b1), "{ids:?}"),
                    }
                }
                _ => {}
            }
            settles_on(&sys, &expected, &format!("{} {path} as {who:?}", r.method)).await;
        }
        eprintln!("{line}");
        ran.push(line);
    }
    assert_eq!(ran.len(), ROWS.len());

    // B asking about A's order gets exactly what B gets for an order that
    // does not exist.
    for pattern in [
        "/orders/{id}",
        "/orders/{id}/cancel",
        "/payments/{id}",
        "/myPages/{id}",
    ] {
        let method = if pattern.ends_with("cancel") {
            "POST"
        } else {
            "GET"
        };
        let (s1, theirs) = sys
            .as_caller(Some(&token_b), method, &pattern.replace("{id}", &a1), None)
            .await;
        let (s2, absent) = sys
            .as_caller(
                Some(&token_b),
                method,
                &pattern.replace("{id}", missing),
                None,
            )
            .await;
        assert_eq!((s1, s2), (404, 404), "{pattern}");
        assert_eq!(
            theirs.to_string().replace(&a1, "X"),
            absent.to_string().replace(missing, "X"),
            "{pattern}"
        );
    }
    settles_on(&sys, &expected, "after the 404 comparisons").await;
}

#[tokio::test]
async fn ten_failed_tokens_a_minute_are_answered_429_and_tokenless_requests_still_work() {
    let sys = TestApp::spawn().await;
    let (id, token) = sys.place_as(None, "LIMIT").await;
    for i in 0..10 {
        let (status, body) = sys
            .as_caller(Some(&format!("guess-{i}")), "GET", "/orders", None)
            .await;
        assert_eq!(status, 403, "guess {i}: {body}");
    }
    // The eleventh attempt is refused before the token is even looked at,
    // the right ones included.
    for t in ["guess-10", OWNER, token.as_str()] {
        let (status, body) = sys
            .as_caller(Some(t), "GET", &format!("/orders/{id}"), None)
            .await;
        assert_eq!(status, 429, "{body}");
        assert_eq!(body["error"]["code"], "too_many_attempts");
    }
    let r = super::harness::anonymous_client()
        .get(sys.url("/myPages"))
        .bearer_auth("guess-11")
        .send()
        .await
        .expect("request");
    let wait: u64 = r.headers()["retry-after"]
        .to_str()
        .expect("text")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&wait), "{wait}");
    let (status, _) = sys.as_caller(None, "GET", "/catalog", None).await;
    assert_eq!(status, 200, "a request without a token is not limited");
    let (status, body) = sys
        .as_caller(None, "POST", "/orders", Some(&order_body("STILL")))
        .await;
    assert_eq!(status, 201, "{body}");
}
