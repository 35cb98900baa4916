//! What every handler shares.

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::Duration,
};

use kukka_actors::{order::catalog::Catalog, runtime::groups::Namespace};
use kukka_storage::bus::Partitions;
use kukka_storage::redis_conn::RedisConn;

use crate::auth::{limiter::FailureLimiter, token::TokenKeys};

/// Edge settings. Its `Debug` leaves the secrets out.
#[derive(Clone)]
pub struct EdgeSettings {
    /// The shop owner's token (`None`: nobody is the owner; owner routes
    /// answer 401 without a token and 403 with any).
    pub owner_token: Option<String>,
    /// The secret customer tokens are signed with (`None`: a random one of
    /// this process, so tokens die with it; only for tests and loopback).
    pub token_secret: Option<String>,
    /// A previous token secret, still accepted.
    pub token_secret_previous: Option<String>,
    /// The boxes for sale and their prices.
    pub catalog: Catalog,
    /// How many order shards the cluster is configured with: an
    /// `Idempotency-Key` is routed to one of them.
    pub order_shards: u32,
    /// Failed token attempts a client may make in a minute before it is
    /// refused (`429`).
    pub auth_max_failures: u32,
    /// A header a trusted proxy sets to the client's address (e.g.
    /// `x-forwarded-for`), for counting failed attempts per client.
    pub client_ip_header: Option<String>,
    /// Largest accepted request body.
    pub body_limit: u64,
    /// Deadline of a call to a service actor (placing an order includes the
    /// payment call, so this must exceed the payment timeout).
    pub call_timeout: Duration,
}

impl std::fmt::Debug for EdgeSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let set = |s: &Option<String>| if s.is_some() { "(set)" } else { "(none)" };
        f.debug_struct("EdgeSettings")
            .field("owner_token", &set(&self.owner_token))
            .field("token_secret", &set(&self.token_secret))
            .field("token_secret_previous", &set(&self.token_secret_previous))
            .field("catalog", &self.catalog.names())
            .field("order_shards", &self.order_shards)
            .field("auth_max_failures", &self.auth_max_failures)
            .field("client_ip_header", &self.client_ip_header)
            .field("body_limit", &self.body_limit)
            .field("call_timeout", &self.call_timeout)
            .finish()
    }
}

impl Default for EdgeSettings {
    fn default() -> Self {
        Self {
            owner_token: None,
            token_secret: None,
            token_secret_previous: None,
            catalog: Catalog::builtin(),
            order_shards: 1,
            auth_max_failures: 10,
            client_ip_header: None,
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
    /// Making and checking customer tokens.
    pub tokens: Arc<TokenKeys>,
    /// Failed token attempts per client.
    pub limiter: Arc<FailureLimiter>,
    /// The event stream's partitions (they name the view keys).
    pub partitions: Partitions,
    draining: Arc<AtomicBool>,
}

impl std::fmt::Debug for EdgeState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EdgeState").finish_non_exhaustive()
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
        let tokens = match &settings.token_secret {
            Some(secret) => TokenKeys::new(
                secret.as_bytes(),
                settings.token_secret_previous.as_deref().map(str::as_bytes),
            ),
            None => TokenKeys::ephemeral(),
        };
        let limiter = FailureLimiter::new(settings.auth_max_failures, Duration::from_secs(60));
        Self {
            settings: Arc::new(settings),
            redis,
            ns,
            tokens: Arc::new(tokens),
            limiter: Arc::new(limiter),
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
