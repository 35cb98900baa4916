//! `GET /openapi.json`: the OpenAPI 3.1 description of the public API
//! (public). Written by hand in `http-edge/assets/openapi.json`; the
//! served copy lists this shop's boxes as the values of `FlowerType`. Kept
//! true by the tests: every route it names answers and every route of
//! [`super::TABLE`] is in it (`nodes/tests/integration/openapi.rs`), and
//! in CI Schemathesis checks a live system's answers against it
//! (`.ci/run`).

use std::sync::Arc;

use kukka_actors::order::catalog::Catalog;
use serde_json::Value;
use warp::{
    filters::BoxedFilter,
    http::{header, HeaderValue},
    reply::Response,
    Filter, Reply,
};

/// The description as written.
pub const OPENAPI_JSON: &str = include_str!("../../assets/openapi.json");

/// The description for a shop selling `catalog`.
pub fn document(catalog: &Catalog) -> String {
    let mut doc: Value = match serde_json::from_str(OPENAPI_JSON) {
        Ok(v) => v,
        // A unit test below keeps the file valid JSON.
        Err(_) => return OPENAPI_JSON.to_string(),
    };
    let types: Vec<Value> = catalog
        .items
        .iter()
        .map(|i| Value::from(i.flower_type.as_str()))
        .collect();
    if let Some(flower_type) = doc.pointer_mut("/components/schemas/FlowerType") {
        flower_type["enum"] = Value::Array(types);
    }
    doc.to_string()
}

/// The description's route.
pub fn routes(catalog: &Catalog) -> BoxedFilter<(Response,)> {
    let doc: Arc<str> = document(catalog).into();
    warp::path!("openapi.json")
        .and(warp::get())
        .map(move || {
            let mut resp = doc.to_string().into_response();
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            resp
        })
        .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_description_is_openapi_3_1_and_lists_the_shops_boxes() {
        let v: Value = serde_json::from_str(OPENAPI_JSON).expect("valid JSON");
        assert_eq!(v["openapi"], "3.1.0");
        let catalog = Catalog::from_json(
            r#"{"items": [{"flowerType": "TulipBox", "name": "Tulips", "price": 12000}]}"#,
        )
        .expect("catalog");
        let served: Value = serde_json::from_str(&document(&catalog)).expect("json");
        assert_eq!(
            served["components"]["schemas"]["FlowerType"]["enum"],
            serde_json::json!(["TulipBox"])
        );
        let builtin: Value = serde_json::from_str(&document(&Catalog::builtin())).expect("json");
        assert_eq!(
            builtin["components"]["schemas"]["FlowerType"],
            v["components"]["schemas"]["FlowerType"],
            "the file lists the built-in catalog"
        );
    }
}
