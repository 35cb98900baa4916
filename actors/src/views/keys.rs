//! The read models' Redis keys, and reading their hashes as JSON values.
//!
//! Each view entry is a hash per order listed in an index (a sorted set
//! whose members sort by creation time and end with the order id).

use std::collections::HashMap;

use serde_json::Value;

/// Key prefix of an order's MyPage hash (`kukka:mypage:<order id>`).
pub const MY_PAGE_KEY_PREFIX: &str = "kukka:mypage:";
/// Key prefix of an order's OrderDetails hash.
pub const ORDER_DETAILS_KEY_PREFIX: &str = "kukka:orderdetail:";
/// Index of MyPage entries.
pub const MY_PAGE_INDEX: &str = "kukka:mypages";
/// Index of OrderDetails entries.
pub const ORDER_DETAILS_INDEX: &str = "kukka:orderdetails";

/// Hash key of an order's MyPage entry.
pub fn my_page_key(order_id: &str) -> String {
    format!("{MY_PAGE_KEY_PREFIX}{order_id}")
}

/// Hash key of an order's OrderDetails entry.
pub fn order_details_key(order_id: &str) -> String {
    format!("{ORDER_DETAILS_KEY_PREFIX}{order_id}")
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
    fn members_sort_by_time_and_end_with_the_id() {
        let m = index_member("2026-01-01T00:00:00.000Z", "0-1");
        assert_eq!(order_id_of_member(&m), "0-1");
        assert!(index_member("2026-01-01", "9-9") < index_member("2026-01-02", "0-0"));
    }
}
