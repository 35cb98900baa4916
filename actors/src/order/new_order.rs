//! Parsing a customer's order request into trusted domain types.
//!
//! The edge parses request JSON once with [`NewOrder::parse`]; everything
//! behind it (the order shard) receives a `NewOrder`, whose `Deserialize`
//! goes through the same parser, so a value of this type is valid wherever
//! it is, including on a node that received it over the cluster.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::model::OrderLine;
use crate::domain_error::DomainError;

/// Largest order price in won.
pub const MAX_PRICE: u64 = 100_000_000;
/// Largest quantity per order.
pub const MAX_QTY: u64 = 100;

/// A validated order request: an [`OrderLine`] whose every field passed
/// its rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Value", into = "OrderLine")]
pub struct NewOrder(OrderLine);

impl From<NewOrder> for OrderLine {
    fn from(o: NewOrder) -> Self {
        o.0
    }
}

impl std::ops::Deref for NewOrder {
    type Target = OrderLine;
    fn deref(&self) -> &OrderLine {
        &self.0
    }
}

impl TryFrom<Value> for NewOrder {
    type Error = DomainError;
    fn try_from(v: Value) -> Result<Self, DomainError> {
        Self::parse(&v)
    }
}

impl NewOrder {
    /// The validated line.
    pub fn into_line(self) -> OrderLine {
        self.0
    }

    /// Parses a JSON request body.
    pub fn parse(v: &Value) -> Result<Self, DomainError> {
        let obj = v
            .as_object()
            .ok_or_else(|| DomainError::invalid("body", "must be a JSON object"))?;
        let text = |field: &str, max: usize| -> Result<String, DomainError> {
            let raw = match obj.get(field) {
                None | Some(Value::Null) => return Err(DomainError::invalid(field, "is required")),
                Some(Value::String(s)) => s,
                Some(_) => return Err(DomainError::invalid(field, "must be a string")),
            };
            let trimmed = raw.trim();
            if trimmed.is_empty() {
                return Err(DomainError::invalid(field, "must not be empty"));
            }
            if trimmed.chars().count() > max {
                return Err(DomainError::invalid(
                    field,
                    format!("must be at most {max} characters"),
                ));
            }
            if trimmed.chars().any(char::is_control) {
                return Err(DomainError::invalid(
                    field,
                    "must not contain control characters",
                ));
            }
            Ok(trimmed.to_string())
        };
        let customer_name = text("customerName", 100)?;
        let phone_number = text("phoneNumber", 32)?;
        if !phone_number
            .chars()
            .all(|c| c.is_ascii_digit() || "+-() ".contains(c))
            || !phone_number.chars().any(|c| c.is_ascii_digit())
        {
            return Err(DomainError::invalid(
                "phoneNumber",
                "may contain only digits, spaces and + - ( )",
            ));
        }
        let address = text("address", 300)?;
        let flower_type = text("flowerType", 64)?;
        let price = whole_number(obj.get("price"), "price", 1, MAX_PRICE, None)?;
        let qty = whole_number(obj.get("qty"), "qty", 1, MAX_QTY, Some(1))?;
        Ok(Self(OrderLine {
            customer_name,
            phone_number,
            address,
            flower_type,
            price,
            qty: u32::try_from(qty).expect("qty is at most MAX_QTY, which fits in u32"),
        }))
    }
}

fn whole_number(
    v: Option<&Value>,
    field: &str,
    min: u64,
    max: u64,
    default: Option<u64>,
) -> Result<u64, DomainError> {
    let n = match (v, default) {
        (None | Some(Value::Null), Some(d)) => return Ok(d),
        (None | Some(Value::Null), None) => return Err(DomainError::invalid(field, "is required")),
        (Some(Value::Number(n)), _) => n,
        (Some(_), _) => return Err(DomainError::invalid(field, "must be a number")),
    };
    let range = || format!("must be a whole number from {min} to {max}");
    match n.as_u64() {
        Some(x) if (min..=max).contains(&x) => Ok(x),
        _ => Err(DomainError::invalid(field, range())),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn valid() -> Value {
        json!({"customerName": " KIM ", "phoneNumber": "010-1234-1234", "address": "SEOUL",
               "flowerType": "MixBox", "price": 10000})
    }

    fn field_of(v: Value) -> String {
        match NewOrder::parse(&v) {
            Err(DomainError::Invalid { field, .. }) => field,
            other => panic!("expected invalid, got {other:?}"),
        }
    }

    #[test]
    fn a_valid_order_is_trimmed_and_qty_defaults_to_one() {
        let o = NewOrder::parse(&valid()).expect("valid");
        assert_eq!(o.customer_name, "KIM");
        assert_eq!(o.qty, 1);
        assert_eq!(o.price, 10000);
    }

    #[test]
    fn every_rule_names_its_field() {
        let mut v = valid();
        v["price"] = json!(-5);
        assert_eq!(field_of(v), "price");
        let mut v = valid();
        v["price"] = json!(0);
        assert_eq!(field_of(v), "price");
        let mut v = valid();
        v["price"] = json!(1.5);
        assert_eq!(field_of(v), "price");
        let mut v = valid();
        v["price"] = json!("10000");
        assert_eq!(field_of(v), "price");
        let mut v = valid();
        v["price"] = json!(MAX_PRICE + 1);
        assert_eq!(field_of(v), "price");
        let mut v = valid();
        v["qty"] = json!(101);
        assert_eq!(field_of(v), "qty");
        let mut v = valid();
        v["qty"] = json!(0);
        assert_eq!(field_of(v), "qty");
        let mut v = valid();
        v["customerName"] = json!("   ");
        assert_eq!(field_of(v), "customerName");
        let mut v = valid();
        v["address"] = json!("x".repeat(301));
        assert_eq!(field_of(v), "address");
        let mut v = valid();
        v["phoneNumber"] = json!("call me");
        assert_eq!(field_of(v), "phoneNumber");
        let mut v = valid();
        v.as_object_mut().expect("object").remove("flowerType");
        assert_eq!(field_of(v), "flowerType");
        assert_eq!(field_of(json!([1, 2])), "body");
    }

    #[test]
    fn deserializing_goes_through_the_parser() {
        let mut v = valid();
        v["qty"] = json!(500);
        assert!(serde_json::from_value::<NewOrder>(v).is_err());
        let ok: NewOrder = serde_json::from_value(valid()).expect("valid");
        let round: NewOrder =
            serde_json::from_str(&serde_json::to_string(&ok).expect("ser")).expect("de");
        assert_eq!(ok, round);
    }
}
