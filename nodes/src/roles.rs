//! What each role runs: its long-lived actors (as supervisor child specs),
//! its readiness checks, and what must be flushed on the way out.
//!
//! A role is built from a [`NodeContext`]: the node's flags, its
//! [`Namespace`] (process-group scope and actor-name prefix), and the
//! per-node objects its actors share. `kukka node` builds one role per
//! process; the in-process system ([`crate::in_process`]) builds every role
//! in one process, each with its own namespace in a shared scope.

pub mod delivery;
pub mod edge;
pub mod order;
pub mod payment;

use std::sync::{
    atomic::{AtomicBool, Ordering},
    Arc,
};

use kukka_actors::runtime::{
    consumer::{ConsumerArgs, ConsumerConfig, EventHandler, StreamConsumer},
    drain::Drain,
    faults::Faults,
    groups::Namespace,
    supervisor::{child, ChildSpec},
};
use kukka_http_edge::{routes::health::ReadyCheck, EdgeState};
use kukka_storage::{bus::Partitions, sled_store::SledStore};

use crate::cli::{NodeArgs, Role};

/// One node: its flags and the objects its actors share.
#[derive(Clone, Debug)]
pub struct NodeContext {
    /// The node's flags.
    pub args: NodeArgs,
    /// Where its actors are registered and its peers found.
    pub ns: Namespace,
    /// Its requests in flight (service actors refuse new ones once
    /// draining).
    pub drain: Arc<Drain>,
    /// Its test faults.
    pub faults: Arc<Faults>,
    /// Set when the node starts shutting down: `/readyz` answers 503.
    pub stopping: Arc<AtomicBool>,
    /// The event stream's partitions.
    pub partitions: Partitions,
}

impl NodeContext {
    /// A node of the system whose process groups are in `scope`.
    pub fn new(args: NodeArgs, scope: &str) -> anyhow::Result<Self> {
        let faults = if args.enable_test_faults {
            Faults::enabled()
        } else {
            Faults::disabled()
        };
        Ok(Self {
            partitions: args.redis.partitions()?,
            ns: Namespace::new(scope, &args.instance()),
            drain: Drain::with_limit(usize::try_from(args.max_in_flight).unwrap_or(usize::MAX)),
            args,
            faults,
            stopping: Arc::new(AtomicBool::new(false)),
        })
    }
}

/// A role, built and ready to be supervised.
pub struct RoleRuntime {
    /// Actors the root supervisor keeps alive, in start order.
    pub children: Vec<ChildSpec>,
    /// What the node serves over HTTP.
    pub http: HttpSurface,
    /// The sled store to flush at shutdown (order and payment).
    pub store: Option<SledStore>,
    /// Short names of the actors that serve cluster requests (they leave
    /// their process groups when the node drains).
    pub services: &'static [&'static str],
}

/// What a node serves over HTTP.
pub enum HttpSurface {
    /// `/healthz`, `/readyz` (with this probe) and `/metrics` on the admin
    /// address.
    Admin(ReadyCheck),
    /// The public API on the HTTP address, and the probes on the admin
    /// address.
    Public(EdgeState),
}

/// Builds the runtime of the node's role.
pub async fn build(node: &NodeContext) -> anyhow::Result<RoleRuntime> {
    match node.args.role {
        Role::Order => order::build(node),
        Role::Payment => payment::build(node),
        Role::Delivery => delivery::build(node).await,
        Role::Edge => edge::build(node).await,
    }
}

/// A readiness probe that only reports whether the node is accepting work.
pub fn accepting(stopping: Arc<AtomicBool>) -> ReadyCheck {
    Arc::new(move || {
        let ok = !stopping.load(Ordering::SeqCst);
        Box::pin(async move { [("accepting", ok)].into_iter().collect() })
    })
}

/// A supervised consumer of the event stream in consumer group `group`,
/// named after this instance.
pub fn consumer<H: EventHandler>(
    node: &NodeContext,
    short: &str,
    handler: Arc<H>,
    group: &str,
) -> ChildSpec {
    let redis_url = node.args.redis.redis_url.clone();
    let group = group.to_string();
    let instance = node.args.instance();
    let partitions = node.partitions;
    let config = ConsumerConfig {
        retry: node.args.retry_policy(),
        ..ConsumerConfig::default()
    };
    child(&node.ns, short, move || {
        (
            StreamConsumer::default(),
            ConsumerArgs {
                handler: handler.clone(),
                redis_url: redis_url.clone(),
                group: group.clone(),
                consumer: instance.clone(),
                partitions,
                config,
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
