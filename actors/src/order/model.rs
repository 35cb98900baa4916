//! The order aggregate and its rules (plain Rust, no I/O).
//!
//! An order is established only when paid: it is created `Ordered` (payment
//! confirmed) or `Rejected` (payment declined, timed out or unreachable),
//! never "pending" from a client's point of view. What the customer asked
//! for is an [`OrderLine`], defined once and carried unchanged by the
//! request ([`super::new_order::NewOrder`]), the stored [`Order`] and the
//! `OrderPlaced` event.

use serde::{Deserialize, Serialize};

use super::{customer::CustomerId, id::OrderId};
use crate::domain_error::DomainError;

/// What the customer ordered: who, where to, which box, how many, and the
/// total price.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderLine {
    /// The customer's name as they gave it (trimmed).
    pub customer_name: String,
    /// The phone number the courier calls.
    pub phone_number: String,
    /// Where the flowers go.
    pub address: String,
    /// The subscription box (`MixBox`, `RoseBox`, ...).
    pub flower_type: String,
    /// The order's total in won; what payment charges.
    pub price: u64,
    /// How many boxes.
    pub qty: u32,
}

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

impl OrderStatus {
    /// Its name, as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ordered => "Ordered",
            Self::OrderCancelled => "OrderCancelled",
            Self::Rejected => "Rejected",
        }
    }

    /// Rank in the read models: a status never gives way to a lower one
    /// (`OrderCancelled` beats `Ordered` whatever order events arrive in).
    /// A rejected order never reaches the read models.
    pub fn rank(self) -> u32 {
        match self {
            Self::Rejected => 0,
            Self::Ordered => 1,
            Self::OrderCancelled => 2,
        }
    }
}

/// An order as stored on its shard and shown to clients.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Order {
    /// Its id; names the shard that owns it.
    pub id: OrderId,
    /// Who placed it (none for orders placed before customers had ids, and
    /// for fences). Never shown to clients (the edge leaves it out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<CustomerId>,
    /// What was ordered.
    #[serde(flatten)]
    pub line: OrderLine,
    /// Where it stands.
    pub status: OrderStatus,
    /// The payment that established the order (none if rejected).
    pub payment_id: Option<String>,
    /// Why payment failed, for a rejected order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reject_reason: Option<String>,
    /// When it was placed (RFC 3339).
    pub created_at: String,
    /// When its status last changed (RFC 3339).
    pub updated_at: String,
}

impl Order {
    /// A paid, established order.
    pub fn placed(id: OrderId, line: OrderLine, payment_id: String, now: &str) -> Self {
        Self::new(id, line, OrderStatus::Ordered, Some(payment_id), None, now)
    }

    /// An order whose payment failed (timed out or unreachable: the charge
    /// may still land, and is voided when it does).
    pub fn rejected(id: OrderId, line: OrderLine, reason: String, now: &str) -> Self {
        Self::new(id, line, OrderStatus::Rejected, None, Some(reason), now)
    }

    /// A record fencing off an order id whose placement never completed
    /// (found by payment reconciliation): it is rejected, and a late commit
    /// of the real order under the same id is refused.
    pub fn unconfirmed(id: OrderId, now: &str) -> Self {
        let reason = "placement did not complete; payment reconciliation voided it".to_string();
        Self::rejected(id, OrderLine::default(), reason, now)
    }

    fn new(
        id: OrderId,
        line: OrderLine,
        status: OrderStatus,
        payment_id: Option<String>,
        reject_reason: Option<String>,
        now: &str,
    ) -> Self {
        Self {
            id,
            customer_id: None,
            line,
            status,
            payment_id,
            reject_reason,
            created_at: now.to_string(),
            updated_at: now.to_string(),
        }
    }

    /// The same order, placed by `customer`.
    pub fn by(mut self, customer: Option<CustomerId>) -> Self {
        self.customer_id = customer;
        self
    }

    /// Whether `customer` may see and change this order: the customer who
    /// placed it, or anyone when `customer` is `None` (the owner, and the
    /// system's own calls).
    pub fn visible_to(&self, customer: Option<CustomerId>) -> bool {
        customer.is_none() || customer == self.customer_id
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
            OrderStatus::Rejected => Err(DomainError::illegal("cancel", self.status.as_str())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line() -> OrderLine {
        OrderLine {
            customer_name: "KIM".into(),
            phone_number: "01012341234".into(),
            address: "SEOUL".into(),
            flower_type: "MixBox".into(),
            price: 10000,
            qty: 1,
        }
    }

    fn id() -> OrderId {
        OrderId::new(0, 1)
    }

    #[test]
    fn a_placed_order_cancels_once_then_is_idempotent() {
        let mut o = Order::placed(id(), line(), "p".into(), "t0");
        assert_eq!(o.status, OrderStatus::Ordered);
        assert_eq!(o.cancel("t1"), Ok(true));
        assert_eq!(o.status, OrderStatus::OrderCancelled);
        assert_eq!(o.updated_at, "t1");
        assert_eq!(o.cancel("t2"), Ok(false));
        assert_eq!(o.updated_at, "t1");
    }

    #[test]
    fn a_rejected_order_cannot_be_cancelled() {
        let mut o = Order::rejected(id(), line(), "timeout".into(), "t0");
        assert!(matches!(
            o.cancel("t1"),
            Err(DomainError::IllegalTransition { .. })
        ));
        assert_eq!(o.status, OrderStatus::Rejected);
    }

    #[test]
    fn the_json_is_flat_and_round_trips_also_for_a_fence() {
        let o = Order::placed(id(), line(), "pay-0-1".into(), "t0");
        let v = serde_json::to_value(&o).expect("json");
        assert_eq!(v["id"], "0-1");
        assert_eq!(v["customerName"], "KIM");
        assert_eq!(v["status"], "Ordered");
        assert!(v.get("line").is_none(), "the line's fields are top-level");
        let back: Order = serde_json::from_value(v).expect("decode");
        assert_eq!(back, o);
        let fence = Order::unconfirmed(id(), "t0");
        let back: Order =
            serde_json::from_value(serde_json::to_value(&fence).expect("json")).expect("decode");
        assert_eq!(back, fence);
    }

    #[test]
    fn only_its_customer_and_the_owner_see_an_order() {
        let (a, b) = (CustomerId::random(), CustomerId::random());
        let o = Order::placed(id(), line(), "p".into(), "t0").by(Some(a));
        assert!(o.visible_to(Some(a)));
        assert!(o.visible_to(None), "the owner");
        assert!(!o.visible_to(Some(b)));
        let v = serde_json::to_value(&o).expect("json");
        assert_eq!(v["customerId"], a.to_string());
        assert_eq!(serde_json::from_value::<Order>(v).expect("decode"), o);
        let legacy = Order::placed(id(), line(), "p".into(), "t0");
        assert!(
            !legacy.visible_to(Some(a)),
            "an order without a customer is the owner's"
        );
    }

    #[test]
    fn cancelled_outranks_ordered() {
        assert!(OrderStatus::OrderCancelled.rank() > OrderStatus::Ordered.rank());
    }
}
