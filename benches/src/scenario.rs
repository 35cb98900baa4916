//! What one operation of each scenario does. An operation is one or two
//! HTTP requests; each request is recorded on its own.

use std::time::{Duration, Instant};

use reqwest::{header, Client, RequestBuilder};

use crate::{outcome::Outcome, recorder::Recorder, BenchError};

/// Scenarios.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// `POST /orders`.
    PlaceOrders,
    /// `POST /orders`, then `POST /orders/{id}/cancel` for the new order.
    PlaceAndCancel,
    /// `GET /myPages/{id}` of orders placed before the run.
    ReadMypage,
    /// 6 reads, 3 places and 1 place-and-cancel in every 10 operations.
    Mixed,
}

impl Scenario {
    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::PlaceOrders => "place-orders",
            Self::PlaceAndCancel => "place-and-cancel",
            Self::ReadMypage => "read-mypage",
            Self::Mixed => "mixed",
        }
    }

    /// Whether the scenario reads pages of existing orders.
    pub fn reads(self) -> bool {
        matches!(self, Self::ReadMypage | Self::Mixed)
    }

    /// What operation `i` of this scenario does.
    pub fn step(self, i: u64) -> Step {
        match self {
            Self::PlaceOrders => Step::Place,
            Self::PlaceAndCancel => Step::PlaceAndCancel,
            Self::ReadMypage => Step::Read,
            Self::Mixed => match i % 10 {
                0..=5 => Step::Read,
                6..=8 => Step::Place,
                _ => Step::PlaceAndCancel,
            },
        }
    }
}

/// One kind of operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Place an order.
    Place,
    /// Place an order and cancel it.
    PlaceAndCancel,
    /// Read one MyPage entry.
    Read,
}

/// What every operation needs.
#[derive(Clone, Debug)]
pub struct Ctx {
    /// The HTTP client (one connection pool for all workers).
    pub client: Client,
    /// Edge base URLs; operation `i` goes to `urls[i % len]`.
    pub urls: Vec<String>,
    /// Orders whose pages the read steps read, with their customers'
    /// tokens.
    pub ids: Vec<Placed>,
    /// The scenario.
    pub scenario: Scenario,
}

impl Ctx {
    /// The base URL of operation `i`.
    pub fn base(&self, i: u64) -> &str {
        let n = self.urls.len().max(1) as u64;
        self.urls
            .get((i % n) as usize)
            .map(String::as_str)
            .unwrap_or("")
    }

    /// Runs operation `i`, whose latency counts from `start`.
    pub async fn run(&self, i: u64, start: Instant, rec: &mut Recorder) {
        let base = self.base(i);
        match self.scenario.step(i) {
            Step::Place => {
                place(&self.client, base, i, start, rec).await;
            }
            Step::PlaceAndCancel => {
                if let Some(p) = place(&self.client, base, i, start, rec).await {
                    let req = self
                        .client
                        .post(format!("{base}/orders/{}/cancel", p.id))
                        .bearer_auth(&p.token);
                    exchange(req, Instant::now(), rec).await;
                }
            }
            Step::Read => {
                let Some(p) = self
                    .ids
                    .get((i / self.urls.len().max(1) as u64) as usize % self.ids.len().max(1))
                else {
                    return;
                };
                let req = self
                    .client
                    .get(format!("{base}/myPages/{}", p.id))
                    .bearer_auth(&p.token);
                exchange(req, start, rec).await;
            }
        }
    }
}

/// The JSON body of order number `n`.
pub fn order_body(n: u64) -> String {
    format!(
        r#"{{"customerName":"bench-{n}","phoneNumber":"010-1234-5678","address":"SEOUL","flowerType":"MixBox","price":10000}}"#
    )
}

/// A placed order: its id and its customer's token (which reads and
/// cancels it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placed {
    /// The order's id.
    pub id: String,
    /// `customerToken` of the answer.
    pub token: String,
}

/// The order a `201` of `POST /orders` placed.
pub fn placed(body: &[u8]) -> Option<Placed> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    Some(Placed {
        id: v.get("id")?.as_str()?.to_string(),
        token: v.get("customerToken")?.as_str()?.to_string(),
    })
}

