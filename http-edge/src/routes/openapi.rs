//! `GET /openapi.json`: the OpenAPI 3.1 description of the public API
//! (public). Written by hand in `http-edge/assets/openapi.json` and kept
//! true by the tests: every route it names answers, every route is in it
//! (`nodes/tests/integration/openapi.rs`), and Schemathesis checks the
//! answers of a live system against it in CI (`.ci/run`).

use warp::{
    filters::BoxedFilter,
    http::{header, HeaderValue},
    reply::Response,
    Filter, Reply,
};

/// The description.
pub const OPENAPI_JSON: &str = include_str!("../../assets/openapi.json");

/// The description's route.
pub fn routes() -> BoxedFilter<(Response,)> {
    warp::path!("openapi.json")
        .and(warp::get())
        .map(|| {
            let mut resp = OPENAPI_JSON.into_response();
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
    fn the_description_is_openapi_3_1_json() {
        let v: serde_json::Value = serde_json::from_str(OPENAPI_JSON).expect("valid JSON");
        assert_eq!(v["openapi"], "3.1.0");
        assert!(v["paths"]["/orders"]["post"].is_object());
    }
}
