//! The original system's clients and the shop's prices: httpie's bodies as
//! it sends them (numbers as strings, server-owned fields included), a
//! requested delivery marked `Delivered` at once, prices set by the
//! catalog whatever the request says, and a catalog from a file.

use std::time::Duration;

use serde_json::{json, Value};

use super::harness::{Api, TestApp, OWNER};

const WAIT: Duration = Duration::from_secs(20);

async fn counts(sys: &Api) -> (usize, usize) {
    (
        sys.all_items("/orders", 500).await.len(),
        sys.all_items("/payments", 500).await.len(),
    )
}

#[tokio::test]
async fn httpie_commands_of_the_original_work_as_typed() {
    let sys = TestApp::spawn().await;
    // `http POST :8088/orders phoneNumber="01012341234" address="SEOUL"
    //  customerName="KIM" flowerType="MixBox" price=10000`, exactly as
    // httpie sends it, and the later scenarios' commands (with
    // `status="Ordered"`, a field the server owns).
    let bodies = [
        r#"{"phoneNumber": "01012341234", "address": "SEOUL", "customerName": "KIM", "flowerType": "MixBox", "price": "10000"}"#,
        r#"{"phoneNumber": "01012341234", "address": "Seoul", "customerName": "KWON", "flowerType": "RoseBox", "price": "10000", "status": "Ordered"}"#,
        r#"{"phoneNumber": "01033334444", "address": "Bundang", "customerName": "LEE", "flowerType": "RandomBox", "price": "20000", "status": "Ordered"}"#,
        r#"{"phoneNumber": "01055556666", "address": "Jeju", "customerName": "Han", "flowerType": "DaisyBox", "price": "30000", "status": "Ordered"}"#,
        r#"{"phoneNumber": "01012345678", "address": "Busan", "customerName": "PARK", "flowerType": "LilyBox", "price": "15000", "status": "Ordered"}"#,
    ];
    let mut placed = Vec::new();
    for body in bodies {
        let r = super::harness::anonymous_client()
            .post(sys.url("/orders"))
            // httpie's headers.
            .header("content-type", "application/json")
            .header("accept", "application/json, */*;q=0.5")
            .body(body)
            .send()
            .await
            .expect("request");
        assert_eq!(r.status(), 201, "{body}");
        let order: Value = r.json().await.expect("json");
        let sent: Value = serde_json::from_str(body).expect("json");
        assert_eq!(order["status"], "Ordered");
        assert_eq!(
            order["price"].as_u64().map(|p| p.to_string()).as_deref(),
            sent["price"].as_str(),
            "{order}"
        );
        placed.push((
            order["id"].as_str().expect("id").to_string(),
            order["customerToken"].as_str().expect("token").to_string(),
        ));
    }

    // `http POST :8088/deliveries orderId=<id> status="Delivered"` on a
    // requested delivery, with the owner's token.
    let (id, token) = &placed[0];
    sys.get_until(&format!("/deliveries/{id}"), WAIT, |v| {
        v["status"] == "DeliveryRequested"
    })
    .await;
    let (status, delivery) = sys
        .as_caller(
            Some(OWNER),
            "POST",
            "/deliveries",
            Some(&json!({"orderId": id, "status": "Delivered"})),
        )
        .await;
    assert_eq!(status, 200, "{delivery}");
    assert_eq!(delivery["status"], "Delivered");

    // `http GET :8088/myPages` with the customer's token: their order,
    // delivered, and only theirs.
    let page = eventually_delivered(&sys, token, id).await;
    let ids: Vec<&str> = page.iter().filter_map(|v| v["orderId"].as_str()).collect();
    assert_eq!(ids, [id.as_str()], "KIM's page");
}

async fn eventually_delivered(sys: &Api, token: &str, id: &str) -> Vec<Value> {
    let found = super::harness::eventually(WAIT, || async {
        let (status, body) = sys.as_caller(Some(token), "GET", "/myPages", None).await;
        let items = body["items"].as_array().cloned().unwrap_or_default();
        let done = items
            .iter()
            .any(|v| v["orderId"] == id && v["deliveryStatus"] == "Delivered");
        (status == 200 && done).then_some(items)
    })
    .await;
    found.expect("my page shows the delivery")
}

