//! The HTTP contract, on the in-process system: bad input gets a clear 4xx
//! and changes nothing; pagination; idempotency keys (the harness's client
//! speaks as the owner here).

use std::time::Duration;

use serde_json::{json, Value};

use super::harness::{order_body, Api, TestApp};

/// (what, method, path, content type, body, expected status, expected code)
type Case<'a> = (&'a str, &'a str, &'a str, &'a str, Vec<u8>, u16, &'a str);

async fn counts(sys: &Api) -> (usize, usize) {
    (
        sys.all_items("/orders", 500).await.len(),
        sys.all_items("/payments", 500).await.len(),
    )
}

#[tokio::test]
async fn bad_input_is_refused_with_a_json_error_and_changes_nothing() {
    let sys = TestApp::spawn_with(&["--body-limit-bytes", "65536"]).await;
    sys.place("BASE").await;
    let before = counts(&sys).await;

    let with = |f: &dyn Fn(&mut Value)| {
        let mut v = order_body("KIM");
        f(&mut v);
        v.to_string()
    };
    let deep = "[".repeat(5000) + &"]".repeat(5000);
    let huge = json!({"customerName": "x".repeat(70 * 1024)}).to_string();
    let json_ct = "application/json";
    let cases: Vec<Case<'_>> = vec![
        (
            "malformed",
            "POST",
            "/orders",
            json_ct,
            b"{\"customerName\":".to_vec(),
            400,
            "malformed_json",
        ),
        (
            "empty",
            "POST",
            "/orders",
            json_ct,
            Vec::new(),
            400,
            "malformed_json",
        ),
        (
            "not an object",
            "POST",
            "/orders",
            json_ct,
            b"[1,2,3]".to_vec(),
            400,
            "validation_failed",
        ),
        (
            "a string",
            "POST",
            "/orders",
            json_ct,
            b"\"hi\"".to_vec(),
            400,
            "validation_failed",
        ),
        (
            "wrong content type",
            "POST",
            "/orders",
            "text/plain",
            order_body("K").to_string().into_bytes(),
            415,
            "unsupported_media_type",
        ),
        (
            "missing field",
            "POST",
            "/orders",
            json_ct,
            with(&|v| {
                v.as_object_mut().map(|o| o.remove("address"));
            })
            .into_bytes(),
            400,
            "validation_failed",
        ),
        (
            "wrong type",
            "POST",
            "/orders",
            json_ct,
            with(&|v| v["customerName"] = json!(42)).into_bytes(),
            400,
            "validation_failed",
        ),
        (
            "negative price",
            "POST",
            "/orders",
            json_ct,
            with(&|v| v["price"] = json!(-100)).into_bytes(),
            400,
            "validation_failed",
        ),
        (
            "zero price",
            "POST",
            "/orders",
            json_ct,
            with(&|v| v["price"] = json!(0)).into_bytes(),
            400,
            "validation_failed",
        ),
        (
            "fractional price",
            "POST",
            "/orders",
            json_ct,
            with(&|v| v["price"] = json!(10.5)).into_bytes(),
            400,
            "validation_failed",
        ),
        (
            "huge price",
            "POST",
            "/orders",
            json_ct,
            with(&|v| v["price"] = json!(1e30)).into_bytes(),
            400,
            "validation_failed",
        ),
        (
            "price as a string that is not a number",
            "POST",
            "/orders",
            json_ct,
            with(&|v| v["price"] = json!("abc")).into_bytes(),
            400,
            "validation_failed",
        ),
        (
            "price as a fraction in a string",
            "POST",
            "/orders",
            json_ct,
            with(&|v| v["price"] = json!("10.5")).into_bytes(),
            400,
            "validation_failed",
        ),
        (
            "a box the shop does not sell",
            "POST",
            "/orders",
            json_ct,
            with(&|v| v["flowerType"] = json!("AAAA")).into_bytes(),
            400,
            "validation_failed",
        ),
        (
            "an expected price that is not the shop's",
            "POST",
            "/orders",
            json_ct,
            with(&|v| v["price"] = json!(1)).into_bytes(),
            409,
            "price_mismatch",
        ),
        (
            "an Idempotency-Key of spaces is no key",
            "IDEM",
            "/orders",
            json_ct,
            order_body("K").to_string().into_bytes(),
            400,
            "invalid_header",
        ),
        (
            "qty too big",
            "POST",
            "/orders",
            json_ct,
            with(&|v| v["qty"] = json!(101)).into_bytes(),
            400,
            "validation_failed",
        ),
        (
            "overlong name",
            "POST",
            "/orders",
            json_ct,
            with(&|v| v["customerName"] = json!("x".repeat(101))).into_bytes(),
            400,
            "validation_failed",
        ),
        (
            "blank name",
            "POST",
            "/orders",
            json_ct,
            with(&|v| v["customerName"] = json!("   ")).into_bytes(),
            400,
            "validation_failed",
        ),
        (
            "deeply nested",
            "POST",
            "/orders",
            json_ct,
            deep.into_bytes(),
            400,
            "malformed_json",
        ),
        (
            "invalid utf-8",
            "POST",
            "/orders",
            json_ct,
            vec![b'{', b'"', 0xff, 0xfe, b'"', b':', b'1', b'}'],
            400,
            "malformed_json",
        ),
        (
            "over the body limit",
            "POST",
            "/orders",
            json_ct,
            huge.into_bytes(),
            413,
            "payload_too_large",
        ),
        (
            "unknown route",
            "GET",
            "/flowers",
            json_ct,
            Vec::new(),
            404,
            "no_route",
        ),
        (
            "unknown page asset",
            "GET",
            "/assets/nope.js",
            json_ct,
            Vec::new(),
            404,
            "no_route",
        ),
        (
            "below a page",
            "GET",
            "/owner/orders",
            json_ct,
            Vec::new(),
            404,
            "no_route",
        ),
        (
            "posting to a page",
            "POST",
            "/",
            json_ct,
            Vec::new(),
            405,
            "method_not_allowed",
        ),
        (
            "wrong method",
            "DELETE",
            "/orders",
            json_ct,
            Vec::new(),
            405,
            "method_not_allowed",
        ),
        (
            "limit zero",
            "GET",
            "/orders?limit=0",
            json_ct,
            Vec::new(),
            400,
            "invalid_query",
        ),
        (
            "limit too big",
            "GET",
            "/myPages?limit=501",
            json_ct,
            Vec::new(),
            400,
            "invalid_query",
        ),
        (
            "limit not a number",
            "GET",
            "/payments?limit=ten",
            json_ct,
            Vec::new(),
            400,
            "invalid_query",
        ),
        (
            "a repeated query parameter (answered 405 once)",
            "GET",
            "/orders?limit=null&limit=null",
            json_ct,
            Vec::new(),
            400,
            "invalid_query",
        ),
        (
            "a repeated query parameter on a view",
            "GET",
            "/deliveries?limit=1&limit=2",
            json_ct,
            Vec::new(),
            400,
            "invalid_query",
        ),
        (
            "limit null",
            "GET",
            "/myPages?limit=null",
            json_ct,
            Vec::new(),
            400,
            "invalid_query",
        ),
        (
            "garbage cursor",
            "GET",
            "/orders?cursor=zz",
            json_ct,
            Vec::new(),
            400,
            "invalid_query",
        ),
        (
            "garbage view cursor",
            "GET",
            "/myPages?cursor=q",
            json_ct,
            Vec::new(),
            400,
            "invalid_query",
        ),
        (
            "cancel unknown order",
            "POST",
            "/orders/7-1/cancel",
            json_ct,
            Vec::new(),
            503,
            "unavailable",
        ),
        (
            "cancel malformed id",
            "POST",
            "/orders/nope/cancel",
            json_ct,
            Vec::new(),
            404,
            "not_found",
        ),
        (
            "delivery bad status",
            "OWNER",
            "/deliveries",
            json_ct,
            br#"{"orderId":"0-0","status":"Teleported"}"#.to_vec(),
            400,
            "validation_failed",
        ),
        (
            "delivery missing order",
            "OWNER",
            "/deliveries",
            json_ct,
            br#"{"status":"Delivered"}"#.to_vec(),
            400,
            "validation_failed",
        ),
        (
            "delivery empty object",
            "OWNER",
            "/deliveries",
            json_ct,
            b"{}".to_vec(),
            400,
            "validation_failed",
        ),
        (
            "delivery not json",
            "OWNER",
            "/deliveries",
            json_ct,
            b"nope".to_vec(),
            400,
            "malformed_json",
        ),
    ];
    for (what, method, path, ctype, body, status, code) in cases {
        let url = sys.url(path);
        let req = match method {
            "POST" => sys.http.post(&url),
            "OWNER" => sys.http.post(&url).bearer_auth(super::harness::OWNER),
            "IDEM" => sys.http.post(&url).header("idempotency-key", "   "),
            "DELETE" => sys.http.delete(&url),
            _ => sys.http.get(&url),
        };
        let resp = req
            .header("content-type", ctype)
            .body(body)
            .send()
            .await
            .expect("request");
        let got = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        assert_eq!(got, status, "{what}: {text}");
        let v: Value =
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("{what}: not JSON: {text}"));
        assert_eq!(v["error"]["code"], code, "{what}: {text}");
        assert!(
            v["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{what}: {text}"
        );
    }
    assert_eq!(counts(&sys).await, before, "no bad request wrote anything");
}

