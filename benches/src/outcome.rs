//! Outcome classes of one HTTP exchange.

use serde::Serialize;

/// How one request ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum Outcome {
    /// 2xx.
    Success,
    /// 503 with `Retry-After`: the system shed the load on purpose.
    Busy,
    /// Any other 4xx.
    ClientError,
    /// 5xx other than a 503 with `Retry-After`, and any unexpected status
    /// (1xx, 3xx).
    ServerError,
    /// No HTTP answer (refused, reset, timed out).
    ConnectionError,
}

impl Outcome {
    /// Every class, in report order.
    pub const ALL: [Outcome; 5] = [
        Self::Success,
        Self::Busy,
        Self::ClientError,
        Self::ServerError,
        Self::ConnectionError,
    ];

    /// Index into per-class arrays (the position in [`Outcome::ALL`]).
    pub fn index(self) -> usize {
        match self {
            Self::Success => 0,
            Self::Busy => 1,
            Self::ClientError => 2,
            Self::ServerError => 3,
            Self::ConnectionError => 4,
        }
    }

    /// Short label for tables and the progress line.
    pub fn label(self) -> &'static str {
        match self {
            Self::Success => "2xx",
            Self::Busy => "503+RA",
            Self::ClientError => "4xx",
            Self::ServerError => "5xx",
            Self::ConnectionError => "conn",
        }
    }

    /// The class of an HTTP status.
    pub fn classify(status: u16, retry_after: bool) -> Self {
        match status {
            200..=299 => Self::Success,
            503 if retry_after => Self::Busy,
            400..=499 => Self::ClientError,
            _ => Self::ServerError,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_fall_in_their_classes() {
        assert_eq!(Outcome::classify(200, false), Outcome::Success);
        assert_eq!(Outcome::classify(201, true), Outcome::Success);
        assert_eq!(Outcome::classify(503, true), Outcome::Busy);
        assert_eq!(Outcome::classify(503, false), Outcome::ServerError);
        assert_eq!(Outcome::classify(409, false), Outcome::ClientError);
        assert_eq!(Outcome::classify(429, true), Outcome::ClientError);
        assert_eq!(Outcome::classify(500, true), Outcome::ServerError);
        assert_eq!(Outcome::classify(302, false), Outcome::ServerError);
    }

    #[test]
    fn indexes_match_the_order_of_all() {
        for (i, o) in Outcome::ALL.iter().enumerate() {
            assert_eq!(o.index(), i);
        }
    }
}
