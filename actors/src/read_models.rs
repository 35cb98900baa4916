//! The read models (CQRS): MyPage (the customer's view) and OrderDetails
//! (the shop owner's), plus the deliveries, all kept in Redis so any edge or
//! delivery replica can serve them.
//!
//! [`ViewProjector`] builds the views from events only. Each event becomes a
//! rank-guarded merge (see `kukka_storage::views`): facts are written once,
//! each status only moves forward. So replaying the stream, receiving an
//! event twice, or receiving events out of order all end in the same views.
//! The readers turn the hashes into the JSON shapes of the HTTP contract.

use std::collections::HashMap;

use kukka_storage::{
    page::Page,
    views::{self, FieldUpdate},
    StorageError,
};
use redis::aio::ConnectionManager;
use serde_json::{json, Value};

use crate::{
    consumer::EventHandler,
    events::{Envelope, EventBody},
};

/// Index of MyPage entries.
pub const MYPAGE_INDEX: &str = "kukka:mypages";
/// Index of OrderDetails entries.
pub const ORDER_DETAILS_INDEX: &str = "kukka:orderdetails";
/// Index of deliveries.
pub const DELIVERY_INDEX: &str = "kukka:deliveries";

/// Hash key of an order's MyPage entry.
pub fn my_page_key(order_id: &str) -> String {
    format!("kukka:mypage:{order_id}")
}

/// Hash key of an order's OrderDetails entry.
pub fn order_details_key(order_id: &str) -> String {
    format!("kukka:orderdetail:{order_id}")
}

/// Hash key of an order's delivery.
pub fn delivery_key(order_id: &str) -> String {
    format!("kukka:delivery:{order_id}")
}

/// Index member: sorts by creation time, ends with the order id.
pub fn index_member(created_at: &str, order_id: &str) -> String {
    format!("{created_at}|{order_id}")
}

fn order_id_of_member(member: &str) -> &str {
    member.rsplit_once('|').map(|(_, id)| id).unwrap_or(member)
}

/// Projects events into MyPage and OrderDetails.
#[derive(Clone, Copy, Debug, Default)]
pub struct ViewProjector;

impl ViewProjector {
    /// The merges one event causes: `(hash key, index, index member, updates)`.
    pub fn updates_for(
        event: &Envelope,
    ) -> Vec<(String, &'static str, Option<String>, Vec<FieldUpdate>)> {
        let id = event.order_id.as_str();
        let mp = my_page_key(id);
        let od = order_details_key(id);
        match &event.body {
            EventBody::OrderPlaced {
                customer_name,
                phone_number,
                address,
                flower_type,
                price,
                qty,
                created_at,
                ..
            } => {
                let facts = vec![
                    FieldUpdate::fact("orderId", id),
                    FieldUpdate::fact("customerName", customer_name.as_str()),
                    FieldUpdate::fact("phoneNumber", phone_number.as_str()),
                    FieldUpdate::fact("address", address.as_str()),
                    FieldUpdate::fact("flowerType", flower_type.as_str()),
                    FieldUpdate::fact("qty", qty.to_string()),
                    FieldUpdate::fact("price", price.to_string()),
                    FieldUpdate::fact("createdAt", created_at.as_str()),
                ];
                let member = Some(index_member(created_at, id));
                let mut mine = facts.clone();
                mine.push(FieldUpdate::ranked("orderStatus", "Ordered", 1));
                vec![
                    (mp, MYPAGE_INDEX, member.clone(), mine),
                    (od, ORDER_DETAILS_INDEX, member, facts),
                ]
            }
            EventBody::OrderCancelled => vec![(
                mp,
                MYPAGE_INDEX,
                None,
                vec![FieldUpdate::ranked("orderStatus", "OrderCancelled", 2)],
            )],
            EventBody::PaymentConfirmed { .. } => vec![(
                mp,
                MYPAGE_INDEX,
                None,
                vec![FieldUpdate::ranked("paymentStatus", "PaymentConfirmed", 1)],
            )],
            EventBody::PaymentCancelled { .. } => vec![(
                mp,
                MYPAGE_INDEX,
                None,
                vec![FieldUpdate::ranked("paymentStatus", "PaymentCancelled", 2)],
            )],
            EventBody::DeliveryChanged { status } => {
                let u = vec![FieldUpdate::ranked(
                    "deliveryStatus",
                    status.as_str(),
                    status.rank(),
                )];
                vec![
                    (mp, MYPAGE_INDEX, None, u.clone()),
                    (od, ORDER_DETAILS_INDEX, None, u),
                ]
            }
            EventBody::OrderRejected { .. } => Vec::new(),
        }
    }
}

impl EventHandler for ViewProjector {
    fn wants(&self, kind: &str) -> bool {
        kind != "OrderRejected"
    }

