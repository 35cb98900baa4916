//! What every handler shares.

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::Duration,
};

use kukka_actors::runtime::groups::Namespace;
use kukka_storage::bus::Partitions;
use kukka_storage::redis_conn::RedisConn;

/// Edge settings.
#[derive(Clone, Debug)]
pub struct EdgeSettings {
    /// The shop owner's token (`None`: nobody is the owner; owner routes
    /// answer 401 without a token and 403 with any).
    pub owner_token: Option<String>,
    /// Largest accepted request body.
    pub body_limit: u64,
    /// Deadline of a call to a service actor (placing an order includes the
    /// payment call, so this must exceed the payment timeout).
    pub call_timeout: Duration,
}

impl Default for EdgeSettings {
    fn default() -> Self {
        Self {
            owner_token: None,
            body_limit: 64 * 1024,
            call_timeout: Duration::from_secs(5),
        }
    }
}

/// Shared handler state.
#[derive(Clone)]
pub struct EdgeState {
    /// Token, limits and deadlines.
    pub settings: Arc<EdgeSettings>,
    /// Redis, for the views.
    pub redis: RedisConn,
    /// Where the service actors are found.
    pub ns: Namespace,
    /// The event stream's partitions (they name the view keys).
    pub partitions: Partitions,
    draining: Arc<AtomicBool>,
}

impl std::fmt::Debug for EdgeState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EdgeState")
            .field("settings", &self.settings)
            .finish()
    }
}

impl EdgeState {
    /// New state.
    pub fn new(
        settings: EdgeSettings,
        redis: RedisConn,
        ns: Namespace,
        partitions: Partitions,
    ) -> Self {
        Self {
            settings: Arc::new(settings),
            redis,
            ns,
            partitions,
            draining: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Marks the edge as shutting down: `/readyz` answers 503 from now on.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    /// Whether the edge is shutting down.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }
}
