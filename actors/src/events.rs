//! Domain events and the envelope they travel in.
//!
//! Every event carries a unique `eventId` (consumers apply it once), the
//! `correlationId` of the request that caused it, and the `orderId` it is
//! about. The JSON is flat: `{"eventId", "correlationId", "occurredAt",
//! "orderId", "type", ...fields of the type}`.

use kukka_storage::outbox::StreamEvent;
use serde::{Deserialize, Serialize};

use crate::domain::{delivery::DeliveryStatus, order::Order};

/// An event with its metadata.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope {
    /// Unique id.
    pub event_id: String,
    /// The request that caused it.
    pub correlation_id: String,
    /// RFC 3339.
    pub occurred_at: String,
    /// The order it concerns.
    pub order_id: String,
    /// What happened.
    #[serde(flatten)]
    pub body: EventBody,
}

/// What happened.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all_fields = "camelCase")]
pub enum EventBody {
    /// A paid order was established.
    OrderPlaced {
        /// Who ordered.
        customer_name: String,
        /// Phone.
        phone_number: String,
        /// Address.
        address: String,
        /// Box.
        flower_type: String,
        /// Price in won.
        price: u64,
        /// Quantity.
        qty: u32,
        /// The payment.
        payment_id: String,
        /// When the order was created.
        created_at: String,
    },
    /// An order was not established (payment failed or timed out); any
    /// charge for it must be voided.
    OrderRejected {
        /// Why.
        reason: String,
    },
    /// The customer cancelled.
    OrderCancelled,
    /// The charge went through.
    PaymentConfirmed {
        /// Payment id.
        payment_id: String,
        /// Amount in won.
        amount: u64,
    },
    /// The charge was refunded or voided.
    PaymentCancelled {
        /// Payment id.
        payment_id: String,
    },
    /// A delivery changed status.
    DeliveryChanged {
        /// The new status.
        status: DeliveryStatus,
    },
}

impl EventBody {
    /// The type name, as written in the stream's `type` field (a delivery
    /// change is named for its new status: `DeliveryStarted`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::OrderPlaced { .. } => "OrderPlaced",
            Self::OrderRejected { .. } => "OrderRejected",
            Self::OrderCancelled => "OrderCancelled",
            Self::PaymentConfirmed { .. } => "PaymentConfirmed",
            Self::PaymentCancelled { .. } => "PaymentCancelled",
            Self::DeliveryChanged { status } => status.as_str(),
        }
    }

    /// `OrderPlaced` for an established order.
    pub fn order_placed(o: &Order) -> Self {
        Self::OrderPlaced {
            customer_name: o.customer_name.clone(),
            phone_number: o.phone_number.clone(),
            address: o.address.clone(),
            flower_type: o.flower_type.clone(),
            price: o.price,
            qty: o.qty,
            payment_id: o.payment_id.clone().unwrap_or_default(),
            created_at: o.created_at.clone(),
        }
    }
}

impl Envelope {
    /// A new event with a fresh id, stamped now.
    pub fn new(correlation_id: &str, order_id: &str, body: EventBody) -> Self {
        Self {
            event_id: uuid::Uuid::new_v4().to_string(),
            correlation_id: correlation_id.to_string(),
            occurred_at: crate::clock::now(),
            order_id: order_id.to_string(),
            body,
        }
    }

    /// The form written to the outbox and the stream.
    pub fn to_stream_event(&self) -> StreamEvent {
        StreamEvent {
            event_id: self.event_id.clone(),
            kind: self.body.kind().to_string(),
            data: serde_json::to_string(self).unwrap_or_default(),
        }
    }

    /// Reads an event back from the stream.
    pub fn from_stream_event(ev: &StreamEvent) -> Result<Self, serde_json::Error> {
        serde_json::from_str(&ev.data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_envelope_round_trips_through_the_stream_form_and_is_flat() {
        let e = Envelope::new(
            "corr-1",
            "0-1",
            EventBody::PaymentConfirmed {
                payment_id: "p".into(),
                amount: 5,
            },
        );
        let s = e.to_stream_event();
        assert_eq!(s.kind, "PaymentConfirmed");
        assert_eq!(s.event_id, e.event_id);
        let v: serde_json::Value = serde_json::from_str(&s.data).expect("json");
        assert_eq!(v["type"], "PaymentConfirmed");
        assert_eq!(v["paymentId"], "p");
        assert_eq!(v["correlationId"], "corr-1");
        assert_eq!(Envelope::from_stream_event(&s).expect("decode"), e);
    }

    #[test]
    fn unit_and_status_variants_round_trip() {
        for body in [
            EventBody::OrderCancelled,
            EventBody::DeliveryChanged {
                status: DeliveryStatus::Delivered,
            },
        ] {
            let e = Envelope::new("c", "o", body);
            assert_eq!(
                Envelope::from_stream_event(&e.to_stream_event()).expect("decode"),
                e
            );
        }
    }
}
