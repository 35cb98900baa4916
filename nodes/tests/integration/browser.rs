//! The web pages in a real (headless Chromium) browser, against the whole
//! system: a customer orders from the catalog and cancels on `/` (the
//! browser keeps the customer's token, and My page survives a reload), the
//! shop owner signs in and ships on `/owner`, an operator signs in and
//! reads `/status`. Driven through chromedriver
//! ([`super::webdriver`]); every wait is a poll with a deadline.
//!
//! Screenshots of each page are saved in the browser's artifacts directory
//! (a temporary directory, kept and printed if the test fails). With
//! `KUKKA_SCREENSHOTS=<dir>` the customer (desktop and phone), owner and
//! status ones are also copied there; this is how `docs/screenshots/` is
//! refreshed.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{
    harness::{System, OWNER},
    webdriver::Browser,
};

const WAIT: Duration = Duration::from_secs(30);
/// A customer name that would run if it were ever put in the page as HTML.
const SCRIPT_NAME: &str = "<script>alert(1)</script>";
/// Another one, that would fire from an attribute.
const IMG_NAME: &str = "<img src=x onerror=alert(2)>";

/// What an order row of `#<list>` shows, or `null` when there is none.
const ROW: &str = r#"
const [list, id] = arguments;
const li = document.querySelector(`#${list} li[data-order-id="${CSS.escape(id)}"]`);
if (!li) return null;
const field = (n) => { const el = li.querySelector(`[data-field="${n}"]`); return el ? el.textContent : null; };
const shown = (a) => { const b = li.querySelector(`button[data-action="${a}"]`); return !!b && !b.hidden; };
return {
  customerName: field("customerName"),
  orderStatus: field("orderStatus"),
  paymentStatus: field("paymentStatus"),
  deliveryStatus: field("deliveryStatus"),
  cancel: shown("cancel"), start: shown("start"), deliver: shown("deliver"),
  markup: li.querySelectorAll("script, img").length,
};
"#;

/// The outcome of the last order placed from the form.
const ORDER_RESULT: &str = r#"
const r = document.getElementById("order-result");
return r.hidden ? null : {state: r.dataset.state || "", orderId: r.dataset.orderId || null, text: r.textContent};
"#;

async fn row(browser: &Browser, list: &str, id: &str) -> Option<Value> {
    Some(browser.script(ROW, json!([list, id])).await).filter(|v| !v.is_null())
}

/// Waits until the row of `id` in `#<list>` satisfies `check`.
async fn wait_row(
    browser: &Browser,
    what: &str,
    list: &str,
    id: &str,
    check: impl Fn(&Value) -> bool,
) -> Value {
    browser
        .wait_for(what, WAIT, || async {
            row(browser, list, id).await.filter(|v| check(v))
        })
        .await
}

/// Fills the order form and places the order; returns the new order's id.
async fn place_order(browser: &Browser, name: &str, previous: Option<&str>) -> String {
    browser.fill("#customer-name", name).await;
    browser.fill("#phone", "010-1234-1234").await;
    browser.fill("#address", "12 Flower Road, Seoul").await;
    browser.click("#place-order").await;
    let result = browser
        .wait_for("the order to be answered", WAIT, || async {
            let r = browser.script(ORDER_RESULT, json!([])).await;
            let done = r["state"] == "paid" || r["state"] == "error" || r["state"] == "busy";
            let new = r["orderId"].as_str() != previous;
            (done && (new || r["state"] != "paid")).then_some(r)
        })
        .await;
    assert_eq!(result["state"], "paid", "{result}");
    result["orderId"].as_str().expect("order id").to_string()
}

async fn no_alert(browser: &Browser) {
    if let Some(text) = browser.alert_text().await {
        panic!("an alert opened ({text:?}): data ran as code");
    }
}

