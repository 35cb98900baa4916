//! Domain events: the published language between the bounded contexts, and
//! the envelope they travel in through the outbox and the Redis stream.
//!
//! Every event carries a unique `eventId`, the `correlationId` of the
//! request that caused it, the `orderId` it is about, the role that
//! produced it (`producer`), and the request's W3C `traceparent` when it
//! had one. The JSON is flat: `{"eventId", "correlationId", "occurredAt",
//! "orderId", "producer", "traceparent"?, "type", ...fields of the type}`.
//! The stream entry's `type` field is the event's
//! [`EventKind`], so a consumer can skip what it does not handle without
//! decoding it.
//!
//! Each kind has one role that may produce it ([`EventKind::producer`]):
//! a context publishes only its own events. Consumers check every event
//! they decode with [`Envelope::check_origin`] and ignore (and count) one
//! whose producer may not produce its kind, or whose entry names another
//! kind than its body. Events written before `producer` existed decode
//! with none and are accepted.

use kukka_storage::outbox::StreamEvent;
use serde::{Deserialize, Serialize};

use crate::{
    delivery::model::DeliveryStatus,
    order::{
        customer::CustomerId,
        id::OrderId,
        model::{Order, OrderLine},
    },
    runtime::role::Role,
};

/// An event with its metadata.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope {
    /// Unique id of this event.
    pub event_id: String,
    /// The request that caused it.
    pub correlation_id: String,
    /// When it happened (RFC 3339).
    pub occurred_at: String,
    /// The order it concerns.
    pub order_id: OrderId,
    /// The role that produced it (absent in events written before it was
    /// recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub producer: Option<Role>,
    /// The W3C `traceparent` of the request that caused it (directly or
    /// through the event that caused it), if that request had one. Absent
    /// from events written before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
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
        /// What was ordered.
        #[serde(flatten)]
        line: OrderLine,
        /// Who ordered it (absent in events of orders placed before
        /// customers had ids).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        customer_id: Option<CustomerId>,
        /// The payment that established it.
        payment_id: String,
        /// When the order was created (RFC 3339).
        created_at: String,
    },
    /// An order was not established (payment failed or timed out); any
    /// charge for it must be voided.
    OrderRejected {
        /// Why payment failed.
        reason: String,
    },
    /// The customer cancelled: payment refunds.
    OrderCancelled,
    /// The charge went through.
    PaymentConfirmed {
        /// The payment's id.
        payment_id: String,
        /// The amount charged, in won.
        amount: u64,
    },
    /// The charge was refunded (order cancelled) or voided (order never
    /// established).
    PaymentCancelled {
        /// The payment's id.
        payment_id: String,
    },
    /// A delivery changed status (its kind is named for the new status).
    DeliveryChanged {
        /// The new status.
        status: DeliveryStatus,
    },
}

/// The type of an event, as written in the stream entry's `type` field. A
/// delivery change is named for its new status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// [`EventBody::OrderPlaced`].
    OrderPlaced,
    /// [`EventBody::OrderRejected`].
    OrderRejected,
    /// [`EventBody::OrderCancelled`].
    OrderCancelled,
    /// [`EventBody::PaymentConfirmed`].
    PaymentConfirmed,
    /// [`EventBody::PaymentCancelled`].
    PaymentCancelled,
    /// [`EventBody::DeliveryChanged`] to `DeliveryRequested`.
    DeliveryRequested,
    /// [`EventBody::DeliveryChanged`] to `DeliveryStarted`.
    DeliveryStarted,
    /// [`EventBody::DeliveryChanged`] to `Delivered`.
    Delivered,
    /// [`EventBody::DeliveryChanged`] to `DeliveryCancelled`.
    DeliveryCancelled,
}

impl EventKind {
    /// Every kind.
    pub const ALL: [EventKind; 9] = [
        Self::OrderPlaced,
        Self::OrderRejected,
        Self::OrderCancelled,
        Self::PaymentConfirmed,
        Self::PaymentCancelled,
        Self::DeliveryRequested,
        Self::DeliveryStarted,
        Self::Delivered,
        Self::DeliveryCancelled,
    ];

