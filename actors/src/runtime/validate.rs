//! Checking what arrives over the cluster, on the node that receives it.
//!
//! The edge parses and checks every request before it sends anything on,
//! but a service actor does not trust its callers to have done so: every
//! request payload implements [`Validate`], and a service actor takes it
//! out of its frame with [`super::wire::Wire::into_valid`], which refuses a
//! payload that breaks a rule with [`ServiceError::Invalid`] before any work
//! is done. Strings are bounded in length and character set, amounts and
//! counts in range, ids are typed (an `OrderId` that does not parse never
//! decodes), and lists are capped.

use super::error::ServiceError;

/// Longest correlation id (the edge's own rule for `X-Correlation-Id`).
pub const MAX_CORRELATION_ID: usize = 128;
/// Longest `Idempotency-Key` (the edge's own rule).
pub const MAX_IDEMPOTENCY_KEY: usize = 200;
/// Most shards a [`super::paging::ListQuery`] may name.
pub const MAX_SHARDS_IN_QUERY: usize = 1024;

/// A payload that knows its rules.
pub trait Validate {
    /// `Ok` if every field keeps its rule.
    fn validate(&self) -> Result<(), ServiceError>;
}

impl Validate for () {
    fn validate(&self) -> Result<(), ServiceError> {
        Ok(())
    }
}

/// A broken rule of `field`.
pub fn invalid(field: &str, message: impl Into<String>) -> ServiceError {
    ServiceError::Invalid {
        field: field.to_string(),
        message: message.into(),
    }
}

/// A correlation id: 1 to [`MAX_CORRELATION_ID`] characters of
/// `[A-Za-z0-9._:-]` (it is written into logs and events).
pub fn correlation_id(id: &str) -> Result<(), ServiceError> {
    let ok = !id.is_empty()
        && id.len() <= MAX_CORRELATION_ID
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(invalid(
            "correlationId",
            format!("must be 1 to {MAX_CORRELATION_ID} characters of A-Z a-z 0-9 . _ : -"),
        ))
    }
}

/// A W3C `traceparent` as the edge forwards it (normalised to version
/// `00`): `00-<32 hex>-<16 hex>-<2 hex>`, lowercase; or none.
pub fn traceparent(value: Option<&str>) -> Result<(), ServiceError> {
    let Some(v) = value else { return Ok(()) };
    let hex = |s: &str, n: usize| {
        s.len() == n
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    let parts: Vec<&str> = v.split('-').collect();
    match parts.as_slice() {
        ["00", trace, parent, flags] if hex(trace, 32) && hex(parent, 16) && hex(flags, 2) => {
            Ok(())
        }
        _ => Err(invalid(
            "traceparent",
            "must be 00-<32 hex>-<16 hex>-<2 hex>",
        )),
    }
}

/// Free text: 1 to `max` characters, no control characters.
pub fn text(field: &str, value: &str, max: usize) -> Result<(), ServiceError> {
    if value.is_empty() || value.chars().count() > max {
        return Err(invalid(field, format!("must be 1 to {max} characters")));
    }
    if value.chars().any(char::is_control) {
        return Err(invalid(field, "must not contain control characters"));
    }
    Ok(())
}

/// A whole number in `min..=max`.
pub fn in_range(field: &str, value: u64, min: u64, max: u64) -> Result<(), ServiceError> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(invalid(field, format!("must be from {min} to {max}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn correlation_ids_keep_the_edges_rule() {
        assert!(correlation_id("abc-123_x.y:z").is_ok());
        assert!(correlation_id(&"a".repeat(MAX_CORRELATION_ID)).is_ok());
        for bad in ["", "a b", "<script>", "é", "a\nb"] {
            assert!(correlation_id(bad).is_err(), "{bad:?}");
        }
        assert!(correlation_id(&"a".repeat(MAX_CORRELATION_ID + 1)).is_err());
    }

    #[test]
    fn traceparents_are_the_normalised_w3c_form_or_none() {
        assert!(traceparent(None).is_ok());
        let ok = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert!(traceparent(Some(ok)).is_ok());
        for bad in [
            "",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",
            "00-zz-00f067aa0ba902b7-01",
        ] {
            assert!(traceparent(Some(bad)).is_err(), "{bad:?}");
        }
        assert!(traceparent(Some(&"a".repeat(10_000))).is_err());
    }

    #[test]
    fn text_and_ranges_are_bounded() {
        assert!(text("k", "key-1", 5).is_ok());
        assert!(text("k", "", 5).is_err());
        assert!(text("k", "123456", 5).is_err());
        assert!(text("k", "a\u{0}b", 5).is_err());
        assert!(in_range("amount", 1, 1, 10).is_ok());
        assert!(in_range("amount", 0, 1, 10).is_err());
        assert!(in_range("amount", 11, 1, 10).is_err());
    }
}
