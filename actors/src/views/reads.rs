//! Reading the Redis-held collections the edge serves: MyPage,
//! OrderDetails and deliveries, in the JSON shapes of the HTTP contract.

use std::collections::HashMap;

use kukka_storage::redis_conn::RedisConn;
use kukka_storage::{bus::Partitions, page::Page, views, StorageError};
use serde_json::Value;

use super::keys::{
    customer_views_key, num, order_id_of_member, text, view_key, CUSTOMER_FIELD, VIEW_INDEX,
};
use crate::{
    delivery::store::{delivery_json, delivery_key, DELIVERY_INDEX},
    order::customer::CustomerId,
};

/// A MyPage hash as the contract's JSON; `None` until the order itself was
/// projected.
pub fn my_page_json(map: &HashMap<String, String>) -> Option<Value> {
    let mut page = order_line_fields(map)?;
    for field in [
        "orderStatus",
        "paymentStatus",
        "deliveryStatus",
        "updatedAt",
    ] {
        page.insert(field.into(), text(map, field));
    }
    Some(Value::Object(page))
}

/// An OrderDetails hash as the contract's JSON.
pub fn order_details_json(map: &HashMap<String, String>) -> Option<Value> {
    let mut details = order_line_fields(map)?;
    details.insert("deliveryStatus".into(), text(map, "deliveryStatus"));
    Some(Value::Object(details))
}

/// What both read models show of the order itself; `None` until the order
/// was projected.
fn order_line_fields(map: &HashMap<String, String>) -> Option<serde_json::Map<String, Value>> {
    map.get("orderId")?;
    let mut fields = serde_json::Map::new();
    for field in [
        "orderId",
        "customerName",
        "phoneNumber",
        "address",
        "flowerType",
    ] {
        fields.insert(field.into(), text(map, field));
    }
    for field in ["qty", "price"] {
        fields.insert(field.into(), num(map, field));
    }
    Some(fields)
}

/// Which Redis-held collection to read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Collection {
    /// MyPage (the customer's view).
    MyPages,
    /// OrderDetails (the shop owner's view).
    OrderDetails,
    /// Deliveries.
    Deliveries,
}

impl Collection {
    fn index(self) -> &'static str {
        match self {
            Self::MyPages | Self::OrderDetails => VIEW_INDEX,
            Self::Deliveries => DELIVERY_INDEX,
        }
    }

    fn key(self, partitions: Partitions, order_id: &str) -> String {
        match self {
            Self::MyPages | Self::OrderDetails => view_key(partitions, order_id),
            Self::Deliveries => delivery_key(partitions, order_id),
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
        conn: &mut RedisConn,
        partitions: Partitions,
        order_id: &str,
    ) -> Result<Option<Value>, StorageError> {
        self.get_visible(conn, partitions, order_id, None).await
    }

    /// One entry by order id, if `customer` may see it: any entry when
    /// `customer` is `None` (the owner); otherwise only that customer's
    /// (another customer's entry is `None`, as a missing one is).
    pub async fn get_visible(
        self,
        conn: &mut RedisConn,
        partitions: Partitions,
        order_id: &str,
        customer: Option<CustomerId>,
    ) -> Result<Option<Value>, StorageError> {
        Ok(views::get(conn, &self.key(partitions, order_id))
            .await?
            .filter(|m| customer.is_none_or(|c| m.get(CUSTOMER_FIELD) == Some(&c.to_string())))
            .and_then(|m| self.shape(&m)))
    }

    /// One page, oldest first.
    pub async fn list(
        self,
        conn: &mut RedisConn,
        partitions: Partitions,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Page<Value>, StorageError> {
        let page = views::list(conn, self.index(), cursor, limit, |m| {
            self.key(partitions, order_id_of_member(m))
        })
        .await?;
        Ok(Page {
            items: page.items.iter().filter_map(|m| self.shape(m)).collect(),
            next_cursor: page.next_cursor,
        })
    }
}

/// One page of a customer's MyPage entries, oldest first.
pub async fn my_pages_of(
    conn: &mut RedisConn,
    partitions: Partitions,
    customer: &CustomerId,
    cursor: Option<&str>,
    limit: u32,
) -> Result<Page<Value>, StorageError> {
    let page = views::list(conn, &customer_views_key(customer), cursor, limit, |m| {
        view_key(partitions, order_id_of_member(m))
    })
    .await?;
    Ok(Page {
        items: page.items.iter().filter_map(my_page_json).collect(),
        next_cursor: page.next_cursor,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let d = order_details_json(&m).expect("shape");
        assert!(d.get("orderStatus").is_none(), "the owner's view has none");
    }
}
