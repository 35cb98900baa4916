//! [`DomainError`]: a rule of the domain said no. Broken rules, not broken
//! machines; every context's model returns it.

use serde::{Deserialize, Serialize};

/// A rule of the domain said no.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum DomainError {
    /// Input did not satisfy a field's rule.
    #[error("{field}: {message}")]
    Invalid {
        /// The field, camelCase as clients spell it.
        field: String,
        /// The rule it broke, in words a client can act on.
        message: String,
    },
    /// The aggregate's current state forbids the transition.
    #[error("cannot {action} while {current}")]
    IllegalTransition {
        /// What was attempted, e.g. `cancel`.
        action: String,
        /// The status the aggregate is in, e.g. `Rejected`.
        current: String,
    },
    /// The customer expects to pay another total than the shop charges.
    #[error("the total is {price} won, not {expected} won")]
    PriceMismatch {
        /// The total the request named.
        expected: u64,
        /// The shop's total (catalog price × quantity).
        price: u64,
    },
}

impl DomainError {
    pub(crate) fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }

    pub(crate) fn illegal(action: &str, current: &str) -> Self {
        Self::IllegalTransition {
            action: action.into(),
            current: current.into(),
        }
    }
}