    async fn apply(&self, conn: &mut ConnectionManager, event: Envelope) -> Result<(), String> {
        for (key, index, member, updates) in Self::updates_for(&event) {
            views::merge(
                conn,
                &key,
                index,
                member.as_deref(),
                &event.occurred_at,
                &updates,
            )
            .await
            .map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}

fn num(map: &HashMap<String, String>, f: &str) -> Value {
    map.get(f)
        .and_then(|v| v.parse::<u64>().ok())
        .map(Value::from)
        .unwrap_or(Value::Null)
}

fn text(map: &HashMap<String, String>, f: &str) -> Value {
    map.get(f)
        .map(|v| Value::from(v.as_str()))
        .unwrap_or(Value::Null)
}

/// A MyPage hash as the contract's JSON; `None` until the order itself was
/// projected.
pub fn my_page_json(map: &HashMap<String, String>) -> Option<Value> {
    map.get("orderId")?;
    Some(json!({
        "orderId": text(map, "orderId"),
        "customerName": text(map, "customerName"),
        "phoneNumber": text(map, "phoneNumber"),
        "address": text(map, "address"),
        "flowerType": text(map, "flowerType"),
        "qty": num(map, "qty"),
        "price": num(map, "price"),
        "orderStatus": text(map, "orderStatus"),
        "paymentStatus": text(map, "paymentStatus"),
        "deliveryStatus": text(map, "deliveryStatus"),
        "updatedAt": text(map, "updatedAt"),
    }))
}

/// An OrderDetails hash as the contract's JSON.
pub fn order_details_json(map: &HashMap<String, String>) -> Option<Value> {
    map.get("orderId")?;
    Some(json!({
        "orderId": text(map, "orderId"),
        "customerName": text(map, "customerName"),
        "phoneNumber": text(map, "phoneNumber"),
        "address": text(map, "address"),
        "flowerType": text(map, "flowerType"),
        "qty": num(map, "qty"),
        "price": num(map, "price"),
        "deliveryStatus": text(map, "deliveryStatus"),
    }))
}

/// A delivery hash as the contract's JSON.
pub fn delivery_json(map: &HashMap<String, String>) -> Option<Value> {
    map.get("orderId")?;
    Some(json!({
        "orderId": text(map, "orderId"),
        "status": text(map, "status"),
        "createdAt": text(map, "createdAt"),
        "updatedAt": text(map, "updatedAt"),
    }))
}

/// Which Redis-held collection to read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Collection {
    /// MyPage.
    MyPages,
    /// OrderDetails.
    OrderDetails,
    /// Deliveries.
    Deliveries,
}

impl Collection {
    fn index(self) -> &'static str {
        match self {
            Self::MyPages => MYPAGE_INDEX,
            Self::OrderDetails => ORDER_DETAILS_INDEX,
            Self::Deliveries => DELIVERY_INDEX,
        }
    }

    fn key(self, order_id: &str) -> String {
        match self {
            Self::MyPages => my_page_key(order_id),
            Self::OrderDetails => order_details_key(order_id),
            Self::Deliveries => delivery_key(order_id),
        }
    }

    fn shape(self, map: &HashMap<String, String>) -> Option<Value> {
        match self {
            Self::MyPages => my_page_json(map),
            Self::OrderDetails => order_details_json(map),
            Self::Deliveries => delivery_json(map),
        }
    }

    /// One entry by order id.
    pub async fn get(
        self,
        conn: &mut ConnectionManager,
        order_id: &str,
    ) -> Result<Option<Value>, StorageError> {
        Ok(views::get(conn, &self.key(order_id))
            .await?
            .and_then(|m| self.shape(&m)))
    }

    /// One page, oldest first.
    pub async fn list(
        self,
        conn: &mut ConnectionManager,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Page<Value>, StorageError> {
        let page = views::list(conn, self.index(), cursor, limit, |m| {
            self.key(order_id_of_member(m))
        })
        .await?;
        Ok(Page {
            items: page.items.iter().filter_map(|m| self.shape(m)).collect(),
            next_cursor: page.next_cursor,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::delivery::DeliveryStatus;

    #[test]
    fn placed_orders_fill_both_views_and_statuses_carry_ranks() {
        let placed = Envelope::new(
            "c",
            "0-1",
            EventBody::OrderPlaced {
                customer_name: "KIM".into(),
                phone_number: "010".into(),
                address: "SEOUL".into(),
                flower_type: "MixBox".into(),
                price: 10000,
                qty: 2,
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

        let cancelled = Envelope::new("c", "0-1", EventBody::OrderCancelled);
        assert_eq!(
            ViewProjector::updates_for(&cancelled)[0].3,
            vec![FieldUpdate::ranked("orderStatus", "OrderCancelled", 2)]
        );
        let delivered = Envelope::new(
            "c",
            "0-1",
            EventBody::DeliveryChanged {
                status: DeliveryStatus::Delivered,
            },
        );
        let du = ViewProjector::updates_for(&delivered);
        assert_eq!(du.len(), 2);
        assert_eq!(du[1].3[0].rank, 3);
        assert!(ViewProjector::updates_for(&Envelope::new(
            "c",
            "0-1",
            EventBody::OrderRejected { reason: "t".into() }
        ))
        .is_empty());
    }

    #[test]
    fn json_shapes_use_nulls_for_statuses_not_reached() {
        let mut m = HashMap::new();
        assert!(my_page_json(&m).is_none());
        m.insert("orderId".to_string(), "0-1".to_string());
        m.insert("qty".to_string(), "2".to_string());
        m.insert("paymentStatus".to_string(), "PaymentConfirmed".to_string());
        let v = my_page_json(&m).expect("shape");
        assert_eq!(v["qty"], 2);
        assert_eq!(v["paymentStatus"], "PaymentConfirmed");
        assert!(v["deliveryStatus"].is_null());
        assert_eq!(order_id_of_member("2026|0-1"), "0-1");
    }
}
