//! What every handler shares.

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::Duration,
};

use redis::aio::ConnectionManager;

/// Edge settings.
#[derive(Clone, Debug)]
pub struct EdgeSettings {
    /// The shop owner's token (`None`: owner routes always answer 401).
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
    /// Settings.
    pub settings: Arc<EdgeSettings>,
    /// Redis, for the views.
    pub redis: ConnectionManager,
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
    pub fn new(settings: EdgeSettings, redis: ConnectionManager) -> Self {
        Self {
            settings: Arc::new(settings),
            redis,
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
