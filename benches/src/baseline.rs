//! `kukka-baseline`: the same durable work as the cluster's `POST /orders`,
//! in one process with no actors and no cluster: what this machine can do
//! when nothing but the essential work is done.
//!
//! Per order it
//! 1. parses and validates the body with the domain's
//!    [`NewOrder::parse`](kukka_actors::order::new_order::NewOrder::parse),
//! 2. writes the payment row and waits for it to be durable (sled, group
//!    commit through [`group_flush::Flusher`]),
//! 3. writes the order row and waits for it to be durable (the cluster, too,
//!    makes two durable writes per order: payment on the payment node, then
//!    the order on the order node),
//! 4. appends `PaymentConfirmed` and `OrderPlaced` to the event stream with
//!    one pipelined `XADD` pair, and answers `201` with the order.
//!
//! It serves `POST /orders`, `GET /healthz` and `GET /readyz` (200 when
//! Redis answers). Start Redis as `kukka up` does (`--appendonly yes
//! --appendfsync always`) for a like-for-like comparison; the bench scripts
//! do.
//!
//! `--storage` picks how the rows are stored ([`Storage`]); `outbox` runs
//! kukka's own storage layer, to tell its cost from the cluster's (see
//! `benches/README.md`). Layout: [`persist`] (the ways to store an order),
//! [`group_flush`] (the plain mode's shared flush), [`relay`] (outbox to
//! stream).

pub mod group_flush;
pub mod persist;
pub mod relay;

use std::{convert::Infallible, future::Future, net::SocketAddr, path::PathBuf, time::Duration};

use kukka_actors::order::{catalog::Catalog, new_order::NewOrder};
use kukka_storage::{redis_conn, sled_store::SledStore};
use serde_json::json;
use tokio::sync::watch;
use warp::{
    http::{header, HeaderValue, StatusCode},
    reply::Response,
    Filter, Rejection, Reply,
};

use crate::BenchError;
use persist::Backend;

/// Flags of `kukka-baseline`.
#[derive(Clone, Debug, clap::Parser)]
#[command(name = "kukka-baseline", version)]
pub struct BaselineArgs {
    /// Address to serve HTTP on.
    #[arg(long, default_value = "127.0.0.1:8099")]
    pub addr: SocketAddr,
    /// Where the sled database lives.
    #[arg(long, default_value = "./.kukka-baseline")]
    pub data_dir: PathBuf,
    /// Redis URL.
    #[arg(long, default_value = "redis://127.0.0.1:6379")]
    pub redis_url: String,
    /// Largest request body, bytes.
    #[arg(long, default_value_t = 64 * 1024)]
    pub body_limit: u64,
    /// How rows are stored.
    #[arg(long, value_enum, default_value_t = Storage::Plain)]
    pub storage: Storage,
}

/// How the baseline stores an order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Storage {
    /// Plain sled inserts, group-commit flushes, `XADD` before answering.
    Plain,
    /// The cluster's storage layer (`AggregateRepo::insert` through the
    /// committer: rows of concurrent requests in one sled transaction with
    /// their outbox entries, one flush for many) and a relay task like the
    /// cluster's (publishes what is durable, removes key by key).
    Outbox,
}

/// Serves until `shutdown` completes, then flushes sled.
pub async fn run(
    args: BaselineArgs,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), BenchError> {
    std::fs::create_dir_all(&args.data_dir)
        .map_err(|e| BenchError::io(format!("cannot create {}", args.data_dir.display()), e))?;
    let store = SledStore::open(&args.data_dir)?;
    let redis = redis_conn::connect(&args.redis_url, Duration::from_secs(2)).await?;
    let (stop_relay, relay_stopped) = watch::channel(false);
    let (backend, relay_task) = Backend::open(args.storage, &store, &redis, relay_stopped)?;
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .map_err(|e| BenchError::io(format!("cannot listen on {}", args.addr), e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| BenchError::io("no local address", e))?;
    println!("kukka-baseline listening on http://{addr}");
    let with_backend = warp::any().map(move || backend.clone());
    let place = warp::path!("orders")
        .and(warp::post())
        .and(warp::body::content_length_limit(args.body_limit))
        .and(warp::body::bytes())
        .and(with_backend)
        .then(|body: bytes::Bytes, backend: Backend| async move { place(&backend, &body).await });
    let ready = warp::path!("readyz").and(warp::get()).then(move || {
        let mut conn = redis.clone();
        async move {
            let code = if redis_conn::ping(&mut conn).await {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            warp::reply::with_status("", code).into_response()
        }
    });
    let health = warp::path!("healthz")
        .and(warp::get())
        .map(|| warp::reply().into_response());
    let routes = place
        .or(ready)
        .unify()
        .or(health)
        .unify()
        .recover(recover)
        .unify();
    warp::serve(routes)
        .incoming(listener)
        .graceful(shutdown)
        .run()
        .await;
    let _ = stop_relay.send(true);
    if let Some(t) = relay_task {
        let _ = t.await;
    }
    store.flush_blocking()?;
    Ok(())
}

async fn place(backend: &Backend, body: &[u8]) -> Response {
    let value = match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(v) => v,
        Err(e) => return error(StatusCode::BAD_REQUEST, "malformedJson", &e.to_string()),
    };
    let new = match NewOrder::parse(&value, &Catalog::builtin()) {
        Ok(o) => o,
        Err(e) => return error(StatusCode::BAD_REQUEST, "invalid", &e.to_string()),
    };
    match backend.persist(new).await {
        Ok(order) => {
            let location = format!("/orders/{}", order.id);
            let mut resp = warp::reply::with_status(warp::reply::json(&order), StatusCode::CREATED)
                .into_response();
            if let Ok(v) = HeaderValue::from_str(&location) {
                resp.headers_mut().insert(header::LOCATION, v);
            }
            resp
        }
        Err(BenchError::Redis(e)) => {
            let mut resp = error(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                &e.to_string(),
            );
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            resp
        }
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            &e.to_string(),
        ),
    }
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = json!({"error": {"code": code, "message": message}});
    warp::reply::with_status(warp::reply::json(&body), status).into_response()
}

async fn recover(r: Rejection) -> Result<Response, Infallible> {
    let (status, code) = if r.is_not_found() {
        (StatusCode::NOT_FOUND, "notFound")
    } else if r.find::<warp::reject::PayloadTooLarge>().is_some() {
        (StatusCode::PAYLOAD_TOO_LARGE, "payloadTooLarge")
    } else if r.find::<warp::reject::MethodNotAllowed>().is_some() {
        (StatusCode::METHOD_NOT_ALLOWED, "methodNotAllowed")
    } else {
        (StatusCode::BAD_REQUEST, "badRequest")
    };
    Ok(error(status, code, code))
}