    /// Its name in the stream.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OrderPlaced => "OrderPlaced",
            Self::OrderRejected => "OrderRejected",
            Self::OrderCancelled => "OrderCancelled",
            Self::PaymentConfirmed => "PaymentConfirmed",
            Self::PaymentCancelled => "PaymentCancelled",
            Self::DeliveryRequested => DeliveryStatus::DeliveryRequested.as_str(),
            Self::DeliveryStarted => DeliveryStatus::DeliveryStarted.as_str(),
            Self::Delivered => DeliveryStatus::Delivered.as_str(),
            Self::DeliveryCancelled => DeliveryStatus::DeliveryCancelled.as_str(),
        }
    }

    /// Parses a stream entry's `type`; `None` for a type kukka does not know.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The one role that may produce events of this kind.
    pub fn producer(self) -> Role {
        match self {
            Self::OrderPlaced | Self::OrderRejected | Self::OrderCancelled => Role::Order,
            Self::PaymentConfirmed | Self::PaymentCancelled => Role::Payment,
            Self::DeliveryRequested
            | Self::DeliveryStarted
            | Self::Delivered
            | Self::DeliveryCancelled => Role::Delivery,
        }
    }

    /// The kind of a delivery change to `status`.
    pub fn delivery(status: DeliveryStatus) -> Self {
        match status {
            DeliveryStatus::DeliveryRequested => Self::DeliveryRequested,
            DeliveryStatus::DeliveryStarted => Self::DeliveryStarted,
            DeliveryStatus::Delivered => Self::Delivered,
            DeliveryStatus::DeliveryCancelled => Self::DeliveryCancelled,
        }
    }
}

impl EventBody {
    /// Its kind.
    pub fn kind(&self) -> EventKind {
        match self {
            Self::OrderPlaced { .. } => EventKind::OrderPlaced,
            Self::OrderRejected { .. } => EventKind::OrderRejected,
            Self::OrderCancelled => EventKind::OrderCancelled,
            Self::PaymentConfirmed { .. } => EventKind::PaymentConfirmed,
            Self::PaymentCancelled { .. } => EventKind::PaymentCancelled,
            Self::DeliveryChanged { status } => EventKind::delivery(*status),
        }
    }

    /// `OrderPlaced` for an established order.
    pub fn order_placed(o: &Order, payment_id: &str) -> Self {
        Self::OrderPlaced {
            line: o.line.clone(),
            customer_id: o.customer_id,
            payment_id: payment_id.to_string(),
            created_at: o.created_at.clone(),
        }
    }
}

/// Why a consumer ignores an event it decoded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// Its producer may not produce its kind.
    #[error("a {producer} node may not produce {kind} events")]
    Producer {
        /// Who it claims to come from.
        producer: Role,
        /// Its kind.
        kind: &'static str,
    },
    /// The stream entry names another kind than the event's body.
    #[error("the entry says {entry}, the event is {body}")]
    KindMismatch {
        /// The entry's `type`.
        entry: &'static str,
        /// The body's kind.
        body: &'static str,
    },
}

impl Envelope {
    /// A new event with a fresh id, stamped now. Its producer is the role
    /// that owns its kind: each context creates only its own events, on
    /// its own nodes (the order context's code runs on order nodes only).
    pub fn new(correlation_id: &str, order_id: OrderId, body: EventBody) -> Self {
        Self {
            event_id: uuid::Uuid::new_v4().to_string(),
            correlation_id: correlation_id.to_string(),
            occurred_at: crate::runtime::clock::now(),
            order_id,
            producer: Some(body.kind().producer()),
            traceparent: None,
            body,
        }
    }

    /// The same event, carrying the causing request's `traceparent`.
    pub fn with_traceparent(mut self, traceparent: Option<String>) -> Self {
        self.traceparent = traceparent;
        self
    }

    /// Whether a consumer should apply this event, read from an entry of
    /// kind `entry`: its body is of that kind, and its producer (if it
    /// names one) may produce it.
    pub fn check_origin(&self, entry: EventKind) -> Result<(), Refused> {
        let kind = self.body.kind();
        if kind != entry {
            return Err(Refused::KindMismatch {
                entry: entry.as_str(),
                body: kind.as_str(),
            });
        }
        match self.producer {
            Some(p) if p != kind.producer() => Err(Refused::Producer {
                producer: p,
                kind: kind.as_str(),
            }),
            _ => Ok(()),
        }
    }

