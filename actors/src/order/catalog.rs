//! The catalog: the boxes the shop sells and what each costs. Prices
//! belong to the shop: the charge of an order is the catalog price of its
//! box times its quantity ([`super::new_order::NewOrder::parse`]); a price
//! in the request is only what the customer expects to pay.
//!
//! The edge loads it from `--catalog FILE` (`KUKKA_CATALOG`; a ConfigMap in
//! Kubernetes), or uses [`Catalog::builtin`], the original system's boxes.
//! The file has the shape `GET /catalog` answers:
//! `{"items": [{"flowerType", "name", "description", "price"}]}`.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::new_order::{MAX_PRICE, MAX_QTY};

/// The highest price of one box: a full order of the dearest box stays
/// within what an order may cost.
pub const MAX_UNIT_PRICE: u64 = MAX_PRICE / MAX_QTY;

/// One box for sale.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CatalogItem {
    /// What orders name it by (`MixBox`).
    pub flower_type: String,
    /// Its name for people (`Mix box`).
    pub name: String,
    /// A sentence about it.
    #[serde(default)]
    pub description: String,
    /// Price of one box in won.
    pub price: u64,
}

/// The boxes for sale, in the order they are shown.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalog {
    /// The boxes.
    pub items: Vec<CatalogItem>,
}

/// Why a catalog file was refused.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The file could not be read.
    #[error("cannot read the catalog {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// Not the catalog's JSON shape.
    #[error("the catalog is not valid: {0}")]
    Parse(String),
    /// A rule of the catalog is broken.
    #[error("the catalog is not valid: {0}")]
    Invalid(String),
}

fn item(flower_type: &str, name: &str, description: &str, price: u64) -> CatalogItem {
    CatalogItem {
        flower_type: flower_type.into(),
        name: name.into(),
        description: description.into(),
        price,
    }
}

impl Catalog {
    /// The original system's boxes and prices.
    pub fn builtin() -> Self {
        Self {
            items: vec![
                item(
                    "MixBox",
                    "Mix box",
                    "Whatever is freshest this week",
                    10_000,
                ),
                item(
                    "RoseBox",
                    "Rose box",
                    "Garden roses in season colours",
                    10_000,
                ),
                item("LilyBox", "Lily box", "Scented lilies and greens", 15_000),
                item(
                    "RandomBox",
                    "Random box",
                    "The florist's surprise, a little larger",
                    20_000,
                ),
                item(
                    "DaisyBox",
                    "Daisy box",
                    "A big bunch of daisies and wildflowers",
                    30_000,
                ),
            ],
        }
    }

    /// Reads and checks a catalog file.
    pub fn load(path: &Path) -> Result<Self, CatalogError> {
        let text = std::fs::read_to_string(path).map_err(|source| CatalogError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_json(&text)
    }

    /// Parses and checks a catalog's JSON.
    pub fn from_json(text: &str) -> Result<Self, CatalogError> {
        let catalog: Catalog =
            serde_json::from_str(text).map_err(|e| CatalogError::Parse(e.to_string()))?;
        catalog.check()?;
        Ok(catalog)
    }

    fn check(&self) -> Result<(), CatalogError> {
        let bad = |m: String| Err(CatalogError::Invalid(m));
        if self.items.is_empty() {
            return bad("it sells nothing: `items` is empty".into());
        }
        for (i, it) in self.items.iter().enumerate() {
            let ft = &it.flower_type;
            if ft.is_empty()
                || ft.len() > 64
                || !ft
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return bad(format!(
                    "item {i}: flowerType must be 1 to 64 letters, digits, - or _"
                ));
            }
            if self.items[..i].iter().any(|o| &o.flower_type == ft) {
                return bad(format!("flowerType {ft} is listed twice"));
            }
            let name_len = it.name.trim().chars().count();
            if name_len == 0 || name_len > 100 || it.name.chars().any(char::is_control) {
                return bad(format!(
                    "{ft}: name must be 1 to 100 characters, no control characters"
                ));
            }
            if it.description.chars().count() > 300 || it.description.chars().any(char::is_control)
            {
                return bad(format!(
                    "{ft}: description must be at most 300 characters, no control characters"
                ));
            }
            if !(1..=MAX_UNIT_PRICE).contains(&it.price) {
                return bad(format!(
                    "{ft}: price must be a whole number of won from 1 to {MAX_UNIT_PRICE}"
                ));
            }
        }
        Ok(())
    }

    /// The box `flower_type`, if the shop sells it.
    pub fn get(&self, flower_type: &str) -> Option<&CatalogItem> {
        self.items.iter().find(|i| i.flower_type == flower_type)
    }

    /// The flower types for sale, for error messages.
    pub fn names(&self) -> String {
        let names: Vec<&str> = self.items.iter().map(|i| i.flower_type.as_str()).collect();
        names.join(", ")
    }
}

impl Default for Catalog {
    fn default() -> Self {
        Self::builtin()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_catalog_has_the_original_boxes_and_prices() {
        let c = Catalog::builtin();
        for (ft, price) in [
            ("MixBox", 10_000),
            ("RoseBox", 10_000),
            ("LilyBox", 15_000),
            ("RandomBox", 20_000),
            ("DaisyBox", 30_000),
        ] {
            assert_eq!(c.get(ft).map(|i| i.price), Some(price), "{ft}");
        }
        assert!(c.check().is_ok());
        let json = serde_json::to_value(&c).expect("json");
        assert_eq!(json["items"][0]["flowerType"], "MixBox");
        assert_eq!(
            Catalog::from_json(&json.to_string()).expect("round trip"),
            c
        );
    }

    #[test]
    fn a_file_that_breaks_a_rule_is_refused() {
        for bad in [
            r#"{"items": []}"#,
            r#"{"items": [{"flowerType": "A", "name": "a", "price": 0}]}"#,
            r#"{"items": [{"flowerType": "A", "name": "a", "price": 1000001}]}"#,
            r#"{"items": [{"flowerType": "A B", "name": "a", "price": 1}]}"#,
            r#"{"items": [{"flowerType": "A", "name": " ", "price": 1}]}"#,
            r#"{"items": [{"flowerType": "A", "name": "a", "price": 1},
                          {"flowerType": "A", "name": "b", "price": 2}]}"#,
            r#"{"items": [{"flowerType": "A", "name": "a", "price": "1"}]}"#,
            r#"{"items": [{"flowerType": "A", "name": "a", "price": 1, "colour": "red"}]}"#,
            r#"[]"#,
        ] {
            assert!(Catalog::from_json(bad).is_err(), "{bad}");
        }
        let ok = Catalog::from_json(r#"{"items": [{"flowerType": "A", "name": "a", "price": 7}]}"#)
            .expect("valid");
        assert_eq!(ok.get("A").map(|i| i.price), Some(7));
        assert_eq!(ok.get("B"), None);
    }
}
