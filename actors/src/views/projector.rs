//! The read models' projector (CQRS): MyPage (the customer's view) and
//! OrderDetails (the shop owner's), both shapes of one hash per order,
//! built from events only, in consumer group [`CONSUMER_GROUP`].
//!
//! Each event becomes a rank-guarded merge (`kukka_storage::views::merge`):
//! facts are written once, each status only moves forward (the ranks are
//! the status types' own, e.g. [`OrderStatus::rank`]). So replaying the
//! stream, receiving an event twice, or receiving events out of order all
//! end in the same views, without a table of applied event ids. A batch of
//! events is applied as one merge per order, all in one round trip; merging
//! updates never changes what they do, so the views are the same as if each
//! event had been applied alone.

use std::collections::HashMap;

use kukka_storage::redis_conn::RedisConn;
use kukka_storage::{
    bus::Partitions,
    views::{self, FieldUpdate, Merge},
};

use super::keys::{customer_views_key, index_member, view_key, CUSTOMER_FIELD, VIEW_INDEX};
use crate::{
    events::{Envelope, EventBody, EventKind},
    order::model::OrderStatus,
    payment::model::PaymentStatus,
    runtime::consumer::{EventHandler, HandlerError},
};

/// The projector's consumer group.
pub const CONSUMER_GROUP: &str = "views";

/// Projects events into MyPage and OrderDetails.
#[derive(Clone, Copy, Debug, Default)]
pub struct ViewProjector {
    /// The event stream's partitions (they name the view keys).
    pub partitions: Partitions,
}

impl ViewProjector {
    /// The projector of a system with `partitions` partitions.
    pub fn new(partitions: Partitions) -> Self {
        Self { partitions }
    }

    /// The merge one event causes, if any.
    pub fn merge_for(&self, event: &Envelope) -> Option<Merge> {
        let id = event.order_id.to_string();
        let at = event.occurred_at.as_str();
        let ranked =
            |field: &str, name: &str, rank: u32| vec![FieldUpdate::ranked(field, name, rank, at)];
        let (member, updates) = match &event.body {
            EventBody::OrderPlaced {
                line,
                created_at,
                customer_id,
                ..
            } => {
                let s = OrderStatus::Ordered;
                let mut updates = vec![
                    FieldUpdate::fact("orderId", id.as_str(), at),
                    FieldUpdate::fact("customerName", line.customer_name.as_str(), at),
                    FieldUpdate::fact("phoneNumber", line.phone_number.as_str(), at),
                    FieldUpdate::fact("address", line.address.as_str(), at),
                    FieldUpdate::fact("flowerType", line.flower_type.as_str(), at),
                    FieldUpdate::fact("qty", line.qty.to_string(), at),
                    FieldUpdate::fact("price", line.price.to_string(), at),
                    FieldUpdate::fact("createdAt", created_at.as_str(), at),
                    FieldUpdate::ranked("orderStatus", s.as_str(), s.rank(), at),
                ];
                if let Some(c) = customer_id {
                    updates.push(FieldUpdate::fact(CUSTOMER_FIELD, c.to_string(), at));
                }
                (Some(index_member(created_at, &id)), updates)
            }
            EventBody::OrderCancelled => {
                let s = OrderStatus::OrderCancelled;
                (None, ranked("orderStatus", s.as_str(), s.rank()))
            }
            EventBody::PaymentConfirmed { .. } => {
                let s = PaymentStatus::PaymentConfirmed;
                (None, ranked("paymentStatus", s.as_str(), s.rank()))
            }
            EventBody::PaymentCancelled { .. } => {
                let s = PaymentStatus::PaymentCancelled;
                (None, ranked("paymentStatus", s.as_str(), s.rank()))
            }
            EventBody::DeliveryChanged { status } => (
                None,
                ranked("deliveryStatus", status.as_str(), status.rank()),
            ),
            EventBody::OrderRejected { .. } => return None,
        };
        Some(Merge {
            key: view_key(self.partitions, &id),
            listed_in: member
                .map(|m| (VIEW_INDEX.to_string(), m))
                .into_iter()
                .collect(),
            updates,
        })
    }