fn place_request(client: &Client, base: &str, n: u64) -> RequestBuilder {
    client
        .post(format!("{base}/orders"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(order_body(n))
}

/// Places order `n` (for a new customer); the order if it was created.
async fn place(
    client: &Client,
    base: &str,
    n: u64,
    start: Instant,
    rec: &mut Recorder,
) -> Option<Placed> {
    let (status, body) = exchange(place_request(client, base, n), start, rec).await?;
    (status == 201).then(|| placed(&body)).flatten()
}

/// Sends a request, reads the whole answer and records it.
async fn exchange(
    req: RequestBuilder,
    start: Instant,
    rec: &mut Recorder,
) -> Option<(u16, bytes::Bytes)> {
    match send(req).await {
        Ok((outcome, status, body)) => {
            rec.record(outcome, start, Instant::now());
            Some((status, body))
        }
        Err(()) => {
            rec.record(Outcome::ConnectionError, start, Instant::now());
            None
        }
    }
}

/// Sends a request and reads the whole answer (so the connection is reused).
pub async fn send(req: RequestBuilder) -> Result<(Outcome, u16, bytes::Bytes), ()> {
    let resp = req.send().await.map_err(|_| ())?;
    let status = resp.status().as_u16();
    let retry_after = resp.headers().contains_key(header::RETRY_AFTER);
    let body = resp.bytes().await.map_err(|_| ())?;
    Ok((Outcome::classify(status, retry_after), status, body))
}

/// Places `count` orders through `base` and waits until each shows on
/// `/myPages/{id}`; the orders.
pub async fn seed(client: &Client, base: &str, count: usize) -> Result<Vec<Placed>, BenchError> {
    let mut ids = Vec::with_capacity(count);
    for n in 0..count as u64 {
        let req = place_request(client, base, u64::MAX - n);
        match send(req).await {
            Ok((_, 201, body)) => ids.extend(placed(&body)),
            Ok((_, status, _)) => {
                return Err(BenchError::Seed(format!("POST /orders answered {status}")))
            }
            Err(()) => return Err(BenchError::Seed(format!("{base} did not answer"))),
        }
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    for p in &ids {
        while !visible(client, base, p).await {
            if Instant::now() > deadline {
                return Err(BenchError::Seed(format!(
                    "order {} did not show on /myPages within 30 s",
                    p.id
                )));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    Ok(ids)
}

/// Whether `GET /myPages/{id}` shows the order as placed to its customer.
pub async fn visible(client: &Client, base: &str, p: &Placed) -> bool {
    let Ok(resp) = client
        .get(format!("{base}/myPages/{}", p.id))
        .bearer_auth(&p.token)
        .send()
        .await
    else {
        return false;
    };
    if resp.status().as_u16() != 200 {
        let _ = resp.bytes().await;
        return false;
    }
    resp.json::<serde_json::Value>()
        .await
        .ok()
        .is_some_and(|v| v.get("orderStatus").and_then(|s| s.as_str()) == Some("Ordered"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mixed_is_six_reads_three_places_one_cancel() {
        let steps: Vec<_> = (0..10).map(|i| Scenario::Mixed.step(i)).collect();
        assert_eq!(steps.iter().filter(|s| **s == Step::Read).count(), 6);
        assert_eq!(steps.iter().filter(|s| **s == Step::Place).count(), 3);
        assert_eq!(
            steps.iter().filter(|s| **s == Step::PlaceAndCancel).count(),
            1
        );
        assert!(Scenario::Mixed.reads() && !Scenario::PlaceOrders.reads());
    }

    #[test]
    fn bodies_are_valid_orders_and_ids_are_read_back() {
        let v: serde_json::Value = serde_json::from_str(&order_body(7)).expect("json");
        let catalog = kukka_actors::order::catalog::Catalog::builtin();
        let parsed = kukka_actors::order::new_order::NewOrder::parse(&v, &catalog).expect("valid");
        assert_eq!(parsed.customer_name, "bench-7");
        assert_eq!(parsed.check_price(), Ok(()), "the catalog's price");
        assert_eq!(
            placed(br#"{"id":"0-3","status":"Ordered","customerToken":"kc1_x"}"#),
            Some(Placed {
                id: "0-3".into(),
                token: "kc1_x".into()
            })
        );
        assert_eq!(placed(br#"{"id":"0-3"}"#), None);
        assert_eq!(placed(b"nope"), None);
    }

    #[test]
    fn urls_rotate() {
        let ctx = Ctx {
            client: Client::new(),
            urls: vec!["a".into(), "b".into()],
            ids: Vec::new(),
            scenario: Scenario::PlaceOrders,
        };
        assert_eq!(ctx.base(0), "a");
        assert_eq!(ctx.base(1), "b");
        assert_eq!(ctx.base(2), "a");
    }
}
