//! [`OrderId`]: the id of an order, `<shard>-<seq>` (e.g. `0-17`). It names
//! the order shard that owns the order, so a request about an order goes
//! straight to that shard. Clients treat it as opaque; inside kukka it is
//! parsed once, here.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An order's id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OrderId {
    shard: u32,
    seq: u64,
}

/// A string that is not an order id.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not an order id: {0:?}")]
pub struct InvalidOrderId(String);

impl OrderId {
    /// The order stored under `seq` on shard `shard`.
    pub fn new(shard: u32, seq: u64) -> Self {
        Self { shard, seq }
    }

    /// The shard that owns the order.
    pub fn shard(self) -> u32 {
        self.shard
    }

    /// Its sequence number on that shard.
    pub fn seq(self) -> u64 {
        self.seq
    }
}

fn digits<T: FromStr>(s: &str) -> Option<T> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

impl FromStr for OrderId {
    type Err = InvalidOrderId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || InvalidOrderId(s.chars().take(64).collect());
        let (shard, seq) = s.split_once('-').ok_or_else(bad)?;
        Ok(Self {
            shard: digits(shard).ok_or_else(bad)?,
            seq: digits(seq).ok_or_else(bad)?,
        })
    }
}

impl fmt::Display for OrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.shard, self.seq)
    }
}

impl Serialize for OrderId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for OrderId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_anything_else_is_refused() {
        let id: OrderId = "3-17".parse().expect("id");
        assert_eq!((id.shard(), id.seq()), (3, 17));
        assert_eq!(id.to_string(), "3-17");
        assert_eq!(
            serde_json::to_string(&id).expect("json"),
            "\"3-17\"",
            "a string on the wire"
        );
        let back: OrderId = serde_json::from_str("\"3-17\"").expect("json");
        assert_eq!(back, id);
        for bad in [
            "",
            "3",
            "3-",
            "-17",
            "a-1",
            "1-b",
            "+1-2",
            "1-+2",
            "1-2-3",
            "1 -2",
            "99999999999-1",
        ] {
            assert!(bad.parse::<OrderId>().is_err(), "{bad:?}");
        }
        assert!(serde_json::from_str::<OrderId>("\"garbage\"").is_err());
    }
}
