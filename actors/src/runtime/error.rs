//! [`ServiceError`]: why a service actor could not do what was asked. It
//! crosses the wire in every reply; the edge maps each variant to an HTTP
//! status and a stable error code in one table (`kukka_http_edge::error`).

use serde::{Deserialize, Serialize};

use crate::domain_error::DomainError;

/// Why a service could not do what was asked.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum ServiceError {
    /// The request broke a validation rule.
    #[error("{field}: {message}")]
    Invalid {
        /// The offending field, camelCase as clients spell it.
        field: String,
        /// The rule it broke, in words a client can act on.
        message: String,
    },
    /// No such aggregate (or one the caller may not see).
    #[error("{what} not found")]
    NotFound {
        /// What was looked for, e.g. `order 0-17`.
        what: String,
    },
    /// An `Idempotency-Key` was reused with a different request.
    #[error("{message}")]
    IdempotencyMismatch {
        /// What differs, for the client.
        message: String,
    },
    /// The aggregate's state forbids the change (e.g. cancelling a
    /// delivered order).
    #[error("{message}")]
    Conflict {
        /// The state that forbids it, for the client.
        message: String,
    },
    /// The customer expects another total than the shop's; nothing was
    /// written.
    #[error("{message}")]
    PriceMismatch {
        /// The shop's total (catalog price × quantity), in won.
        price: u64,
        /// What differs, for the client.
        message: String,
    },
    /// Payment did not confirm in time, or is shedding load: the order was
    /// not established; try again shortly.
    #[error("payment unavailable: {message}")]
    PaymentUnavailable {
        /// What happened (timeout, circuit open, bulkhead full...).
        message: String,
        /// Seconds the client should wait before retrying.
        retry_after_secs: u32,
    },
    /// A node or dependency is unreachable right now.
    #[error("unavailable: {message}")]
    Unavailable {
        /// Which dependency, for the log.
        message: String,
        /// Seconds the client should wait before retrying.
        retry_after_secs: u32,
    },
    /// A bug or a broken machine (a record that cannot be decoded, a disk
    /// that refuses writes). The caller logs it; clients see a generic
    /// message.
    #[error("internal: {message}")]
    Internal {
        /// What broke, for the log.
        message: String,
    },
}

impl ServiceError {
    /// A dependency is down: retry in a second.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::Unavailable {
            message: message.into(),
            retry_after_secs: 1,
        }
    }

    /// Payment could not be reached or refused to take the call: retry in a
    /// second.
    pub fn payment_unavailable(message: impl Into<String>) -> Self {
        Self::PaymentUnavailable {
            message: message.into(),
            retry_after_secs: 1,
        }
    }

    /// Wraps an error that is nobody's input mistake. It is not logged
    /// here: whoever turns it into an answer logs it once.
    pub fn internal(e: impl std::fmt::Display) -> Self {
        Self::Internal {
            message: e.to_string(),
        }
    }

    /// The order (or its payment or delivery) `what` does not exist.
    pub fn not_found(what: impl std::fmt::Display) -> Self {
        Self::NotFound {
            what: what.to_string(),
        }
    }
}

impl From<DomainError> for ServiceError {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::Invalid { field, message } => Self::Invalid { field, message },
            e @ DomainError::IllegalTransition { .. } => Self::Conflict {
                message: e.to_string(),
            },
            e @ DomainError::PriceMismatch { price, .. } => Self::PriceMismatch {
                price,
                message: e.to_string(),
            },
        }
    }
}

impl From<kukka_storage::StorageError> for ServiceError {
    fn from(e: kukka_storage::StorageError) -> Self {
        tracing::error!(error = %e, "storage failure");
        use kukka_storage::StorageError as E;
        match e {
            E::Redis(e) => ServiceError::unavailable(format!("redis: {e}")),
            // The node restarts from its disk; another shard (or this one,
            // shortly) takes the retry.
            e @ (E::Poisoned(_) | E::FlusherStopped) => ServiceError::unavailable(e.to_string()),
            other => ServiceError::internal(other),
        }
    }
}

/// A reply: the value or the error.
pub type Reply<T> = Result<T, ServiceError>;
