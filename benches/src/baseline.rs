//! `kukka-baseline`: the same durable work as the cluster's `POST /orders`,
//! in one process with no actors and no cluster: what this machine can do
//! when nothing but the essential work is done.
//!
//! Per order it
//! 1. parses and validates the body with the domain's
//!    [`NewOrder::parse`](kukka_actors::domain::new_order::NewOrder::parse),
//! 2. writes the payment row and waits for it to be durable (sled, group
//!    commit through [`SledStore::flush`]),
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
//! With `--storage outbox` it instead stores both rows through the
//! cluster's own storage layer ([`AggregateRepo::insert`]: one sled
//! transaction per row with its event staged in the outbox, then a group
//! commit), answers, and lets a relay task move the outbox to the stream,
//! as the order and payment nodes do. Comparing the two modes separates the
//! cost of the storage layer from the cost of actors and the cluster.

use std::{
    convert::Infallible, future::Future, net::SocketAddr, path::PathBuf, sync::Arc, time::Duration,
};

use kukka_actors::{
    domain::{new_order::NewOrder, order::Order, payment::Payment},
    events::{Envelope, EventBody},
};
use kukka_storage::{
    aggregate_repo::{AggregateRepo, Inserted},
    bus, outbox, redis_conn,
    sled_store::{encode, SledStore},
};
use redis::aio::ConnectionManager;
use serde_json::json;
use tokio::sync::{watch, Notify};
use warp::{
    http::{header, HeaderValue, StatusCode},
    reply::Response,
    Filter, Rejection, Reply,
};

use crate::BenchError;

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
    /// The cluster's storage layer: a transaction with the outbox per row,
    /// group commit, and a relay task that publishes the outbox.
    Outbox,
}

#[derive(Clone)]
struct Repos {
    payments: AggregateRepo<Payment>,
    orders: AggregateRepo<Order>,
    relay: Arc<Notify>,
}

