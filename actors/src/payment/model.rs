//! The payment aggregate and its rules (plain Rust, no I/O): one payment
//! per order, charged once, refunded or voided once.

use serde::{Deserialize, Serialize};

use crate::order::id::OrderId;

/// Where a payment stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PaymentStatus {
    /// Charged.
    PaymentConfirmed,
    /// Refunded (order cancelled) or voided (order never established).
    PaymentCancelled,
}

impl PaymentStatus {
    /// Its name, as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PaymentConfirmed => "PaymentConfirmed",
            Self::PaymentCancelled => "PaymentCancelled",
        }
    }

    /// Rank in the read models: `PaymentCancelled` beats
    /// `PaymentConfirmed` whatever order events arrive in.
    pub fn rank(self) -> u32 {
        match self {
            Self::PaymentConfirmed => 1,
            Self::PaymentCancelled => 2,
        }
    }
}

/// A payment as stored by the payment node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Payment {
    /// Its id, `pay-<shard>-<seq>`.
    pub id: String,
    /// The order it pays for.
    pub order_id: OrderId,
    /// The amount charged, in won.
    pub amount: u64,
    /// Where it stands.
    pub status: PaymentStatus,
    /// When it was charged (RFC 3339).
    pub created_at: String,
    /// When its status last changed (RFC 3339).
    pub updated_at: String,
}

impl Payment {
    /// A confirmed charge.
    pub fn confirmed(id: String, order_id: OrderId, amount: u64, now: &str) -> Self {
        Self {
            id,
            order_id,
            amount,
            status: PaymentStatus::PaymentConfirmed,
            created_at: now.to_string(),
            updated_at: now.to_string(),
        }
    }

    /// Refunds or voids the payment. `true` if it changed (a
    /// `PaymentCancelled` event is due); cancelling twice changes nothing.
    pub fn cancel(&mut self, now: &str) -> bool {
        match self.status {
            PaymentStatus::PaymentConfirmed => {
                self.status = PaymentStatus::PaymentCancelled;
                self.updated_at = now.to_string();
                true
            }
            PaymentStatus::PaymentCancelled => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cancel_is_a_one_way_idempotent_transition() {
        let mut p = Payment::confirmed("p".into(), OrderId::new(0, 1), 10, "t0");
        assert!(p.cancel("t1"));
        assert_eq!(p.status, PaymentStatus::PaymentCancelled);
        assert!(!p.cancel("t2"));
        assert_eq!(p.updated_at, "t1");
    }
}
