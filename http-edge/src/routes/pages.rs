//! The web pages: `GET /` (customers: order a box, "my page"), `GET /owner`
//! (the shop owner: fulfil paid orders) and `GET /status` (operators: the
//! cluster at a glance), with their stylesheet and scripts under
//! `GET /assets/{name}`.
//!
//! Plain HTML, CSS and JavaScript from `http-edge/assets/`, compiled into
//! the binary (no front-end build step). The pages call the public JSON API
//! from the browser; they put every value into the DOM as text, and the
//! Content-Security-Policy sent with them allows only the edge's own
//! scripts and styles (no inline script), so data can never run as code.
//! An unknown asset falls through to the JSON 404 like any unknown route.

use warp::{
    filters::BoxedFilter,
    http::{header, HeaderValue},
    reply::Response,
    Filter, Reply,
};

/// One embedded file.
#[derive(Clone, Copy, Debug)]
pub struct Asset {
    /// Its name under `/assets/` (pages have their own paths).
    pub name: &'static str,
    /// `Content-Type`.
    pub content_type: &'static str,
    /// Its bytes.
    pub body: &'static str,
}

const HTML: &str = "text/html; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";

/// The customer's page.
pub const CUSTOMER: Asset = Asset {
    name: "customer.html",
    content_type: HTML,
    body: include_str!("../../assets/customer.html"),
};

/// The shop owner's page.
pub const OWNER: Asset = Asset {
    name: "owner.html",
    content_type: HTML,
    body: include_str!("../../assets/owner.html"),
};

/// The operators' page.
pub const STATUS: Asset = Asset {
    name: "status.html",
    content_type: HTML,
    body: include_str!("../../assets/status.html"),
};

/// What `/assets/{name}` serves.
pub const ASSETS: [Asset; 5] = [
    Asset {
        name: "kukka.css",
        content_type: CSS,
        body: include_str!("../../assets/kukka.css"),
    },
    Asset {
        name: "common.js",
        content_type: JS,
        body: include_str!("../../assets/common.js"),
    },
    Asset {
        name: "customer.js",
        content_type: JS,
        body: include_str!("../../assets/customer.js"),
    },
    Asset {
        name: "owner.js",
        content_type: JS,
        body: include_str!("../../assets/owner.js"),
    },
    Asset {
        name: "status.js",
        content_type: JS,
        body: include_str!("../../assets/status.js"),
    },
];

/// Only the edge's own files; the API is same-origin; no framing, no
/// inline script or style, no plugins.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

/// The asset named `name`, if there is one.
pub fn asset(name: &str) -> Option<Asset> {
    ASSETS.iter().copied().find(|a| a.name == name)
}

/// A file as a response, with the security headers every page carries.
/// `no-cache` makes browsers revalidate, so a new edge version takes
/// effect at once.
pub fn serve(asset: Asset) -> Response {
    let mut resp = asset.body.into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    resp
}

/// The page and asset routes.
pub fn routes() -> BoxedFilter<(Response,)> {
    let page = |path: BoxedFilter<()>, asset: Asset| {
        path.and(warp::get()).map(move || serve(asset)).boxed()
    };
    let customer = page(warp::path::end().boxed(), CUSTOMER);
    let owner = page(warp::path!("owner").boxed(), OWNER);
    let status = page(warp::path!("status").boxed(), STATUS);
    let assets =
        warp::path!("assets" / String)
            .and(warp::get())
            .and_then(|name: String| async move {
                asset(&name).map(serve).ok_or_else(warp::reject::not_found)
            });
    customer
        .or(owner)
        .unify()
        .or(status)
        .unify()
        .or(assets)
        .unify()
        .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn pages_and_assets_are_served_with_their_types_and_policy() {
        let routes = routes();
        for (path, ctype) in [
            ("/", HTML),
            ("/owner", HTML),
            ("/status", HTML),
            ("/assets/kukka.css", CSS),
            ("/assets/customer.js", JS),
        ] {
            let resp = warp::test::request().path(path).reply(&routes).await;
            assert_eq!(resp.status(), 200, "{path}");
            assert_eq!(resp.headers()[header::CONTENT_TYPE], ctype, "{path}");
            assert!(resp.headers().contains_key(header::CONTENT_SECURITY_POLICY));
        }
        for path in ["/assets/nope.js", "/assets/../Cargo.toml", "/owner/x"] {
            let resp = warp::test::request().path(path).reply(&routes).await;
            assert_eq!(resp.status(), 404, "{path}");
        }
        let resp = warp::test::request()
            .method("POST")
            .path("/")
            .reply(&routes)
            .await;
        assert_eq!(resp.status(), 405);
    }

    /// Whether `html` has an attribute like ` onclick=`.
    fn has_inline_handler(html: &str) -> bool {
        html.match_indices(" on").any(|(i, _)| {
            let rest = &html[i + 3..];
            let name_len = rest.chars().take_while(char::is_ascii_lowercase).count();
            name_len > 0 && rest[name_len..].starts_with('=')
        })
    }

    #[test]
    fn pages_load_only_embedded_scripts_and_never_inline_code() {
        for page in [CUSTOMER, OWNER, STATUS] {
            for src in page.body.split("src=\"").skip(1) {
                let src = src.split('"').next().unwrap_or("");
                let name = src.strip_prefix("/assets/").unwrap_or(src);
                assert!(asset(name).is_some(), "{}: {src}", page.name);
            }
            assert!(!page.body.contains("<script>"), "{}", page.name);
            assert!(
                !has_inline_handler(page.body),
                "{}: inline handler",
                page.name
            );
            assert!(!page.body.contains("style="), "{}", page.name);
            assert!(page.body.contains("name=\"viewport\""), "{}", page.name);
        }
        for a in ASSETS {
            assert!(!a.body.contains("innerHTML"), "{}", a.name);
            assert!(!a.body.contains("insertAdjacentHTML"), "{}", a.name);
            assert!(!a.body.contains("document.write"), "{}", a.name);
        }
    }
}