#[tokio::test]
async fn customers_the_owner_and_operators_use_the_web_pages() {
    let started = Instant::now();
    // The browser first: without one the test fails at once, saying why.
    let browser = Browser::start().await;
    let sys = System::start().await;
    let mut shots = Vec::new();

    // ---- The customer chooses a box from the catalog and pays. ----
    browser.goto(&sys.url("/")).await;
    let boxes = browser
        .wait_for("the boxes from the catalog", WAIT, || async {
            let b = browser
                .script(
                    r#"return Array.from(document.querySelectorAll('input[name="flowerType"]'))
                         .map((i) => [i.value, i.dataset.price]);"#,
                    json!([]),
                )
                .await;
            b.as_array().is_some_and(|a| !a.is_empty()).then_some(b)
        })
        .await;
    assert_eq!(
        boxes,
        json!([
            ["MixBox", "10000"],
            ["RoseBox", "10000"],
            ["LilyBox", "15000"],
            ["RandomBox", "20000"],
            ["DaisyBox", "30000"]
        ]),
        "the page sells what GET /catalog lists, at its prices"
    );
    browser
        .click(r#"input[name="flowerType"][value="RoseBox"]"#)
        .await;
    browser.fill("#qty", "2").await;
    browser
        .wait_for("the total to follow box and quantity", WAIT, || async {
            let total = browser
                .script(
                    "return document.getElementById('total').textContent;",
                    json!([]),
                )
                .await;
            (total == "20,000 won").then_some(())
        })
        .await;
    let first = place_order(&browser, SCRIPT_NAME, None).await;

    // My page shows it paid; the name is text, nothing ran.
    let r = wait_row(
        &browser,
        "my page to show the order paid",
        "my-orders",
        &first,
        |r| r["orderStatus"] == "Ordered" && r["paymentStatus"] == "PaymentConfirmed",
    )
    .await;
    assert_eq!(r["customerName"], SCRIPT_NAME, "{r}");
    assert_eq!(r["markup"], 0, "the name became markup: {r}");
    assert_eq!(r["cancel"], true, "a paid order can be cancelled: {r}");
    no_alert(&browser).await;
    let token = browser
        .script(
            "return localStorage.getItem('kukka.customerToken');",
            json!([]),
        )
        .await;
    assert!(
        token.as_str().is_some_and(|t| t.starts_with("kc1_")),
        "the browser keeps the customer token: {token}"
    );
    wait_row(
        &browser,
        "the delivery to be requested",
        "my-orders",
        &first,
        |r| r["deliveryStatus"] == "DeliveryRequested",
    )
    .await;
    // Proof that the customer's page is never reloaded from here on.
    browser
        .script("window.kukkaNotReloaded = true;", json!([]))
        .await;
    let customer_tab = browser.window().await;

    // ---- The shop owner, in another tab, ships it. ----
    browser.new_tab().await;
    browser.goto(&sys.url("/owner")).await;
    browser.fill("#owner-token", "not-the-token").await;
    browser.click("#use-token").await;
    browser
        .wait_for("a wrong token to be refused clearly", WAIT, || async {
            let m = browser
                .script(
                    "const m = document.getElementById('token-message'); \
                     return {state: m.dataset.state || '', text: m.textContent, \
                             orders: !document.getElementById('orders-section').hidden};",
                    json!([]),
                )
                .await;
            (m["state"] == "forbidden").then_some(m)
        })
        .await;
    browser.fill("#owner-token", OWNER).await;
    browser.click("#use-token").await;
    let r = wait_row(
        &browser,
        "the paid order on the owner's page",
        "owner-orders",
        &first,
        |r| r["deliveryStatus"] == "DeliveryRequested" && r["start"] == true,
    )
    .await;
    assert_eq!(r["customerName"], SCRIPT_NAME, "{r}");
    assert_eq!(r["markup"], 0, "{r}");
    browser
        .click(&format!(
            r#"#owner-orders li[data-order-id="{first}"] button[data-action="start"]"#
        ))
        .await;
    wait_row(
        &browser,
        "the delivery to start",
        "owner-orders",
        &first,
        |r| r["deliveryStatus"] == "DeliveryStarted" && r["deliver"] == true,
    )
    .await;
    shots.push(("owner", browser.screenshot_page("owner").await));
    browser
        .click(&format!(
            r#"#owner-orders li[data-order-id="{first}"] button[data-action="deliver"]"#
        ))
        .await;
    browser
        .wait_for(
            "the delivered order to leave the to-do list",
            WAIT,
            || async {
                row(&browser, "owner-orders", &first)
                    .await
                    .is_none()
                    .then_some(())
            },
        )
        .await;
    browser.click("#show-finished").await;
    wait_row(
        &browser,
        "finished orders on request",
        "owner-orders",
        &first,
        |r| r["deliveryStatus"] == "Delivered" && r["start"] == false && r["deliver"] == false,
    )
    .await;
    no_alert(&browser).await;

    // ---- Back on the customer's tab: delivered, without a reload. ----
    browser.switch_to(&customer_tab).await;
    let r = wait_row(
        &browser,
        "my page to show Delivered",
        "my-orders",
        &first,
        |r| r["deliveryStatus"] == "Delivered",
    )
    .await;
    assert_eq!(
        r["cancel"], false,
        "a delivered order cannot be cancelled: {r}"
    );
    let kept = browser
        .script("return window.kukkaNotReloaded === true;", json!([]))
        .await;
    assert_eq!(kept, true, "the customer's page was reloaded");

    // ---- A second order, cancelled from my page: the saga shows. ----
    let second = place_order(&browser, IMG_NAME, Some(&first)).await;
    assert_ne!(second, first);
    wait_row(
        &browser,
        "the second order paid and cancellable",
        "my-orders",
        &second,
        |r| r["paymentStatus"] == "PaymentConfirmed" && r["cancel"] == true,
    )
    .await;
    browser
        .click(&format!(
            r#"#my-orders li[data-order-id="{second}"] button[data-action="cancel"]"#
        ))
        .await;
    let r = wait_row(
        &browser,
        "the cancel saga's statuses",
        "my-orders",
        &second,
        |r| {
            r["orderStatus"] == "OrderCancelled"
                && r["paymentStatus"] == "PaymentCancelled"
                && r["deliveryStatus"] == "DeliveryCancelled"
        },
    )
    .await;
    assert_eq!(r["cancel"], false, "{r}");
    assert_eq!(r["customerName"], IMG_NAME, "{r}");
    assert_eq!(r["markup"], 0, "{r}");
    no_alert(&browser).await;
    shots.push(("customer", browser.screenshot_page("customer").await));

    // A reload keeps My page: the token is in localStorage, and My page
    // comes from GET /myPages with it.
    browser.goto(&sys.url("/")).await;
    for id in [&first, &second] {
        wait_row(&browser, "My page after a reload", "my-orders", id, |_| {
            true
        })
        .await;
    }
    let again = browser
        .script(
            "return localStorage.getItem('kukka.customerToken');",
            json!([]),
        )
        .await;
    assert_eq!(again, token, "one customer, one token");

    // The same page on a phone: laid out for its width (the viewport meta
    // tag works) and nothing wider than the screen.
    browser.emulate_phone(390, 844).await;
    let phone = browser
        .script(
            "return {width: window.innerWidth, \
                     overflow: document.documentElement.scrollWidth - document.documentElement.clientWidth};",
            json!([]),
        )
        .await;
    assert_eq!(phone, json!({"width": 390, "overflow": 0}), "on a phone");
    shots.push((
        "customer-phone",
        browser.screenshot_page("customer-phone").await,
    ));
    browser.stop_emulation().await;

    // ---- Operators: sign in; every role joined, the breaker closed. ----
    browser.goto(&sys.url("/status")).await;
    browser.fill("#owner-token", OWNER).await;
    browser.click("#use-token").await;
    browser
        .wait_for("the status page to show the cluster", WAIT, || async {
            let s = browser
                .script(
                    r#"const joined = (r) => Number(document.querySelector(`[data-role="${r}"]`)?.dataset.joined || 0);
                       return {roles: ["order", "payment", "delivery", "edge"].every((r) => joined(r) >= 1),
                               closed: document.querySelectorAll('#breakers tr[data-breaker-state="closed"]').length,
                               open: document.querySelectorAll('#breakers tr[data-breaker-state="open"]').length,
                               groups: document.querySelectorAll('#groups tr[data-group]').length};"#,
                    json!([]),
                )
                .await;
            (s["roles"] == true && s["closed"].as_u64() >= Some(1) && s["open"] == 0 && s["groups"].as_u64() >= Some(1))
                .then_some(s)
        })
        .await;
    browser
        .wait_for("a request rate from two samples", WAIT, || async {
            let rate = browser
                .script(
                    "return document.querySelector('[data-fact=\"rate\"] dd')?.textContent ?? null;",
                    json!([]),
                )
                .await;
            rate.as_str().is_some_and(|r| r.parse::<f64>().is_ok()).then_some(())
        })
        .await;
    shots.push(("status", browser.screenshot_page("status").await));
    no_alert(&browser).await;

    if let Some(dir) = std::env::var_os("KUKKA_SCREENSHOTS") {
        let dir = std::path::PathBuf::from(dir);
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        for (name, path) in &shots {
            std::fs::copy(path, dir.join(format!("{name}.png"))).expect("copy screenshot");
        }
    }
    eprintln!("browser test took {:.1} s", started.elapsed().as_secs_f64());
}

#[tokio::test]
async fn a_busy_payment_is_shown_with_its_retry_time() {
    let browser = Browser::start().await;
    // Every charge outlasts the payment deadline: the order is refused
    // with 503 and Retry-After.
    let sys = System::start_with(&[
        ("KUKKA_PAYMENT_TIMEOUT_MS", "100"),
        ("KUKKA_PAYMENT_INJECT_LATENCY_MS", "400-500"),
    ])
    .await;
    browser.goto(&sys.url("/")).await;
    browser.fill("#customer-name", "KIM").await;
    browser.fill("#phone", "01012341234").await;
    browser.fill("#address", "SEOUL").await;
    browser.click("#place-order").await;
    let result = browser
        .wait_for("the busy answer", WAIT, || async {
            let r = browser.script(ORDER_RESULT, json!([])).await;
            (r["state"] == "busy").then_some(r)
        })
        .await;
    let text = result["text"].as_str().unwrap_or_default();
    assert!(
        text.starts_with("Payment is busy, try again in ") && text.ends_with(" seconds."),
        "{result}"
    );
    let disabled = browser
        .script(
            "return document.getElementById('place-order').disabled;",
            json!([]),
        )
        .await;
    assert_eq!(disabled, true, "the button waits out Retry-After");
    assert!(result["orderId"].is_null(), "{result}");
    let kept = browser
        .script(
            "return document.querySelectorAll('#my-orders li').length;",
            json!([]),
        )
        .await;
    assert_eq!(kept, 0, "a refused order is not on my page");
}
