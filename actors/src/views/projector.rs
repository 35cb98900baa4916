//! The read models' projector (CQRS): MyPage (the customer's view) and
//! OrderDetails (the shop owner's), built from events only, in consumer
//! group [`CONSUMER_GROUP`].
//!
//! Each event becomes a rank-guarded merge (`kukka_storage::views::merge`):
//! facts are written once, each status only moves forward (the ranks are
//! the status types' own, e.g. [`OrderStatus::rank`]). So replaying the
//! stream, receiving an event twice, or receiving events out of order all
//! end in the same views, without a table of applied event ids.

use kukka_storage::views::{self, FieldUpdate};
use redis::aio::ConnectionManager;

use super::keys::{
    index_member, my_page_key, order_details_key, MY_PAGE_INDEX, ORDER_DETAILS_INDEX,
};
use crate::{
    events::{Envelope, EventBody, EventKind},
    order::model::OrderStatus,
    payment::model::PaymentStatus,
    runtime::consumer::{EventHandler, HandlerError},
};

/// The projector's consumer group.
pub const CONSUMER_GROUP: &str = "views";

/// One merge: the hash, its index, the index member (when the event creates
/// the entry) and the field updates.
pub type Merge = (String, &'static str, Option<String>, Vec<FieldUpdate>);

/// Projects events into MyPage and OrderDetails.
#[derive(Clone, Copy, Debug, Default)]
pub struct ViewProjector;

fn ranked(field: &str, name: &str, rank: u32) -> Vec<FieldUpdate> {
    vec![FieldUpdate::ranked(field, name, rank)]
}

impl ViewProjector {
    /// The merges one event causes.
    pub fn updates_for(event: &Envelope) -> Vec<Merge> {
        let id = event.order_id.to_string();
        let mp = my_page_key(&id);
        let od = order_details_key(&id);
        match &event.body {
            EventBody::OrderPlaced {
                line, created_at, ..
            } => {
                let facts = vec![
                    FieldUpdate::fact("orderId", id.as_str()),
                    FieldUpdate::fact("customerName", line.customer_name.as_str()),
                    FieldUpdate::fact("phoneNumber", line.phone_number.as_str()),
                    FieldUpdate::fact("address", line.address.as_str()),
                    FieldUpdate::fact("flowerType", line.flower_type.as_str()),
                    FieldUpdate::fact("qty", line.qty.to_string()),
                    FieldUpdate::fact("price", line.price.to_string()),
                    FieldUpdate::fact("createdAt", created_at.as_str()),
                ];
                let member = Some(index_member(created_at, &id));
                let mut mine = facts.clone();
                let s = OrderStatus::Ordered;
                mine.extend(ranked("orderStatus", s.as_str(), s.rank()));
                vec![
                    (mp, MY_PAGE_INDEX, member.clone(), mine),
                    (od, ORDER_DETAILS_INDEX, member, facts),
                ]
            }
            EventBody::OrderCancelled => {
                let s = OrderStatus::OrderCancelled;
                vec![(
                    mp,
                    MY_PAGE_INDEX,
                    None,
                    ranked("orderStatus", s.as_str(), s.rank()),
                )]
            }
            EventBody::PaymentConfirmed { .. } | EventBody::PaymentCancelled { .. } => {
                let s = if matches!(event.body, EventBody::PaymentConfirmed { .. }) {
                    PaymentStatus::PaymentConfirmed
                } else {
                    PaymentStatus::PaymentCancelled
                };
                vec![(
                    mp,
                    MY_PAGE_INDEX,
                    None,
                    ranked("paymentStatus", s.as_str(), s.rank()),
                )]
            }
            EventBody::DeliveryChanged { status } => {
                let u = ranked("deliveryStatus", status.as_str(), status.rank());
                vec![
                    (mp, MY_PAGE_INDEX, None, u.clone()),
                    (od, ORDER_DETAILS_INDEX, None, u),
                ]
            }
            EventBody::OrderRejected { .. } => Vec::new(),
        }
    }

    /// Applies one event's merges.
    pub async fn project(
        conn: &mut ConnectionManager,
        event: &Envelope,
    ) -> Result<(), kukka_storage::StorageError> {
        for (key, index, member, updates) in Self::updates_for(event) {
            views::merge(
                conn,
                &key,
                index,
                member.as_deref(),
                &event.occurred_at,
                &updates,
            )
            .await?;
        }
        Ok(())
    }
}

impl EventHandler for ViewProjector {
    fn wants(&self, kind: EventKind) -> bool {
        kind != EventKind::OrderRejected
    }

    async fn apply(
        &self,
        conn: &mut ConnectionManager,
        event: Envelope,
    ) -> Result<(), HandlerError> {
        Ok(Self::project(conn, &event).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        delivery::model::DeliveryStatus,
        order::{id::OrderId, model::OrderLine},
    };

    fn id() -> OrderId {
        OrderId::new(0, 1)
    }

    #[test]
    fn placed_orders_fill_both_views_and_statuses_carry_ranks() {
        let placed = Envelope::new(
            "c",
            id(),
            EventBody::OrderPlaced {
                line: OrderLine {
                    customer_name: "KIM".into(),
                    phone_number: "010".into(),
                    address: "SEOUL".into(),
                    flower_type: "MixBox".into(),
                    price: 10000,
                    qty: 2,
                },
                payment_id: "p".into(),
                created_at: "2026-01-01T00:00:00.000Z".into(),
            },
        );
        let u = ViewProjector::updates_for(&placed);
        assert_eq!(u.len(), 2);
        assert_eq!(u[0].0, my_page_key("0-1"));
        assert_eq!(u[0].2.as_deref(), Some("2026-01-01T00:00:00.000Z|0-1"));
        assert!(u[0]
            .3
            .contains(&FieldUpdate::ranked("orderStatus", "Ordered", 1)));
        assert!(
            !u[1].3.iter().any(|f| f.field == "orderStatus"),
            "the owner's view has no order status"
        );

        let cancelled = Envelope::new("c", id(), EventBody::OrderCancelled);
        assert_eq!(
            ViewProjector::updates_for(&cancelled)[0].3,
            vec![FieldUpdate::ranked("orderStatus", "OrderCancelled", 2)]
        );
        let refunded = Envelope::new(
            "c",
            id(),
            EventBody::PaymentCancelled {
                payment_id: "p".into(),
            },
        );
        assert_eq!(
            ViewProjector::updates_for(&refunded)[0].3,
            vec![FieldUpdate::ranked("paymentStatus", "PaymentCancelled", 2)]
        );
        let delivered = Envelope::new(
            "c",
            id(),
            EventBody::DeliveryChanged {
                status: DeliveryStatus::Delivered,
            },
        );
        let du = ViewProjector::updates_for(&delivered);
        assert_eq!(du.len(), 2);
        assert_eq!(du[1].3[0].rank, 3);
        assert!(ViewProjector::updates_for(&Envelope::new(
            "c",
            id(),
            EventBody::OrderRejected { reason: "t".into() }
        ))
        .is_empty());
    }
}
