//! # kukka-http-edge
//!
//! The HTTP edge: the only part of kukka clients talk to. It turns requests
//! into domain types once (parse, don't validate), routes them to the service
//! actors over the cluster (`kukka_actors::runtime::rpc`), reads the Redis-held
//! views directly, and maps every outcome to the HTTP contract of
//! `DESIGN.md` in one table ([`error`]). It also serves the web pages for
//! customers (`/`), the shop owner (`/owner`) and operators (`/status`,
//! fed by `GET /status.json`), embedded in the binary.
//!
//! Layout:
//! - [`state`]: what handlers share ([`EdgeState`]) and its settings.
//! - [`auth`]: who is calling (owner token, customer tokens signed with
//!   the edge's secret, anonymous), what each route admits, and the limit
//!   on failed token attempts.
//! - [`error`]: [`ApiError`], the one table from errors to statuses,
//!   stable error codes and the messages clients see (never the text of
//!   an internal error), and the rejection handler.
//! - [`body`]: reading JSON bodies (type, size, syntax).
//! - [`correlation`]: the correlation id of every request
//!   (`X-Correlation-Id`, else a W3C `traceparent`'s trace id) and the
//!   `traceparent` that travels with the request's events.
//! - [`pagination`]: `?limit=&cursor=` parsing and the shard-merging list.
//! - [`respond`]: JSON responses with the correlation header.
//! - [`routes`]: one module per route group (catalog, orders, payments,
//!   deliveries, views, status, pages, the OpenAPI description) and
//!   [`routes::api`] combining them; `health` holds the probes and
//!   `/metrics`, served on the admin port only.
//! - [`traffic`]: what is recorded about every answered request: the
//!   request metrics (method, route template, status, duration), the
//!   access log, and the status page's totals.
//! - [`server`]: binding and serving on hyper with the node's HTTP limits
//!   (header, idle and body timeouts, connection and in-flight caps,
//!   lingering close) and graceful shutdown.

pub mod auth;
pub mod body;
pub mod correlation;
pub mod error;
pub mod pagination;
pub mod respond;
pub mod routes;
pub mod server;
pub mod state;
pub mod traffic;

pub use error::ApiError;
pub use state::{EdgeSettings, EdgeState};
