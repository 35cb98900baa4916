//! The read models' Redis keys, and reading their hashes as JSON values.
//!
//! MyPage and OrderDetails are two shapes of one hash per order
//! ([`view_key`]), listed once in [`VIEW_INDEX`] (a sorted set whose members
//! sort by creation time and end with the order id): one merge per event
//! keeps both up to date. An order's view carries its event partition's
//! hash tag, so on a Redis Cluster it lives in the slot of the stream that
//! feeds it, and a consumer's batch of one partition is one pipeline. Each
//! customer's orders are also listed in an index of their own
//! ([`customer_views_key`]), for `GET /myPages` with a customer token.

use std::collections::HashMap;

use kukka_storage::bus::Partitions;
use serde_json::Value;

use crate::order::customer::CustomerId;

/// Index of every order's view.
pub const VIEW_INDEX: &str = "kukka:views";
/// What follows an order view's partition tag (`kukka:{p<N>}:view:<id>`).
pub const VIEW_KEY_INFIX: &str = ":view:";

/// Key prefix of what is kept per customer
/// (`kukka:customer:{<customer id>}:...`).
pub const CUSTOMER_KEY_PREFIX: &str = "kukka:customer:";
/// Key suffix of a customer's view index.
pub const CUSTOMER_VIEWS_SUFFIX: &str = ":views";

/// Index of one customer's views (`GET /myPages` with their token): the
/// members of [`VIEW_INDEX`] of the orders they placed.
pub fn customer_views_key(customer: &CustomerId) -> String {
    format!("{CUSTOMER_KEY_PREFIX}{{{customer}}}{CUSTOMER_VIEWS_SUFFIX}")
}

/// The view hash's field naming the order's customer (never shown).
pub const CUSTOMER_FIELD: &str = "customerId";

/// Hash key of an order's view (MyPage and OrderDetails).
pub fn view_key(partitions: Partitions, order_id: &str) -> String {
    format!(
        "kukka:{}{VIEW_KEY_INFIX}{order_id}",
        partitions.of(order_id).tag()
    )
}

/// Index member of an entry: sorts by creation time, ends with the order
/// id.
pub fn index_member(created_at: &str, order_id: &str) -> String {
    format!("{created_at}|{order_id}")
}

/// The order id at the end of an index member.
pub fn order_id_of_member(member: &str) -> &str {
    member.rsplit_once('|').map(|(_, id)| id).unwrap_or(member)
}

/// A numeric field as a JSON number, `null` when absent.
pub fn num(map: &HashMap<String, String>, f: &str) -> Value {
    map.get(f)
        .and_then(|v| v.parse::<u64>().ok())
        .map(Value::from)
        .unwrap_or(Value::Null)
}

/// A text field as a JSON string, `null` when absent.
pub fn text(map: &HashMap<String, String>, f: &str) -> Value {
    map.get(f)
        .map(|v| Value::from(v.as_str()))
        .unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_view_lives_in_its_partitions_slot() {
        let p = Partitions::default();
        let key = view_key(p, "0-1");
        assert_eq!(
            kukka_storage::views::slot_of(&key),
            kukka_storage::views::slot_of(&p.of("0-1").legacy_stream())
        );
        assert!(key.ends_with(":view:0-1"), "{key}");
    }

    #[test]
    fn members_sort_by_time_and_end_with_the_id() {
        let m = index_member("2026-01-01T00:00:00.000Z", "0-1");
        assert_eq!(order_id_of_member(&m), "0-1");
        assert!(index_member("2026-01-01", "9-9") < index_member("2026-01-02", "0-0"));
    }

    #[test]
    fn a_customers_index_is_in_the_customers_hash_slot() {
        let c: CustomerId = "00112233445566778899aabbccddeeff".parse().expect("id");
        assert_eq!(
            customer_views_key(&c),
            "kukka:customer:{00112233445566778899aabbccddeeff}:views"
        );
    }
}
