//! Customer tokens: `kc1_` followed by the customer's id (32 hex digits)
//! and a tag (32 hex digits), the first 128 bits of HMAC-SHA-256 of the
//! id under the edge's token secret (`--token-secret`).
//!
//! The id is 128 random bits ([`CustomerId::random`]); without the secret
//! nobody can make the tag of an id, so a token cannot be forged or
//! guessed, and any edge with the secret verifies one without storing
//! anything: tokens survive restarts of every role. Tags are compared in
//! constant time. A previous secret (`--token-secret-previous`) is still
//! accepted, so the secret can be rotated without signing every customer
//! out: new tokens are made with the current one.

use hmac::{Hmac, KeyInit, Mac};
use kukka_actors::order::customer::CustomerId;
use rand::RngCore;
use sha2::Sha256;

/// What every customer token starts with.
pub const PREFIX: &str = "kc1_";
/// Bytes of the tag kept in a token.
const TAG_BYTES: usize = 16;
/// Binds tags to their use: the same secret used for something else can
/// never make a valid tag.
const DOMAIN: &[u8] = b"kukka customer token v1\0";

type HmacSha256 = Hmac<Sha256>;

/// The keys tokens are made and checked with.
#[derive(Clone)]
pub struct TokenKeys {
    /// The first makes tokens; all of them are accepted.
    keys: Vec<HmacSha256>,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TokenKeys({} keys)", self.keys.len())
    }
}

fn key(secret: &[u8]) -> HmacSha256 {
    <HmacSha256 as KeyInit>::new_from_slice(secret).expect("HMAC takes keys of any length")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex<const N: usize>(s: &str) -> Option<[u8; N]> {
    if s.len() != 2 * N || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut out = [0u8; N];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

impl TokenKeys {
    /// Keys from the secret, and a previous secret still accepted.
    pub fn new(secret: &[u8], previous: Option<&[u8]>) -> Self {
        let mut keys = vec![key(secret)];
        keys.extend(previous.map(key));
        Self { keys }
    }

    /// Keys from a random secret of this process: its tokens die with it.
    /// For tests and for an edge on loopback started without a secret.
    pub fn ephemeral() -> Self {
        let mut secret = [0u8; 32];
        rand::rng().fill_bytes(&mut secret);
        Self::new(&secret, None)
    }

    fn mac(key: &HmacSha256, customer: &CustomerId) -> HmacSha256 {
        let mut mac = key.clone();
        mac.update(DOMAIN);
        mac.update(customer.as_bytes());
        mac
    }

    /// The token of `customer`.
    pub fn issue(&self, customer: &CustomerId) -> String {
        let tag = Self::mac(&self.keys[0], customer).finalize().into_bytes();
        format!("{PREFIX}{customer}{}", hex(&tag[..TAG_BYTES]))
    }

    /// The customer a token names, if it is one of ours.
    pub fn verify(&self, token: &str) -> Option<CustomerId> {
        let rest = token.strip_prefix(PREFIX)?;
        let customer: CustomerId = rest.get(..32)?.parse().ok()?;
        let tag: [u8; TAG_BYTES] = unhex(rest.get(32..)?)?;
        let mut valid = false;
        for key in &self.keys {
            // Constant time (the `subtle` comparison inside `verify`).
            valid |= Self::mac(key, &customer)
                .verify_truncated_left(&tag)
                .is_ok();
        }
        valid.then_some(customer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_names_its_customer_and_only_the_secret_makes_one() {
        let keys = TokenKeys::new(b"a secret of at least thirty-two chars", None);
        let c = CustomerId::random();
        let token = keys.issue(&c);
        assert!(token.starts_with(PREFIX));
        assert_eq!(token.len(), PREFIX.len() + 64);
        assert_eq!(keys.verify(&token), Some(c));
        assert_eq!(keys.issue(&c), token, "the same customer, the same token");

        let other = TokenKeys::new(b"another secret of thirty-two chars!", None);
        assert_eq!(other.verify(&token), None, "another secret");
        // Any changed character is refused.
        for i in PREFIX.len()..token.len() {
            let mut bytes = token.clone().into_bytes();
            bytes[i] = if bytes[i] == b'0' { b'1' } else { b'0' };
            let changed = String::from_utf8(bytes).expect("ascii");
            assert_eq!(keys.verify(&changed), None, "changed at {i}");
        }
        for bad in [
            "",
            PREFIX,
            "kc1_zz",
            &token[..token.len() - 1],
            &format!("{token}0"),
        ] {
            assert_eq!(keys.verify(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_previous_secret_is_still_accepted_and_new_tokens_use_the_current_one() {
        let old = TokenKeys::new(b"the old secret, thirty-two chars long", None);
        let rotated = TokenKeys::new(
            b"the new secret, thirty-two chars long",
            Some(b"the old secret, thirty-two chars long"),
        );
        let c = CustomerId::random();
        assert_eq!(rotated.verify(&old.issue(&c)), Some(c));
        assert_eq!(old.verify(&rotated.issue(&c)), None);
        assert_ne!(
            TokenKeys::ephemeral().issue(&c),
            TokenKeys::ephemeral().issue(&c)
        );
    }
}