    /// The form written to the outbox and the stream.
    pub fn to_stream_event(&self) -> StreamEvent {
        StreamEvent {
            event_id: self.event_id.clone(),
            kind: self.body.kind().as_str().to_string(),
            data: serde_json::to_string(self)
                .expect("an envelope encodes to JSON: plain fields, no maps"),
            partition_key: self.order_id.to_string(),
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

    fn id() -> OrderId {
        OrderId::new(0, 1)
    }

    #[test]
    fn an_envelope_round_trips_through_the_stream_form_and_is_flat() {
        let e = Envelope::new(
            "corr-1",
            id(),
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
        assert_eq!(v["orderId"], "0-1");
        assert_eq!(v["correlationId"], "corr-1");
        assert!(v.get("traceparent").is_none(), "absent unless given: {v}");
        assert_eq!(Envelope::from_stream_event(&s).expect("decode"), e);

        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let traced = e.clone().with_traceparent(Some(tp.into()));
        let s = traced.to_stream_event();
        let v: serde_json::Value = serde_json::from_str(&s.data).expect("json");
        assert_eq!(v["traceparent"], tp);
        assert_eq!(Envelope::from_stream_event(&s).expect("decode"), traced);
    }

    #[test]
    fn events_written_before_traceparent_existed_still_decode() {
        let old = StreamEvent {
            event_id: "e1".into(),
            kind: "OrderCancelled".into(),
            data: r#"{"eventId":"e1","correlationId":"c","occurredAt":"2026-01-01T00:00:00Z","orderId":"0-1","type":"OrderCancelled"}"#.into(),
            partition_key: "0-1".into(),
        };
        let e = Envelope::from_stream_event(&old).expect("decodes");
        assert_eq!(e.traceparent, None);
        assert_eq!(e.body, EventBody::OrderCancelled);
        assert_eq!(e.correlation_id, "c");
    }

    #[test]
    fn every_body_round_trips_and_names_its_kind() {
        let line = OrderLine {
            customer_name: "KIM".into(),
            phone_number: "010".into(),
            address: "SEOUL".into(),
            flower_type: "MixBox".into(),
            price: 10000,
            qty: 2,
        };
        for body in [
            EventBody::OrderPlaced {
                line,
                customer_id: Some(CustomerId::random()),
                payment_id: "pay-0-1".into(),
                created_at: "t".into(),
            },
            EventBody::OrderRejected { reason: "r".into() },
            EventBody::OrderCancelled,
            EventBody::PaymentCancelled {
                payment_id: "p".into(),
            },
            EventBody::DeliveryChanged {
                status: DeliveryStatus::Delivered,
            },
        ] {
            let e = Envelope::new("c", id(), body);
            let s = e.to_stream_event();
            assert_eq!(EventKind::parse(&s.kind), Some(e.body.kind()));
            let v: serde_json::Value = serde_json::from_str(&s.data).expect("json");
            assert!(v.get("line").is_none(), "flat: {v}");
            assert_eq!(Envelope::from_stream_event(&s).expect("decode"), e);
        }
        assert_eq!(
            EventBody::DeliveryChanged {
                status: DeliveryStatus::Delivered
            }
            .kind()
            .as_str(),
            "Delivered"
        );
        assert_eq!(EventKind::parse("Teleported"), None);
        for k in EventKind::ALL {
            assert_eq!(EventKind::parse(k.as_str()), Some(k));
        }
    }

    #[test]
    fn events_name_their_producer_and_only_it_passes() {
        let e = Envelope::new("c", id(), EventBody::OrderCancelled);
        let v: serde_json::Value = serde_json::from_str(&e.to_stream_event().data).expect("json");
        assert_eq!(v["producer"], "order");
        assert_eq!(e.check_origin(EventKind::OrderCancelled), Ok(()));
        // A delivery node claiming an order's event is refused...
        let mut forged = e.clone();
        forged.producer = Some(Role::Delivery);
        assert_eq!(
            forged.check_origin(EventKind::OrderCancelled),
            Err(Refused::Producer {
                producer: Role::Delivery,
                kind: "OrderCancelled"
            })
        );
        // ...and so is an entry whose type disagrees with its body.
        assert!(matches!(
            e.check_origin(EventKind::PaymentCancelled),
            Err(Refused::KindMismatch { .. })
        ));
        for k in EventKind::ALL {
            assert!(Role::ALL.contains(&k.producer()));
            assert_ne!(k.producer(), Role::Edge, "the edge produces no events");
        }
    }

    #[test]
    fn events_written_before_the_producer_field_still_decode_and_pass() {
        let old = StreamEvent {
            event_id: "e1".into(),
            kind: "OrderCancelled".into(),
            data: r#"{"eventId":"e1","correlationId":"c","occurredAt":"t","orderId":"0-1","type":"OrderCancelled"}"#.into(),
            partition_key: "0-1".into(),
        };
        let e = Envelope::from_stream_event(&old).expect("an old event decodes");
        assert_eq!(e.producer, None);
        assert_eq!(e.check_origin(EventKind::OrderCancelled), Ok(()));
    }
}
