//! The order aggregate.
//!
//! An order is established only when paid: it is created `Ordered` (payment
//! confirmed) or `Rejected` (payment declined, timed out or unavailable),
//! never "pending" from a client's point of view.

use serde::{Deserialize, Serialize};

use super::{new_order::NewOrder, DomainError};

/// Where an order stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum OrderStatus {
    /// Paid and established.
    Ordered,
    /// Cancelled by the customer (payment refunded, delivery cancelled).
    OrderCancelled,
    /// Payment failed: never established.
    Rejected,
}

/// An order as stored on its shard and shown to clients.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Order {
    /// Opaque id; names the shard that owns the order.
    pub id: String,
    /// Who ordered.
    pub customer_name: String,
    /// Phone.
    pub phone_number: String,
    /// Delivery address.
    pub address: String,
    /// Subscription box.
    pub flower_type: String,
    /// Price in won.
    pub price: u64,
    /// Quantity.
    pub qty: u32,
    /// Status.
    pub status: OrderStatus,
    /// The payment that established the order.
    pub payment_id: Option<String>,
    /// Why it was rejected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reject_reason: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

impl Order {
    /// A paid, established order.
    pub fn placed(id: String, new: NewOrder, payment_id: String, now: &str) -> Self {
        Self::from_new(id, new, OrderStatus::Ordered, Some(payment_id), None, now)
    }

    /// An order whose payment failed.
    pub fn rejected(id: String, new: NewOrder, reason: String, now: &str) -> Self {
        Self::from_new(id, new, OrderStatus::Rejected, None, Some(reason), now)
    }

    /// A record fencing off an order id whose placement never completed
    /// (found by payment reconciliation): it is rejected, and a late commit
    /// of the real order under the same id is refused.
    pub fn unconfirmed(id: String, now: &str) -> Self {
        let empty = NewOrder {
            customer_name: String::new(),
            phone_number: String::new(),
            address: String::new(),
            flower_type: String::new(),
            price: 0,
            qty: 0,
        };
        let reason = "placement did not complete; payment reconciliation voided it".to_string();
        Self::from_new(id, empty, OrderStatus::Rejected, None, Some(reason), now)
    }

    fn from_new(
        id: String,
        new: NewOrder,
        status: OrderStatus,
        payment_id: Option<String>,
        reject_reason: Option<String>,
        now: &str,
    ) -> Self {
        Self {
            id,
            customer_name: new.customer_name,
            phone_number: new.phone_number,
            address: new.address,
            flower_type: new.flower_type,
            price: new.price,
            qty: new.qty,
            status,
            payment_id,
            reject_reason,
            created_at: now.to_string(),
            updated_at: now.to_string(),
        }
    }

    /// Cancels the order. `Ok(true)`: it changed and an `OrderCancelled`
    /// event is due; `Ok(false)`: it was already cancelled (cancel is
    /// idempotent); an order that was never established cannot be cancelled.
    pub fn cancel(&mut self, now: &str) -> Result<bool, DomainError> {
        match self.status {
            OrderStatus::Ordered => {
                self.status = OrderStatus::OrderCancelled;
                self.updated_at = now.to_string();
                Ok(true)
            }
            OrderStatus::OrderCancelled => Ok(false),
            OrderStatus::Rejected => Err(DomainError::illegal("cancel", self.status)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_order() -> NewOrder {
        NewOrder {
            customer_name: "KIM".into(),
            phone_number: "01012341234".into(),
            address: "SEOUL".into(),
            flower_type: "MixBox".into(),
            price: 10000,
            qty: 1,
        }
    }

    #[test]
    fn a_placed_order_cancels_once_then_is_idempotent() {
        let mut o = Order::placed("0-1".into(), new_order(), "p".into(), "t0");
        assert_eq!(o.status, OrderStatus::Ordered);
        assert_eq!(o.cancel("t1"), Ok(true));
        assert_eq!(o.status, OrderStatus::OrderCancelled);
        assert_eq!(o.updated_at, "t1");
        assert_eq!(o.cancel("t2"), Ok(false));
        assert_eq!(o.updated_at, "t1");
    }

    #[test]
    fn a_rejected_order_cannot_be_cancelled() {
        let mut o = Order::rejected("0-1".into(), new_order(), "timeout".into(), "t0");
        assert!(matches!(
            o.cancel("t1"),
            Err(DomainError::IllegalTransition { .. })
        ));
        assert_eq!(o.status, OrderStatus::Rejected);
    }
}