    /// The merges of a batch: one per order, its events' updates in order;
    /// and for each event, the merge that carries it.
    pub fn merges_for(&self, events: &[Envelope]) -> (Vec<Merge>, Vec<Option<usize>>) {
        let mut merges: Vec<Merge> = Vec::new();
        let mut by_key: HashMap<String, usize> = HashMap::new();
        let mut carried_by = Vec::with_capacity(events.len());
        for event in events {
            let Some(m) = self.merge_for(event) else {
                carried_by.push(None);
                continue;
            };
            let i = *by_key.entry(m.key.clone()).or_insert_with(|| {
                merges.push(Merge {
                    key: m.key.clone(),
                    listed_in: Vec::new(),
                    updates: Vec::new(),
                });
                merges.len() - 1
            });
            let into = &mut merges[i];
            into.updates.extend(m.updates);
            into.listed_in.extend(m.listed_in);
            carried_by.push(Some(i));
        }
        (merges, carried_by)
    }

    /// The customer index entry an event adds (`OrderPlaced` of an order
    /// with a customer): the index's key and the order's member.
    pub fn customer_index_for(event: &Envelope) -> Option<(String, String)> {
        match &event.body {
            EventBody::OrderPlaced {
                customer_id: Some(c),
                created_at,
                ..
            } => Some((
                customer_views_key(c),
                index_member(created_at, &event.order_id.to_string()),
            )),
            _ => None,
        }
    }

    /// Applies a batch of events; one result per event.
    pub async fn project(
        &self,
        conn: &mut RedisConn,
        events: &[Envelope],
    ) -> Result<Vec<Result<(), kukka_storage::StorageError>>, kukka_storage::StorageError> {
        let (merges, carried_by) = self.merges_for(events);
        let results = views::merge_many(conn, &merges).await?;
        // Customer indexes: one ZADD per placed order, in one round trip
        // (each index is in its customer's hash slot, apart from the view).
        let indexed: Vec<(usize, (String, String))> = events
            .iter()
            .enumerate()
            .filter_map(|(i, e)| Some((i, Self::customer_index_for(e)?)))
            .collect();
        let mut index_failed = vec![false; events.len()];
        if !indexed.is_empty() {
            let mut pipe = redis::pipe();
            for (_, (key, member)) in &indexed {
                pipe.cmd("ZADD").arg(key).arg(0).arg(member).ignore();
            }
            if let Err(e) = pipe.query_async::<()>(conn).await {
                tracing::warn!(error = %e, "customer indexes not updated; retried");
                for (i, _) in &indexed {
                    index_failed[*i] = true;
                }
            }
        }
        Ok(carried_by
            .into_iter()
            .zip(index_failed)
            .map(|(m, index_failed)| match m {
                _ if index_failed => Err(kukka_storage::StorageError::Transaction(
                    "the customer index was not updated".into(),
                )),
                None => Ok(()),
                Some(i) => match &results[i] {
                    Ok(_) => Ok(()),
                    Err(e) => Err(kukka_storage::StorageError::Transaction(e.to_string())),
                },
            })
            .collect())
    }
}

impl EventHandler for ViewProjector {
    fn wants(&self, kind: EventKind) -> bool {
        kind != EventKind::OrderRejected
    }

    async fn apply(&self, conn: &mut RedisConn, event: Envelope) -> Result<(), HandlerError> {
        let mut results = self.apply_batch(conn, vec![event]).await;
        results.pop().unwrap_or(Ok(()))
    }