#[derive(Clone)]
struct State {
    store: SledStore,
    orders: sled::Tree,
    payments: sled::Tree,
    redis: ConnectionManager,
    repos: Option<Repos>,
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
    let mut relay_task = None;
    let repos = match args.storage {
        Storage::Plain => None,
        Storage::Outbox => {
            let repos = Repos {
                payments: AggregateRepo::open(&store, "repo.payments")?,
                orders: AggregateRepo::open(&store, "repo.orders")?,
                relay: Arc::new(Notify::new()),
            };
            relay_task = Some(tokio::spawn(relay(
                repos.orders.outbox().clone(),
                redis.clone(),
                repos.relay.clone(),
                relay_stopped,
            )));
            Some(repos)
        }
    };
    let state = State {
        orders: store.tree("orders")?,
        payments: store.tree("payments")?,
        redis,
        store: store.clone(),
        repos,
    };
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .map_err(|e| BenchError::io(format!("cannot listen on {}", args.addr), e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| BenchError::io("no local address", e))?;
    println!("kukka-baseline listening on http://{addr}");
    let with_state = warp::any().map(move || state.clone());
    let place = warp::path!("orders")
        .and(warp::post())
        .and(warp::body::content_length_limit(args.body_limit))
        .and(warp::body::bytes())
        .and(with_state.clone())
        .then(|body: bytes::Bytes, state: State| async move { place(state, &body).await });
    let ready =
        warp::path!("readyz")
            .and(warp::get())
            .and(with_state)
            .then(|state: State| async move {
                let mut conn = state.redis.clone();
                let code = if redis_conn::ping(&mut conn).await {
                    StatusCode::OK
                } else {
                    StatusCode::SERVICE_UNAVAILABLE
                };
                warp::reply::with_status("", code).into_response()
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

/// Moves staged events from the outbox to the stream, oldest first, as the
/// cluster's relay actor does: on a kick after each commit, and every 500 ms.
async fn relay(
    tree: sled::Tree,
    mut redis: ConnectionManager,
    kick: Arc<Notify>,
    mut stop: watch::Receiver<bool>,
) {
    const BATCH: usize = 512;
    while !*stop.borrow() {
        tokio::select! {
            _ = kick.notified() => {}
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            _ = stop.changed() => {}
        }
        // Bounded: at most this many batches per wake-up.
        for _ in 0..1024 {
            let batch = match outbox::pending(&tree, BATCH) {
                Ok(b) if !b.is_empty() => b,
                _ => break,
            };
            let events: Vec<_> = batch.iter().map(|(_, e)| e.clone()).collect();
            if bus::publish(&mut redis, bus::EVENTS_STREAM, &events)
                .await
                .is_err()
            {
                break;
            }
            let keys: Vec<_> = batch.into_iter().map(|(k, _)| k).collect();
            if outbox::remove(&tree, &keys).is_err() {
                break;
            }
        }
    }
}

async fn place(state: State, body: &[u8]) -> Response {
    let value = match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(v) => v,
        Err(e) => return error(StatusCode::BAD_REQUEST, "malformedJson", &e.to_string()),
    };
    let new = match NewOrder::parse(&value) {
        Ok(o) => o,
        Err(e) => return error(StatusCode::BAD_REQUEST, "invalid", &e.to_string()),
    };
    match persist(&state, new).await {
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

async fn persist(state: &State, new: NewOrder) -> Result<Order, BenchError> {
    if let Some(repos) = &state.repos {
        return persist_with_outbox(repos, new).await;
    }
    let seq = state.store.next_id()?;
    let order_id = format!("0-{seq}");
    let payment_id = format!("pay-0-{seq}");
    let correlation_id = format!("baseline-{seq}");
    let now = kukka_actors::clock::now();
    let payment = Payment::confirmed(payment_id.clone(), order_id.clone(), new.price, &now);
    state
        .payments
        .insert(order_id.as_bytes(), encode(&payment))
        .map_err(kukka_storage::StorageError::from)?;
    state.store.flush().await?;
    let order = Order::placed(order_id.clone(), new, payment_id.clone(), &now);
    state
        .orders
        .insert(seq.to_be_bytes(), encode(&order))
        .map_err(kukka_storage::StorageError::from)?;
    state.store.flush().await?;
    let events = [
        Envelope::new(
            &correlation_id,
            &order_id,
            EventBody::PaymentConfirmed {
                payment_id,
                amount: payment.amount,
            },
        )
        .to_stream_event(),
        Envelope::new(&correlation_id, &order_id, EventBody::order_placed(&order))
            .to_stream_event(),
    ];
    let mut conn = state.redis.clone();
    match bus::publish(&mut conn, bus::EVENTS_STREAM, &events).await {
        Ok(()) => Ok(order),
        Err(kukka_storage::StorageError::Redis(e)) => Err(BenchError::Redis(e)),
        Err(e) => Err(e.into()),
    }
}

async fn persist_with_outbox(repos: &Repos, new: NewOrder) -> Result<Order, BenchError> {
    let seq = repos.payments.next_seq()?;
    let order_id = format!("0-{seq}");
    let payment_id = format!("pay-0-{seq}");
    let correlation_id = format!("baseline-{seq}");
    let now = kukka_actors::clock::now();
    let payment = Payment::confirmed(payment_id.clone(), order_id.clone(), new.price, &now);
    let confirmed = Envelope::new(
        &correlation_id,
        &order_id,
        EventBody::PaymentConfirmed {
            payment_id: payment_id.clone(),
            amount: payment.amount,
        },
    );
    let first = repos
        .payments
        .insert(
            seq,
            Some(&order_id),
            &payment,
            &[confirmed.to_stream_event()],
        )
        .await?;
    if !matches!(first, Inserted::New) {
        return Err(BenchError::Storage(kukka_storage::StorageError::Conflict(
            format!("order {order_id} was paid already"),
        )));
    }
    repos.relay.notify_one();
    let order = Order::placed(order_id.clone(), new, payment_id, &now);
    let placed = Envelope::new(&correlation_id, &order_id, EventBody::order_placed(&order));
    repos
        .orders
        .insert(seq, None, &order, &[placed.to_stream_event()])
        .await?;
    repos.relay.notify_one();
    Ok(order)
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
