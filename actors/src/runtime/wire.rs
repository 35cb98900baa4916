//! How our payloads cross the cluster.
//!
//! ractor_cluster carries message fields as `BytesConvertable`, whose
//! `from_bytes` cannot fail. [`Wire`] wraps any serde type as JSON and keeps
//! a decoding failure as a value, so a malformed or incompatible frame
//! becomes an error reply instead of a panic in the receiving actor.

use ractor::BytesConvertable;
use serde::{de::DeserializeOwned, Serialize};

use super::{error::ServiceError, validate::Validate};

/// A JSON-encoded message field.
#[derive(Debug)]
pub struct Wire<T>(Result<T, String>);

impl<T> Wire<T> {
    /// Wraps a value to send.
    pub fn new(value: T) -> Self {
        Self(Ok(value))
    }

    /// The received value, or why it could not be decoded.
    pub fn into_inner(self) -> Result<T, ServiceError> {
        self.0.map_err(|reason| ServiceError::Internal {
            message: format!("undecodable cluster message: {reason}"),
        })
    }
}

impl<T: Validate> Wire<T> {
    /// The received request, decoded and checked against its rules (see
    /// [`super::validate`]): what a service actor takes out of every
    /// request it serves.
    pub fn into_valid(self) -> Result<T, ServiceError> {
        let value = self.into_inner()?;
        value.validate()?;
        Ok(value)
    }
}

impl<T: Serialize + DeserializeOwned> BytesConvertable for Wire<T> {
    fn into_bytes(self) -> Vec<u8> {
        match self.0 {
            Ok(v) => serde_json::to_vec(&v)
                .expect("our message types encode to JSON: plain fields, string map keys"),
            // A value that failed to decode here is never sent on.
            Err(_) => Vec::new(),
        }
    }

    fn from_bytes(bytes: Vec<u8>) -> Self {
        Self(serde_json::from_slice(&bytes).map_err(|e| e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_and_garbage_becomes_an_error() {
        let w = Wire::new(vec![1u32, 2]);
        let back: Wire<Vec<u32>> = Wire::from_bytes(w.into_bytes());
        assert_eq!(back.into_inner().expect("ok"), vec![1, 2]);
        let bad: Wire<Vec<u32>> = Wire::from_bytes(b"{nope".to_vec());
        assert!(bad.into_inner().is_err());
    }
}