    async fn apply_batch(
        &self,
        conn: &mut RedisConn,
        events: Vec<Envelope>,
    ) -> Vec<Result<(), HandlerError>> {
        match self.project(conn, &events).await {
            Ok(results) => results
                .into_iter()
                .map(|r| r.map_err(|e| HandlerError::Retry(e.to_string())))
                .collect(),
            Err(e) => events
                .iter()
                .map(|_| Err(HandlerError::Retry(e.to_string())))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        delivery::model::DeliveryStatus,
        order::{customer::CustomerId, id::OrderId, model::OrderLine},
    };

    fn id(seq: u64) -> OrderId {
        OrderId::new(0, seq)
    }

    fn placed(seq: u64) -> Envelope {
        Envelope::new(
            "c",
            id(seq),
            EventBody::OrderPlaced {
                line: OrderLine {
                    customer_name: "KIM".into(),
                    phone_number: "010".into(),
                    address: "SEOUL".into(),
                    flower_type: "MixBox".into(),
                    price: 10000,
                    qty: 2,
                },
                customer_id: None,
                payment_id: "p".into(),
                created_at: "2026-01-01T00:00:00.000Z".into(),
            },
        )
    }

    #[test]
    fn placed_orders_list_the_view_and_statuses_carry_ranks() {
        let e = placed(1);
        let p = ViewProjector::default();
        let m = p.merge_for(&e).expect("merge");
        assert_eq!(m.key, view_key(p.partitions, "0-1"));
        assert_eq!(
            m.listed_in,
            vec![(
                VIEW_INDEX.to_string(),
                "2026-01-01T00:00:00.000Z|0-1".to_string()
            )]
        );
        assert!(m.updates.contains(&FieldUpdate::ranked(
            "orderStatus",
            "Ordered",
            1,
            &e.occurred_at
        )));
        let cancelled = Envelope::new("c", id(1), EventBody::OrderCancelled);
        let m = p.merge_for(&cancelled).expect("merge");
        assert_eq!(m.updates[0].rank, 2);
        assert!(m.listed_in.is_empty());
        let delivered = Envelope::new(
            "c",
            id(1),
            EventBody::DeliveryChanged {
                status: DeliveryStatus::Delivered,
            },
        );
        assert_eq!(p.merge_for(&delivered).expect("merge").updates[0].rank, 3);
        let rejected = Envelope::new("c", id(1), EventBody::OrderRejected { reason: "t".into() });
        assert!(p.merge_for(&rejected).is_none());
    }

    #[test]
    fn a_customers_order_is_indexed_for_them_and_remembers_them() {
        let customer = CustomerId::random();
        let mut e = placed(4);
        assert_eq!(ViewProjector::customer_index_for(&e), None);
        if let EventBody::OrderPlaced { customer_id, .. } = &mut e.body {
            *customer_id = Some(customer);
        }
        assert_eq!(
            ViewProjector::customer_index_for(&e),
            Some((
                customer_views_key(&customer),
                "2026-01-01T00:00:00.000Z|0-4".to_string()
            ))
        );
        let m = ViewProjector::default().merge_for(&e).expect("merge");
        assert!(m.updates.contains(&FieldUpdate::fact(
            CUSTOMER_FIELD,
            customer.to_string(),
            &e.occurred_at
        )));
        let paid = Envelope::new("c", id(4), EventBody::OrderCancelled);
        assert_eq!(ViewProjector::customer_index_for(&paid), None);
    }

    #[test]
    fn a_batch_is_one_merge_per_order_with_every_update_in_order() {
        let paid = Envelope::new(
            "c",
            id(1),
            EventBody::PaymentConfirmed {
                payment_id: "p".into(),
                amount: 1,
            },
        );
        let rejected = Envelope::new("c", id(3), EventBody::OrderRejected { reason: "t".into() });
        let events = vec![paid, placed(2), placed(1), rejected];
        let (merges, carried_by) = ViewProjector::default().merges_for(&events);
        assert_eq!(merges.len(), 2);
        assert_eq!(carried_by, vec![Some(0), Some(1), Some(0), None]);
        assert_eq!(merges[0].updates[0].field, "paymentStatus");
        assert_eq!(merges[0].updates.len(), 10);
        assert_eq!(merges[0].listed_in.len(), 1, "the order's own member");
    }
}
