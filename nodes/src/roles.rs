//! What each role runs: its long-lived actors (as supervisor child specs),
//! its readiness checks, and what must be flushed on the way out.

pub mod delivery;
pub mod edge;
pub mod order;
pub mod payment;

use std::sync::{
    atomic::{AtomicBool, Ordering},
    Arc,
};

use kukka_actors::{
    consumer::{ConsumerArgs, ConsumerConfig, EventHandler, StreamConsumer},
    supervisor::{child, ChildSpec},
};
use kukka_http_edge::{routes::health::ReadyCheck, EdgeState};
use kukka_storage::sled_store::SledStore;

use crate::cli::{NodeArgs, Role};

/// A role, built and ready to be supervised.
pub struct RoleRuntime {
    /// Actors the root supervisor keeps alive, in start order.
    pub children: Vec<ChildSpec>,
    /// What the node serves over HTTP.
    pub http: HttpSurface,
    /// The sled store to flush at shutdown (order and payment).
    pub store: Option<SledStore>,
}

/// What a node serves over HTTP.
pub enum HttpSurface {
    /// `/healthz`, `/readyz` (with this probe) and `/metrics` on the admin
    /// address.
    Admin(ReadyCheck),
    /// The public API (which includes the probes) on the HTTP address.
    Public(EdgeState),
}

/// Builds the runtime of `args.role`.
pub async fn build(args: &NodeArgs, draining: Arc<AtomicBool>) -> anyhow::Result<RoleRuntime> {
    match args.role {
        Role::Order => order::build(args, draining),
        Role::Payment => payment::build(args, draining),
        Role::Delivery => delivery::build(args, draining).await,
        Role::Edge => edge::build(args).await,
    }
}

/// A readiness probe that only reports whether the node is accepting work.
pub fn accepting(draining: Arc<AtomicBool>) -> ReadyCheck {
    Arc::new(move || {
        let ok = !draining.load(Ordering::SeqCst);
        Box::pin(async move { [("accepting", ok)].into_iter().collect() })
    })
}

/// A supervised consumer of the event stream in consumer group `group`,
/// named after this instance.
pub fn consumer<H: EventHandler>(
    name: &str,
    handler: Arc<H>,
    group: &str,
    args: &NodeArgs,
) -> ChildSpec {
    let redis_url = args.redis_url.clone();
    let group = group.to_string();
    let instance = args.instance();
    child(name, move || {
        (
            StreamConsumer::default(),
            ConsumerArgs {
                handler: handler.clone(),
                redis_url: redis_url.clone(),
                group: group.clone(),
                consumer: instance.clone(),
                config: ConsumerConfig::default(),
            },
        )
    })
}

/// Opens the sled store under the node's data directory.
pub fn open_store(args: &NodeArgs) -> anyhow::Result<SledStore> {
    let dir = args.data_dir.join("sled");
    std::fs::create_dir_all(&dir)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
    SledStore::open(&dir).map_err(|e| anyhow::anyhow!("cannot open sled at {}: {e}", dir.display()))
}
