//! Parsing a customer's order request into trusted domain types: the one
//! place for the request's rules, the catalog's prices and the leniency the
//! original system's clients rely on.
//!
//! The edge parses request JSON once with [`NewOrder::parse`], against the
//! shop's [`Catalog`]: the box must be for sale, and the order's price is
//! the catalog's price times `qty`, whatever the request says. A `price` in
//! the request is the total the customer expects to pay; it is kept beside
//! the computed one and compared by the order shard
//! ([`NewOrder::check_price`]) after it looked up the request's
//! `Idempotency-Key` (a retry gets its original answer even if the price
//! changed since). Integer fields (`qty`, `price`) accept a JSON string
//! holding a plain decimal integer (`"10000"`), as the original's JSON
//! binding did: httpie's `price=10000` sends one. Fields the server owns
//! (`id`, `status`) and unknown fields are ignored.
//!
//! Everything behind the edge (the order shard) receives a `NewOrder`,
//! whose `Deserialize` checks the same field rules again
//! ([`NewOrder::from_wire`]), so a value of this type is valid wherever it
//! is, including on a node that received it over the cluster.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{catalog::Catalog, model::OrderLine};
use crate::domain_error::DomainError;

/// Largest order price in won.
pub const MAX_PRICE: u64 = 100_000_000;
/// Largest quantity per order.
pub const MAX_QTY: u64 = 100;

/// A validated order request: an [`OrderLine`] whose every field passed
/// its rule and whose price is the catalog's, and the total the customer
/// said they expect to pay, if they did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Value", into = "WireOrder")]
pub struct NewOrder {
    line: OrderLine,
    expected_price: Option<u64>,
}

/// A [`NewOrder`] on the wire: the line's fields and `expectedPrice`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WireOrder {
    #[serde(flatten)]
    line: OrderLine,
    expected_price: Option<u64>,
}

impl From<NewOrder> for WireOrder {
    fn from(o: NewOrder) -> Self {
        Self {
            line: o.line,
            expected_price: o.expected_price,
        }
    }
}

impl std::ops::Deref for NewOrder {
    type Target = OrderLine;
    fn deref(&self) -> &OrderLine {
        &self.line
    }
}

impl TryFrom<Value> for NewOrder {
    type Error = DomainError;
    fn try_from(v: Value) -> Result<Self, DomainError> {
        Self::from_wire(&v)
    }
}

/// The customer's own fields, checked.
struct Fields {
    customer_name: String,
    phone_number: String,
    address: String,
    flower_type: String,
    qty: u32,
}

impl NewOrder {
    /// The validated line.
    pub fn into_line(self) -> OrderLine {
        self.line
    }

    /// The total the request said it expects, if it said.
    pub fn expected_price(&self) -> Option<u64> {
        self.expected_price
    }

    /// Parses a request body against the shop's catalog.
    pub fn parse(v: &Value, catalog: &Catalog) -> Result<Self, DomainError> {
        let obj = object(v)?;
        let f = fields(obj)?;
        let unit = catalog
            .get(&f.flower_type)
            .ok_or_else(|| {
                DomainError::invalid(
                    "flowerType",
                    format!("is not for sale; the catalog has {}", catalog.names()),
                )
            })?
            .price;
        let expected_price = optional_whole_number(obj.get("price"), "price", 1, MAX_PRICE)?;
        // The catalog keeps a box's price at most MAX_PRICE / MAX_QTY.
        let price = unit.saturating_mul(u64::from(f.qty)).min(MAX_PRICE);
        Ok(Self::new(f, price, expected_price))
    }

    /// Reads a `NewOrder` received over the cluster (`price` is the total
    /// the edge computed).
    pub fn from_wire(v: &Value) -> Result<Self, DomainError> {
        let obj = object(v)?;
        let f = fields(obj)?;
        let price = optional_whole_number(obj.get("price"), "price", 1, MAX_PRICE)?
            .ok_or_else(|| DomainError::invalid("price", "is required"))?;
        let expected = optional_whole_number(obj.get("expectedPrice"), "price", 1, MAX_PRICE)?;
        Ok(Self::new(f, price, expected))
    }

    fn new(f: Fields, price: u64, expected_price: Option<u64>) -> Self {
        Self {
            line: OrderLine {
                customer_name: f.customer_name,
                phone_number: f.phone_number,
                address: f.address,
                flower_type: f.flower_type,
                price,
                qty: f.qty,
            },
            expected_price,
        }
    }

    /// Refuses the order if the customer expects another total than the
    /// shop's.
    pub fn check_price(&self) -> Result<(), DomainError> {
        match self.expected_price {
            Some(expected) if expected != self.line.price => Err(DomainError::PriceMismatch {
                expected,
                price: self.line.price,
            }),
            _ => Ok(()),
        }
    }

    /// Whether `placed` is what this request asks for (a retry with the
    /// same `Idempotency-Key`): the same customer fields, and the price it
    /// was charged if this request names one. The shop's current price
    /// does not matter: the original answer stands.
    pub fn asks_for(&self, placed: &OrderLine) -> bool {
        let l = &self.line;
        l.customer_name == placed.customer_name
            && l.phone_number == placed.phone_number
            && l.address == placed.address
            && l.flower_type == placed.flower_type
            && l.qty == placed.qty
            && self.expected_price.is_none_or(|p| p == placed.price)
    }
}

