//! What one request of each scenario does.

use serde_json::json;

use crate::Outcome;

/// Scenarios.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// `POST /orders`.
    PlaceOrders,
    /// `GET /myPages?limit=20`.
    ReadMypage,
}

impl Scenario {
    /// Sends one request; `n` makes bodies distinct.
    pub async fn once(self, client: &reqwest::Client, base: &str, n: u64) -> Outcome {
        let req = match self {
            Self::PlaceOrders => client.post(format!("{base}/orders")).json(&json!({
                "customerName": format!("bench-{n}"), "phoneNumber": "01012341234",
                "address": "SEOUL", "flowerType": "MixBox", "price": 10000
            })),
            Self::ReadMypage => client.get(format!("{base}/myPages?limit=20")),
        };
        match req.send().await {
            Err(_) => Outcome::ConnectionError,
            Ok(r) => classify(r.status().as_u16(), r.headers().contains_key("retry-after")),
        }
    }
}

/// The outcome class of a status.
pub fn classify(status: u16, retry_after: bool) -> Outcome {
    match status {
        200..=299 => Outcome::Success,
        503 if retry_after => Outcome::Busy,
        400..=499 => Outcome::ClientError,
        _ => Outcome::ServerError,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_fall_in_their_classes() {
        assert_eq!(classify(201, false), Outcome::Success);
        assert_eq!(classify(503, true), Outcome::Busy);
        assert_eq!(classify(503, false), Outcome::ServerError);
        assert_eq!(classify(409, false), Outcome::ClientError);
        assert_eq!(classify(500, false), Outcome::ServerError);
    }
}
