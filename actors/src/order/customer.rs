//! [`CustomerId`]: who placed an order. 128 random bits, made by the edge
//! for a caller without a customer token, written as 32 lowercase hex
//! digits. The order keeps it, `OrderPlaced` carries it, and the views
//! index a customer's orders by it. It is never shown to clients: they
//! hold a customer token, which the edge derives from it with a secret
//! (`kukka_http_edge::auth`), and nothing but the edge can make one.

use std::{fmt, str::FromStr};

use rand::RngCore;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A customer's id.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CustomerId([u8; 16]);

/// A string that is not a customer id.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not a customer id")]
pub struct InvalidCustomerId;

impl CustomerId {
    /// A new customer: 128 bits from the thread's cryptographically secure
    /// generator (ChaCha seeded from the operating system).
    pub fn random() -> Self {
        let mut bytes = [0u8; 16];
        rand::rng().fill_bytes(&mut bytes);
        Self(bytes)
    }

    /// The id made of these bytes.
    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(bytes)
    }

    /// Its bytes.
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }
}

impl fmt::Display for CustomerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// Only a prefix: an id is as good as a password to whoever also holds the
/// token secret, so logs do not get it whole.
impl fmt::Debug for CustomerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CustomerId({:02x}{:02x}…)", self.0[0], self.0[1])
    }
}

impl FromStr for CustomerId {
    type Err = InvalidCustomerId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != 32 {
            return Err(InvalidCustomerId);
        }
        let mut bytes = [0u8; 16];
        for (i, b) in bytes.iter_mut().enumerate() {
            let pair = s.get(2 * i..2 * i + 2).ok_or(InvalidCustomerId)?;
            if !pair.bytes().all(|c| c.is_ascii_hexdigit()) {
                return Err(InvalidCustomerId);
            }
            *b = u8::from_str_radix(pair, 16).map_err(|_| InvalidCustomerId)?;
        }
        Ok(Self(bytes))
    }
}

impl Serialize for CustomerId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for CustomerId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_random_round_trip_and_debug_shows_only_a_prefix() {
        let a = CustomerId::random();
        let b = CustomerId::random();
        assert_ne!(a, b);
        let text = a.to_string();
        assert_eq!(text.len(), 32);
        assert_eq!(text.parse::<CustomerId>(), Ok(a));
        let json = serde_json::to_string(&a).expect("json");
        assert_eq!(json, format!("\"{text}\""));
        assert_eq!(serde_json::from_str::<CustomerId>(&json).expect("json"), a);
        assert!(!format!("{a:?}").contains(&text[4..]));
        for bad in ["", "abc", &"g".repeat(32), &"0".repeat(31), &"0".repeat(33)] {
            assert!(bad.parse::<CustomerId>().is_err(), "{bad}");
        }
    }
}