fn object(v: &Value) -> Result<&Map<String, Value>, DomainError> {
    v.as_object()
        .ok_or_else(|| DomainError::invalid("body", "must be a JSON object"))
}

fn fields(obj: &Map<String, Value>) -> Result<Fields, DomainError> {
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
    let qty = optional_whole_number(obj.get("qty"), "qty", 1, MAX_QTY)?.unwrap_or(1);
    Ok(Fields {
        customer_name,
        phone_number,
        address,
        flower_type,
        qty: u32::try_from(qty).expect("qty is at most MAX_QTY, which fits in u32"),
    })
}

/// A whole number from `min` to `max`, or `None` when absent or `null`. A
/// JSON string of plain decimal digits counts as the number it spells
/// (`"10000"`); signs, spaces, fractions and exponents do not.
fn optional_whole_number(
    v: Option<&Value>,
    field: &str,
    min: u64,
    max: u64,
) -> Result<Option<u64>, DomainError> {
    let range =
        || DomainError::invalid(field, format!("must be a whole number from {min} to {max}"));
    let n = match v {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(n)) => n.as_u64().ok_or_else(range)?,
        Some(Value::String(s)) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            // Too many digits for a u64 is out of range too.
            s.parse::<u64>().map_err(|_| range())?
        }
        Some(_) => return Err(range()),
    };
    if (min..=max).contains(&n) {
        Ok(Some(n))
    } else {
        Err(range())
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

    fn parse(v: &Value) -> Result<NewOrder, DomainError> {
        NewOrder::parse(v, &Catalog::builtin())
    }

    fn field_of(v: Value) -> String {
        match parse(&v) {
            Err(DomainError::Invalid { field, .. }) => field,
            other => panic!("expected invalid, got {other:?}"),
        }
    }

    #[test]
    fn a_valid_order_is_trimmed_and_qty_defaults_to_one() {
        let o = parse(&valid()).expect("valid");
        assert_eq!(o.customer_name, "KIM");
        assert_eq!(o.qty, 1);
        assert_eq!(o.price, 10000);
        assert_eq!(o.check_price(), Ok(()));
    }

    #[test]
    fn the_catalog_sets_the_price_and_a_different_expectation_is_a_mismatch() {
        let mut v = valid();
        v["flowerType"] = json!("RoseBox");
        v["qty"] = json!(100);
        v["price"] = json!(1);
        let o = parse(&v).expect("parsed");
        assert_eq!(o.price, 1_000_000, "100 × 10,000 won, not 1");
        assert_eq!(
            o.check_price(),
            Err(DomainError::PriceMismatch {
                expected: 1,
                price: 1_000_000
            })
        );
        v.as_object_mut().expect("object").remove("price");
        let o = parse(&v).expect("parsed");
        assert_eq!((o.price, o.expected_price()), (1_000_000, None));
        assert_eq!(o.check_price(), Ok(()), "no expectation, no mismatch");
        let mut v = valid();
        v["flowerType"] = json!("TulipBox");
        assert_eq!(field_of(v), "flowerType", "not for sale");
    }

    #[test]
    fn integers_may_be_plain_decimal_strings_as_httpie_sends_them() {
        // `http POST :8088/orders ... price=10000 status=Ordered`
        let httpie = json!({"phoneNumber": "01012341234", "address": "SEOUL",
            "customerName": "KIM", "flowerType": "MixBox", "price": "10000", "status": "Ordered"});
        let o = parse(&httpie).expect("httpie's body");
        assert_eq!((o.price, o.expected_price()), (10000, Some(10000)));
        let mut v = valid();
        v["qty"] = json!("2");
        v["price"] = json!("20000");
        let o = parse(&v).expect("strings");
        assert_eq!((o.qty, o.price), (2, 20000));
        for bad in [
            json!("abc"),
            json!("10.5"),
            json!("1e4"),
            json!("-1"),
            json!("+1"),
            json!(" 1"),
            json!(""),
            json!("99999999999999999999999"),
            json!(10.5),
            json!(1e30),
            json!(true),
            json!([1]),
        ] {
            let mut v = valid();
            v["price"] = bad.clone();
            assert_eq!(field_of(v), "price", "price {bad}");
            let mut v = valid();
            v["qty"] = bad.clone();
            assert_eq!(field_of(v), "qty", "qty {bad}");
        }
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
    fn a_retry_asks_for_what_was_placed_whatever_the_price_is_now() {
        let o = parse(&valid()).expect("valid");
        let mut placed = o.clone().into_line();
        placed.price = 9000; // the price when it was placed
        let mut v = valid();
        v.as_object_mut().expect("object").remove("price");
        assert!(parse(&v).expect("valid").asks_for(&placed));
        assert!(!o.asks_for(&placed), "it names another price");
        placed.price = 10000;
        assert!(o.asks_for(&placed));
        placed.address = "BUSAN".into();
        assert!(!o.asks_for(&placed));
    }

    #[test]
    fn deserializing_goes_through_the_field_rules() {
        let ok = parse(&valid()).expect("valid");
        let wire = serde_json::to_value(&ok).expect("ser");
        assert_eq!(wire["price"], 10000);
        assert_eq!(wire["expectedPrice"], 10000);
        let round: NewOrder = serde_json::from_value(wire.clone()).expect("de");
        assert_eq!(ok, round);
        let mut bad = wire;
        bad["qty"] = json!(500);
        assert!(serde_json::from_value::<NewOrder>(bad).is_err());
    }
}