#[tokio::test]
async fn the_shop_sets_the_price_and_a_tampered_one_changes_nothing() {
    let sys = TestApp::spawn().await;
    let (status, catalog) = sys.as_caller(None, "GET", "/catalog", None).await;
    assert_eq!(status, 200);
    let price_of = |ft: &str| {
        catalog["items"]
            .as_array()
            .and_then(|items| items.iter().find(|i| i["flowerType"] == ft))
            .and_then(|i| i["price"].as_u64())
    };
    assert_eq!(price_of("MixBox"), Some(10_000));
    assert_eq!(price_of("RoseBox"), Some(10_000));
    assert_eq!(price_of("LilyBox"), Some(15_000));
    assert_eq!(price_of("RandomBox"), Some(20_000));
    assert_eq!(price_of("DaisyBox"), Some(30_000));

    let body = |ft: &str, qty: Value, price: Option<Value>| {
        let mut v = json!({"customerName": "TAMPER", "phoneNumber": "010", "address": "SEOUL",
                           "flowerType": ft, "qty": qty});
        if let Some(p) = price {
            v["price"] = p;
        }
        v
    };
    let before = counts(&sys).await;
    for (what, b, expected_total) in [
        (
            "100 roses for 1 won",
            body("RoseBox", json!(100), Some(json!(1))),
            1_000_000,
        ),
        (
            "as strings",
            body("RoseBox", json!("100"), Some(json!("1"))),
            1_000_000,
        ),
        (
            "a lily box at the mix box's price",
            body("LilyBox", json!(1), Some(json!(10_000))),
            15_000,
        ),
        (
            "one box too few",
            body("DaisyBox", json!(3), Some(json!(60_000))),
            90_000,
        ),
    ] {
        let (status, answer) = sys.as_caller(None, "POST", "/orders", Some(&b)).await;
        assert_eq!(status, 409, "{what}: {answer}");
        assert_eq!(answer["error"]["code"], "price_mismatch", "{what}");
        assert_eq!(
            answer["error"]["price"], expected_total,
            "{what}: the current total"
        );
    }
    for (what, b) in [
        (
            "a box that is not sold",
            body("AAAA", json!(1), Some(json!(10_000))),
        ),
        (
            "a price that is no number",
            body("MixBox", json!(1), Some(json!("ten"))),
        ),
        ("a fractional quantity", body("MixBox", json!(1.5), None)),
    ] {
        let (status, answer) = sys.as_caller(None, "POST", "/orders", Some(&b)).await;
        assert_eq!(status, 400, "{what}: {answer}");
        assert_eq!(answer["error"]["code"], "validation_failed", "{what}");
    }
    assert_eq!(counts(&sys).await, before, "nothing was written or charged");

    // Without a price the shop's is charged; fields the server owns are
    // ignored.
    let mut b = body("RoseBox", json!(100), None);
    b["id"] = json!("9-9");
    b["status"] = json!("Rejected");
    let (status, order) = sys.as_caller(None, "POST", "/orders", Some(&b)).await;
    assert_eq!(status, 201, "{order}");
    assert_eq!(order["price"], 1_000_000);
    assert_eq!(order["status"], "Ordered");
    assert_ne!(order["id"], "9-9");
    let id = order["id"].as_str().expect("id");
    let (_, payment) = sys.get(&format!("/payments/{id}")).await;
    assert_eq!(payment["amount"], 1_000_000, "{payment}");
    // The right total, as a string: accepted.
    let (status, order) = sys
        .as_caller(
            None,
            "POST",
            "/orders",
            Some(&body("MixBox", json!("2"), Some(json!("20000")))),
        )
        .await;
    assert_eq!(status, 201, "{order}");
    assert_eq!(
        (order["qty"].clone(), order["price"].clone()),
        (json!(2), json!(20_000))
    );
}

#[tokio::test]
async fn a_catalog_file_sets_what_is_sold_and_what_it_costs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("catalog.json");
    std::fs::write(
        &file,
        r#"{"items": [
            {"flowerType": "TulipBox", "name": "Tulip box", "description": "Tulips", "price": 12000},
            {"flowerType": "MixBox", "name": "Mix box", "description": "Dearer now", "price": 11000}
        ]}"#,
    )
    .expect("write");
    let path = file.to_string_lossy().into_owned();
    let sys = TestApp::spawn_with(&["--catalog", &path]).await;
    let (_, catalog) = sys.as_caller(None, "GET", "/catalog", None).await;
    let types: Vec<&str> = catalog["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|i| i["flowerType"].as_str())
        .collect();
    assert_eq!(types, ["TulipBox", "MixBox"]);
    let (_, description) = sys.as_caller(None, "GET", "/openapi.json", None).await;
    assert_eq!(
        description["components"]["schemas"]["FlowerType"]["enum"],
        json!(["TulipBox", "MixBox"])
    );
    let order = |ft: &str, qty: u32| {
        json!({"customerName": "CAT", "phoneNumber": "010", "address": "SEOUL",
               "flowerType": ft, "qty": qty})
    };
    let (status, placed) = sys
        .as_caller(None, "POST", "/orders", Some(&order("TulipBox", 2)))
        .await;
    assert_eq!(status, 201, "{placed}");
    assert_eq!(placed["price"], 24_000);
    let (status, placed) = sys
        .as_caller(None, "POST", "/orders", Some(&order("MixBox", 1)))
        .await;
    assert_eq!((status, placed["price"].clone()), (201, json!(11_000)));
    let (status, refused) = sys
        .as_caller(None, "POST", "/orders", Some(&order("LilyBox", 1)))
        .await;
    assert_eq!(status, 400, "not in this catalog: {refused}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("TulipBox, MixBox")),
        "{refused}"
    );
}