#[tokio::test]
async fn walking_pages_sees_every_order_once_while_new_ones_arrive() {
    let sys = TestApp::spawn().await;
    let mut ids = Vec::new();
    for i in 0..7 {
        ids.push(sys.place(&format!("P{i}")).await);
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut extra = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/orders?limit=3&cursor={c}"),
            None => "/orders?limit=3".to_string(),
        };
        let (status, body) = sys.get(&path).await;
        assert_eq!(status, 200, "{body}");
        let page = body["items"].as_array().cloned().unwrap_or_default();
        assert!(page.len() <= 3);
        seen.extend(
            page.iter()
                .filter_map(|o| o["id"].as_str().map(String::from)),
        );
        if extra < 2 {
            sys.place(&format!("NEW{extra}")).await;
            extra += 1;
        }
        match body["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), seen.len(), "no order twice: {seen:?}");
    for id in &ids {
        assert!(seen.contains(id), "{id} missing from {seen:?}");
    }
    // The views page the same way.
    let views = sys.all_items("/orderDetails", 2).await;
    let expected = ids.len() + extra;
    let converged = super::harness::eventually(Duration::from_secs(20), || async {
        let n = sys.all_items("/orderDetails", 2).await.len();
        (n == expected).then_some(n)
    })
    .await;
    assert_eq!(converged, Some(expected), "first walk saw {}", views.len());
}

#[tokio::test]
async fn an_idempotency_key_places_one_order_and_refuses_another_body() {
    let sys = TestApp::spawn().await;
    let send = |body: Value, key: &'static str| {
        let req = sys
            .http
            .post(sys.url("/orders"))
            .header("idempotency-key", key)
            .json(&body);
        async move {
            let r = req.send().await.expect("request");
            (
                r.status().as_u16(),
                r.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let (s1, first) = send(order_body("IDEM"), "key-1").await;
    let (s2, again) = send(order_body("IDEM"), "key-1").await;
    assert_eq!((s1, s2), (201, 201), "{first} {again}");
    assert_eq!(first["id"], again["id"]);
    let (s3, other) = send(order_body("SOMEONE ELSE"), "key-1").await;
    assert_eq!(s3, 422, "{other}");
    assert_eq!(other["error"]["code"], "idempotency_key_reused");
    let payments = sys.all_items("/payments", 100).await;
    let confirmed = payments
        .iter()
        .filter(|p| p["status"] == "PaymentConfirmed")
        .count();
    assert_eq!(confirmed, 1, "one payment: {payments:?}");
}
