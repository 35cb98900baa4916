//! # kukka-http-edge
//!
//! The HTTP edge: the only part of kukka clients talk to. It turns requests
//! into domain types once (parse, don't validate), routes them to the service
//! actors over the cluster (`kukka_actors::protocol`), reads the Redis-held
//! views directly, and maps every outcome to the HTTP contract of
//! `DESIGN.md` in one table ([`error`]).
//!
//! Layout:
//! - [`state`]: what handlers share ([`EdgeState`]) and its settings.
//! - [`error`]: [`ApiError`], the one table from errors to statuses and
//!   stable error codes, and the rejection handler.
//! - [`body`]: reading JSON bodies (type, size, syntax).
//! - [`correlation`]: the `X-Correlation-Id` of every request.
//! - [`pagination`]: `?limit=&cursor=` parsing and the shard-merging list.
//! - [`respond`]: JSON responses with the correlation header.
//! - [`routes`]: one module per route group (orders, payments, deliveries,
//!   views, health) and [`routes::api`] combining them.
//! - [`server`]: binding and serving with graceful shutdown.

pub mod body;
pub mod correlation;
pub mod error;
pub mod pagination;
pub mod respond;
pub mod routes;
pub mod server;
pub mod state;

pub use error::ApiError;
pub use state::{EdgeSettings, EdgeState};
