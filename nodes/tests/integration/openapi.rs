//! `GET /openapi.json` describes the public port as it is: every route it
//! names answers, every route (`routes::TABLE`) is in it with the security
//! its access needs, and a path answers `405` with `Allow` for any method
//! it does not take.

use std::collections::BTreeSet;

use kukka_http_edge::{auth::Access, routes::TABLE};
use serde_json::json;

use super::harness::TestApp;

const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

#[tokio::test]
async fn the_description_and_the_routes_agree() {
    let sys = TestApp::spawn().await;
    let (status, doc) = sys.as_caller(None, "GET", "/openapi.json", None).await;
    assert_eq!(status, 200);
    assert_eq!(doc["openapi"], "3.1.0");

    let described: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, ops)| {
            ops.as_object()
                .expect("operations")
                .keys()
                .filter(|m| METHODS.contains(&m.to_uppercase().as_str()))
                .map(move |m| (m.to_uppercase(), path.clone()))
        })
        .collect();
    let routes: BTreeSet<(String, String)> = TABLE
        .iter()
        .map(|r| (r.method.to_string(), r.path.to_string()))
        .collect();
    assert_eq!(described, routes, "described = served");

    let (_, placed) = sys
        .as_caller(
            None,
            "POST",
            "/orders",
            Some(&super::harness::order_body("DOC")),
        )
        .await;
    let id = placed["id"].as_str().expect("id").to_string();
    for r in TABLE {
        let op = &doc["paths"][r.path][r.method.to_lowercase()];
        // Security as the route's access needs it.
        let security = op["security"].clone();
        let expected = match r.access {
            None => json!([]),
            Some(Access::Anyone) => json!([{}, {"bearer": []}]),
            Some(_) => json!([{"bearer": []}]),
        };
        assert_eq!(security, expected, "{} {}", r.method, r.path);
        // Documented answers: a 401 wherever a token is needed.
        if matches!(r.access, Some(Access::Owner | Access::CustomerOrOwner)) {
            assert!(
                op["responses"]["401"].is_object(),
                "{} {}",
                r.method,
                r.path
            );
        }
        if r.access == Some(Access::Owner) {
            assert!(
                op["responses"]["403"].is_object(),
                "{} {}",
                r.method,
                r.path
            );
        }
        // It answers (as the owner), not as an unknown route.
        let path = r
            .path
            .replace("{id}", &id)
            .replace("{orderId}", &id)
            .replace("{name}", "common.js");
        let body = (r.method == "POST").then(|| json!({}));
        let (status, answer) = sys
            .as_caller(Some(super::harness::OWNER), r.method, &path, body.as_ref())
            .await;
        assert_ne!(answer["error"]["code"], "no_route", "{} {path}", r.method);
        assert!(
            op["responses"][status.to_string()].is_object(),
            "{} {path}: {status} is not described",
            r.method
        );
        // Other methods: 405, saying which ones the path takes.
        let taken: Vec<&str> = TABLE
            .iter()
            .filter(|o| o.path == r.path)
            .map(|o| o.method)
            .collect();
        for m in METHODS.iter().filter(|m| !taken.contains(m)) {
            let resp = super::harness::anonymous_client()
                .request(
                    reqwest::Method::from_bytes(m.as_bytes()).expect("method"),
                    sys.url(&path),
                )
                .send()
                .await
                .expect("request");
            assert_eq!(resp.status(), 405, "{m} {path}");
            let allow = resp.headers()["allow"].to_str().expect("text").to_string();
            let allowed: BTreeSet<&str> = allow.split(", ").collect();
            assert_eq!(
                allowed,
                taken.iter().copied().collect(),
                "{m} {path}: Allow"
            );
        }
    }
    // The assets it names are the ones served.
    let names: Vec<&str> = kukka_http_edge::routes::pages::ASSETS
        .iter()
        .map(|a| a.name)
        .collect();
    let param = &doc["paths"]["/assets/{name}"]["get"]["parameters"][0]["schema"]["enum"];
    assert_eq!(param, &json!(names), "the assets");
    // A path the description does not name is no route.
    for path in [
        "/flowers",
        "/orders/0-1/refund",
        "/assets",
        "/myPages/0-1/x",
    ] {
        let (status, body) = sys.as_caller(None, "GET", path, None).await;
        assert_eq!(
            (status, body["error"]["code"].clone()),
            (404, json!("no_route")),
            "{path}"
        );
    }
}
