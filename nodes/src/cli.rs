//! Command-line flags. Every flag can also be set with the `KUKKA_*`
//! environment variable named in `--help`, so a Kubernetes ConfigMap or
//! Secret configures a node without changing its command line.

use std::{net::SocketAddr, path::PathBuf};

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::telemetry::LogFormat;

/// The cookie used when none is configured. Fine on one machine; `kukka node`
/// refuses it when the cluster is reachable from other hosts.
pub const DEFAULT_COOKIE: &str = "kukka-local-cookie";

/// kukka: a flower-subscription shop as a cluster of actor services.
#[derive(Debug, Parser)]
#[command(name = "kukka", version)]
pub struct Cli {
    /// What to run.
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// The log format the chosen command asked for.
    pub fn log_format(&self) -> LogFormat {
        match &self.command {
            Command::Node(a) => a.log_format,
            Command::Up(a) => a.log_format,
            Command::Views(_)
            | Command::Status(_)
            | Command::UpChild(_)
            | Command::Cluster(_)
            | Command::Events(_) => LogFormat::Text,
        }
    }
}

/// What `kukka` can run.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run one node of the cluster.
    Node(Box<NodeArgs>),
    /// Run the whole system locally: Redis and one process per role.
    Up(UpArgs),
    /// Show the children of a `kukka up`: pid, alive, health, restarts.
    Status(StatusArgs),
    /// How `kukka up` starts each child (internal; see `up::child`).
    #[command(hide = true)]
    UpChild(UpChildArgs),
    /// Maintain the read models.
    #[command(subcommand)]
    Views(crate::views::ViewsCommand),
    /// The event streams' dead letters: list them, deliver them again.
    #[command(subcommand)]
    Events(crate::events::EventsCommand),
    /// Cluster credentials: certificates for the nodes.
    #[command(subcommand)]
    Cluster(crate::cluster_cmd::ClusterCommand),
}

/// A node's role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Role {
    /// The HTTP edge.
    Edge,
    /// Orders (sled).
    Order,
    /// Payments (sled).
    Payment,
    /// Deliveries and read models (Redis).
    Delivery,
}

impl Role {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        self.role().as_str()
    }

    /// The role as the actors know it.
    pub fn role(self) -> kukka_actors::runtime::role::Role {
        use kukka_actors::runtime::role::Role as R;
        match self {
            Self::Edge => R::Edge,
            Self::Order => R::Order,
            Self::Payment => R::Payment,
            Self::Delivery => R::Delivery,
        }
    }
}

/// Flags of `kukka node`.
#[derive(Clone, Debug, Args)]
pub struct NodeArgs {
    /// The role this node plays.
    #[arg(long, env = "KUKKA_ROLE", value_enum)]
    pub role: Role,
    /// Cluster requests (place, charge, cancel, reads...) this node's
    /// service actors serve at once, whatever number of edges send them.
    /// More are answered "unavailable, retry" at once (the edge turns that
    /// into `503` with `Retry-After`) and counted in
    /// `kukka_cluster_requests_refused_total`.
    #[arg(long, env = "KUKKA_MAX_IN_FLIGHT", default_value_t = kukka_actors::runtime::drain::DEFAULT_MAX_IN_FLIGHT as u64, value_parser = positive())]
    pub max_in_flight: u64,
    /// Shard number of an order or payment node (part of every id it makes).
    #[arg(long, env = "KUKKA_SHARD", default_value_t = 0)]
    pub shard: u32,
    /// Take the shard number from the instance name's trailing `-N` (a
    /// StatefulSet pod `order-2` is shard 2).
    #[arg(long, env = "KUKKA_SHARD_FROM_INSTANCE", default_value_t = false)]
    pub shard_from_instance: bool,
    /// Stable name of this instance (its stream consumer name); defaults to
    /// `<role>-<shard>`.
    #[arg(long, env = "KUKKA_INSTANCE")]
    pub instance: Option<String>,
    /// Address the cluster listener binds to.
    #[arg(long, env = "KUKKA_CLUSTER_BIND", default_value = "0.0.0.0")]
    pub cluster_bind: std::net::IpAddr,
    /// Cluster port (0: any free port).
    #[arg(long, env = "KUKKA_CLUSTER_PORT", default_value_t = 4697)]
    pub cluster_port: u16,
    /// Host name other nodes reach this node by.
    #[arg(long, env = "KUKKA_CLUSTER_HOST", default_value = "localhost")]
    pub cluster_host: String,
    /// Cluster nodes to connect to (`host:port`, comma-separated).
    #[arg(long, env = "KUKKA_SEEDS", value_delimiter = ',')]
    pub seed: Vec<String>,
    /// Shared secret of the cluster (from a Secret in Kubernetes).
    #[arg(
        long,
        env = "KUKKA_COOKIE",
        default_value = DEFAULT_COOKIE,
        hide_default_value = true,
        hide_env_values = true
    )]
    pub cookie: String,
    /// Directory with this node's cluster TLS files: `ca.crt` (the
    /// cluster's CA), `tls.crt` and `tls.key` (this node's certificate, which
    /// names its role, and key). With it, nodes talk over mutual TLS and
    /// each node accepts from a peer only what the peer's role may send.
    /// Required unless the cluster listener is on loopback. `kukka up`
    /// makes them; `kukka cluster certs` makes a set for Kubernetes.
    #[arg(long, env = "KUKKA_CLUSTER_TLS_DIR")]
    pub cluster_tls_dir: Option<PathBuf>,
    /// Admin HTTP address (`/healthz`, `/readyz`, `/metrics`; every role.
    /// The edge serves them here only, never on its public address; its
    /// `/readyz?scope=cluster` also requires every role to be joined).
    #[arg(long, env = "KUKKA_ADMIN_ADDR", default_value = "0.0.0.0:9090")]
    pub admin_addr: SocketAddr,
    /// Public HTTP address of an edge.
    #[arg(long, env = "KUKKA_HTTP_ADDR", default_value = "0.0.0.0:8088")]
    pub http_addr: SocketAddr,
    /// Where Redis is, and the event stream's partitions.
    #[command(flatten)]
    pub redis: RedisArgs,
    /// Replicas of its Redis master a write that must survive a Redis
    /// Cluster failover (an event leaving the outbox, the owner's delivery
    /// change) must reach before it counts as done (`WAIT`); 0: the master
    /// alone (one Redis with its append-only file).
    #[arg(long, env = "KUKKA_REDIS_WAIT_REPLICAS", default_value_t = 0)]
    pub redis_wait_replicas: u32,
    /// How long to wait for those replicas, in milliseconds.
    #[arg(long, env = "KUKKA_REDIS_WAIT_MS", default_value_t = 1000)]
    pub redis_wait_ms: u64,
    /// Event streams keep what every consumer group has applied at least
    /// this long, in seconds; older entries are trimmed (by the delivery
    /// nodes), and so are dead letters nobody redrove. What some group has
    /// not acknowledged yet is never trimmed.
    #[arg(long, env = "KUKKA_EVENTS_RETENTION_SECS", default_value_t = 7 * 24 * 3600)]
    pub events_retention_secs: u64,
    /// How often a delivery node trims the streams, in milliseconds.
    #[arg(long, env = "KUKKA_EVENTS_TRIM_EVERY_MS", default_value_t = 60_000, value_parser = positive())]
    pub events_trim_every_ms: u64,
    /// A consumer retries an event that failed for a passing reason after
    /// this long (ms), doubling the wait after each failure...
    #[arg(long, env = "KUKKA_EVENTS_RETRY_FIRST_MS", default_value_t = 250, value_parser = positive())]
    pub events_retry_first_ms: u64,
    /// ...up to this long (ms; keep it under 30 s, after which another
    /// member of the group would take the event over)...
    #[arg(long, env = "KUKKA_EVENTS_RETRY_MAX_MS", default_value_t = 20_000, value_parser = positive())]
    pub events_retry_max_ms: u64,
    /// ...until the waits add up to this many seconds: then the event goes
    /// to the dead letters (`kukka events dead-letters`, `kukka events
    /// redrive`). An event that can never apply (undecodable, unknown,
    /// invalid) goes there at once.
    #[arg(long, env = "KUKKA_EVENTS_RETRY_TOTAL_SECS", default_value_t = 15 * 60)]
    pub events_retry_total_secs: u64,
    /// Where an order or payment node keeps its sled database.
    #[arg(long, env = "KUKKA_DATA_DIR", default_value = "./.kukka/data")]
    pub data_dir: PathBuf,
    /// The shop owner's bearer token: it may do everything (an edge
    /// reachable from other hosts needs at least 32 characters).
    #[arg(long, env = "KUKKA_OWNER_TOKEN", hide_env_values = true)]
    pub owner_token: Option<String>,
    /// Edge: the secret customer tokens are signed with, the same on every
    /// edge (at least 32 characters; from a Secret in Kubernetes). Without
    /// it an edge on loopback makes one up, and its tokens die with it.
    #[arg(long, env = "KUKKA_TOKEN_SECRET", hide_env_values = true)]
    pub token_secret: Option<String>,
    /// Edge: a previous token secret, still accepted (to rotate the secret
    /// without signing every customer out).
    #[arg(long, env = "KUKKA_TOKEN_SECRET_PREVIOUS", hide_env_values = true)]
    pub token_secret_previous: Option<String>,
    /// Edge: the boxes for sale and their prices, a JSON file shaped like
    /// `GET /catalog`'s answer (default: the built-in catalog of the
    /// original system's boxes).
    #[arg(long, env = "KUKKA_CATALOG")]
    pub catalog: Option<PathBuf>,
    /// How many order shards the cluster has (shards 0..N). Edges route
    /// every `Idempotency-Key` to one of them; an order node refuses to
    /// start with a shard number outside. Set it on every role.
    #[arg(long, env = "KUKKA_ORDER_SHARDS", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub order_shards: u32,
    /// Order: how long an `Idempotency-Key` is kept after its order was
    /// placed, in seconds; a retry after that places a new order.
    #[arg(long, env = "KUKKA_IDEMPOTENCY_TTL_SECS", default_value_t = 86_400, value_parser = positive())]
    pub idempotency_ttl_secs: u64,
    /// Edge: failed token attempts (a bearer token that matches nobody) a
    /// client may make in a minute; more are answered `429`.
    #[arg(long, env = "KUKKA_AUTH_MAX_FAILURES", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    pub auth_max_failures: u32,
    /// Edge: a header a trusted proxy in front sets to the client's
    /// address (e.g. `X-Forwarded-For`: its last address counts), so
    /// failed token attempts are counted per client, not per proxy. Leave
    /// it unset when clients reach the edge directly: they could forge it.
    #[arg(long, env = "KUKKA_CLIENT_IP_HEADER")]
    pub client_ip_header: Option<String>,
    /// Log format.
    #[arg(long, env = "KUKKA_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Deadline of the order node's payment call, in milliseconds.
    #[arg(long, env = "KUKKA_PAYMENT_TIMEOUT_MS", default_value_t = 300)]
    pub payment_timeout_ms: u64,
    /// Payment calls allowed in flight per order node; more are refused
    /// at once with 503.
    #[arg(long, env = "KUKKA_PAYMENT_MAX_CONCURRENT", default_value_t = 256)]
    pub payment_max_concurrent: usize,
    /// Circuit breaker: seconds of calls the failure and slow-call rates
    /// are judged over.
    #[arg(long, env = "KUKKA_BREAKER_WINDOW_SECS", default_value_t = 10)]
    pub breaker_window_secs: u64,
    /// Circuit breaker: calls in the window before rates are judged.
    #[arg(long, env = "KUKKA_BREAKER_MINIMUM_CALLS", default_value_t = 20)]
    pub breaker_minimum_calls: usize,
    /// Circuit breaker: failure percentage that opens it.
    #[arg(long, env = "KUKKA_BREAKER_FAILURE_RATE", default_value_t = 50.0)]
    pub breaker_failure_rate: f64,
    /// Circuit breaker: a successful call slower than this (ms) is slow.
    #[arg(long, env = "KUKKA_BREAKER_SLOW_CALL_MS", default_value_t = 1000)]
    pub breaker_slow_call_ms: u64,
    /// Circuit breaker: slow-call percentage that opens it.
    #[arg(long, env = "KUKKA_BREAKER_SLOW_CALL_RATE", default_value_t = 100.0)]
    pub breaker_slow_call_rate: f64,
    /// Circuit breaker: no successful call for this long (ms), with enough
    /// failures, opens it (a frozen or vanished payment node; 0: off).
    #[arg(long, env = "KUKKA_BREAKER_OUTAGE_MS", default_value_t = 2000)]
    pub breaker_outage_ms: u64,
    /// Circuit breaker: failures the outage rule needs.
    #[arg(long, env = "KUKKA_BREAKER_OUTAGE_MIN_FAILURES", default_value_t = 3)]
    pub breaker_outage_min_failures: u32,
    /// Circuit breaker: how long it stays open (ms).
    #[arg(long, env = "KUKKA_BREAKER_OPEN_MS", default_value_t = 2000)]
    pub breaker_open_ms: u64,
    /// Circuit breaker: probe calls let through while half-open.
    #[arg(long, env = "KUKKA_BREAKER_HALF_OPEN_CALLS", default_value_t = 3)]
    pub breaker_half_open_calls: usize,
    /// Fault injection on a payment node: every charge first waits a whole
    /// number of milliseconds drawn from `MIN-MAX`, `MAX` excluded (like the
    /// original's `200 + Math.random() * 110`); `N-N` always waits `N`.
    #[arg(long, env = "KUKKA_PAYMENT_INJECT_LATENCY_MS", value_parser = parse_range)]
    pub inject_latency_ms: Option<(u64, u64)>,
    /// Largest request body the edge accepts, in bytes.
    #[arg(long, env = "KUKKA_BODY_LIMIT_BYTES", default_value_t = 64 * 1024)]
    pub body_limit_bytes: u64,
    /// Deadline of the edge's calls to service actors, in milliseconds.
    #[arg(long, env = "KUKKA_CALL_TIMEOUT_MS", default_value_t = 5000)]
    pub call_timeout_ms: u64,
    /// A payment node checks a charge whose order it has not seen established
    /// after this long (ms), and voids it if the order never committed.
    #[arg(long, env = "KUKKA_RECONCILE_AFTER_MS", default_value_t = 10_000)]
    pub reconcile_after_ms: u64,
    /// Accept `POST /faults/<kind>?times=N` on the admin address (tests and
    /// experiments only).
    #[arg(long, env = "KUKKA_ENABLE_TEST_FAULTS", default_value_t = false)]
    pub enable_test_faults: bool,
    /// On SIGTERM, how long to keep serving with `/readyz` at 503 before
    /// stopping, so load balancers stop sending (Kubernetes: a few seconds).
    #[arg(long, env = "KUKKA_DRAIN_DELAY_MS", default_value_t = 0)]
    pub drain_delay_ms: u64,
    /// How long a stopping node waits for in-flight work, in milliseconds.
    #[arg(long, env = "KUKKA_SHUTDOWN_GRACE_MS", default_value_t = 10_000)]
    pub shutdown_grace_ms: u64,
    /// HTTP (every surface of every node): time a client has to send a
    /// request's head, in milliseconds, from the moment its connection opens
    /// (first request) or from the head's first byte (later requests).
    /// Slower connections are closed: a client trickling its headers cannot
    /// hold a connection for long.
    #[arg(long, env = "KUKKA_HTTP_HEADER_TIMEOUT_MS", default_value_t = 10_000, value_parser = positive())]
    pub http_header_timeout_ms: u64,
    /// HTTP: how long a kept-alive connection may wait for its next request
    /// before it is closed, in milliseconds. Keep it above the idle timeout
    /// of any load balancer in front (often 60 s), so that the balancer,
    /// not kukka, closes idle connections.
    #[arg(long, env = "KUKKA_HTTP_IDLE_TIMEOUT_MS", default_value_t = 75_000, value_parser = positive())]
    pub http_idle_timeout_ms: u64,
    /// HTTP: time a request's whole body has to arrive after its head, in
    /// milliseconds; a slower body is refused with `408`.
    #[arg(long, env = "KUKKA_HTTP_BODY_TIMEOUT_MS", default_value_t = 10_000, value_parser = positive())]
    pub http_body_timeout_ms: u64,
    /// HTTP: connections open at once on each listener. More are answered
    /// `503` with `Retry-After` and closed. Keep it below the process's
    /// open-file limit (`ulimit -n`).
    #[arg(long, env = "KUKKA_HTTP_MAX_CONNECTIONS", default_value_t = 10_000, value_parser = positive())]
    pub http_max_connections: u64,
    /// HTTP: requests in flight at once on this node. More are answered
    /// `503` (`overloaded`, with `Retry-After`) at once, without reaching
    /// the cluster; `/healthz`, `/readyz` and `/metrics` are always
    /// answered.
    #[arg(long, env = "KUKKA_HTTP_MAX_IN_FLIGHT", default_value_t = 1024, value_parser = positive())]
    pub http_max_in_flight: u64,
    /// HTTP: after answering a request whose body was not read (e.g. `413`
    /// for a body over the limit), read and discard up to this many bytes
    /// before closing, so the client reads the answer instead of a
    /// connection reset (lingering close).
    #[arg(long, env = "KUKKA_HTTP_LINGER_BYTES", default_value_t = 4 * 1024 * 1024)]
    pub http_linger_bytes: u64,
    /// HTTP: the longest a lingering close lasts, in milliseconds.
    #[arg(long, env = "KUKKA_HTTP_LINGER_MS", default_value_t = 5_000)]
    pub http_linger_ms: u64,
}

/// Accepts integers from 1.
fn positive() -> clap::builder::RangedU64ValueParser<u64> {
    clap::value_parser!(u64).range(1..)
}

impl NodeArgs {
    /// The circuit breaker's thresholds.
    pub fn breaker(&self) -> kukka_actors::order::breaker::BreakerConfig {
        kukka_actors::order::breaker::BreakerConfig {
            sliding_window: std::time::Duration::from_secs(self.breaker_window_secs.max(1)),
            minimum_number_of_calls: self.breaker_minimum_calls.max(1),
            failure_rate_threshold: self.breaker_failure_rate,
            slow_call_duration_threshold: std::time::Duration::from_millis(
                self.breaker_slow_call_ms,
            ),
            slow_call_rate_threshold: self.breaker_slow_call_rate,
            outage_after: std::time::Duration::from_millis(self.breaker_outage_ms),
            outage_min_failures: self.breaker_outage_min_failures.max(1),
            wait_duration_in_open_state: std::time::Duration::from_millis(self.breaker_open_ms),
            permitted_calls_in_half_open_state: self.breaker_half_open_calls.max(1),
        }
    }

    /// When a consumer retries a failing event and when it gives up.
    pub fn retry_policy(&self) -> kukka_actors::runtime::retry::RetryPolicy {
        use std::time::Duration;
        kukka_actors::runtime::retry::RetryPolicy {
            first: Duration::from_millis(self.events_retry_first_ms),
            max: Duration::from_millis(self.events_retry_max_ms.max(self.events_retry_first_ms)),
            total: Duration::from_secs(self.events_retry_total_secs),
        }
    }

    /// The limits of this node's HTTP servers.
    pub fn http_limits(&self) -> kukka_http_edge::server::HttpLimits {
        use std::time::Duration;
        let count = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
        kukka_http_edge::server::HttpLimits {
            header_read_timeout: Duration::from_millis(self.http_header_timeout_ms),
            idle_timeout: Duration::from_millis(self.http_idle_timeout_ms),
            body_read_timeout: Duration::from_millis(self.http_body_timeout_ms),
            max_connections: count(self.http_max_connections),
            max_in_flight: count(self.http_max_in_flight),
            linger_bytes: self.http_linger_bytes,
            linger_timeout: Duration::from_millis(self.http_linger_ms),
        }
    }

    /// How many replicas a durable Redis write must reach.
    pub fn replicated(&self) -> kukka_storage::bus::Replicated {
        kukka_storage::bus::Replicated {
            replicas: self.redis_wait_replicas,
            timeout_ms: self.redis_wait_ms,
        }
    }

    /// Resolves `--shard-from-instance`: afterwards `shard` is final.
    pub fn resolve_shard(&mut self) -> Result<(), String> {
        if self.shard_from_instance {
            let instance = self
                .instance
                .clone()
                .ok_or("--shard-from-instance needs --instance (KUKKA_INSTANCE)")?;
            self.shard = instance
                .rsplit_once('-')
                .and_then(|(_, n)| n.parse().ok())
                .ok_or_else(|| format!("instance name {instance} does not end in -<number>"))?;
        }
        Ok(())
    }

    /// The instance name.
    pub fn instance(&self) -> String {
        self.instance
            .clone()
            .unwrap_or_else(|| format!("{}-{}", self.role.as_str(), self.shard))
    }
}

fn parse_range(s: &str) -> Result<(u64, u64), String> {
    let (a, b) = s.split_once('-').unwrap_or((s, s));
    let min: u64 = a
        .trim()
        .parse()
        .map_err(|_| format!("bad range {s}: expected MIN-MAX"))?;
    let max: u64 = b
        .trim()
        .parse()
        .map_err(|_| format!("bad range {s}: expected MIN-MAX"))?;
    if min > max {
        return Err(format!("bad range {s}: MIN is above MAX"));
    }
    Ok((min, max))
}

/// Flags of `kukka up`.
#[derive(Clone, Debug, Args)]
pub struct UpArgs {
    /// Port of the (first) edge.
    #[arg(long, env = "KUKKA_EDGE_PORT", default_value_t = 8088)]
    pub edge_port: u16,
    /// Where everything is kept: `run/`, `logs/`, Redis and sled data.
    #[arg(long, env = "KUKKA_DATA_DIR", default_value = "./.kukka")]
    pub data_dir: PathBuf,
    /// Nodes of each role: order and payment run as shards 0..N, edges on
    /// consecutive ports from `--edge-port`.
    #[arg(long, env = "KUKKA_REPLICAS", default_value_t = 1)]
    pub replicas: u32,
    /// Use this Redis instead of starting a private `redis-server`.
    #[arg(long, env = "KUKKA_REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,
    /// Start a private Redis Cluster of this many masters instead of one
    /// Redis (`redis-server --cluster-enabled yes`, created with
    /// `redis-cli --cluster create`); 0: one Redis.
    #[arg(long, env = "KUKKA_REDIS_CLUSTER", default_value_t = 0)]
    pub redis_cluster: u32,
    /// Replicas of each master of `--redis-cluster` (a master that dies is
    /// replaced by its replica).
    #[arg(long, env = "KUKKA_REDIS_CLUSTER_REPLICAS", default_value_t = 0)]
    pub redis_cluster_replicas: u32,
    /// Log format (of `up` itself; children log to `logs/<role>.log`).
    #[arg(long, env = "KUKKA_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// The shop owner's token (default: `owner-secret`, printed at start).
    #[arg(long, env = "KUKKA_OWNER_TOKEN", hide_env_values = true)]
    pub owner_token: Option<String>,
    /// The secret the edges sign customer tokens with (default: one made
    /// on first use and kept in `<data dir>/token-secret`).
    #[arg(long, env = "KUKKA_TOKEN_SECRET", hide_env_values = true)]
    pub token_secret: Option<String>,
    /// Keep the children's output in `logs/<name>.log` only, instead of
    /// also showing it on stdout behind each child's name
    /// (`KUKKA_QUIET=1`, `true`, `yes` or `on`).
    #[arg(long, env = "KUKKA_QUIET", value_parser = clap::builder::BoolishValueParser::new())]
    pub quiet: bool,
    /// How much lower the write side (edges, order and payment nodes) runs
    /// than the read side (delivery nodes, which project the views) and
    /// Redis, as a nice increment (0-19; 0: all alike). All nodes share
    /// this machine's cores; when a load saturates them, this keeps the
    /// views fresh at the cost of intake (measured in `benches/README.md`,
    /// fourth sitting: at 10 the lag p99 stays near 100 ms where it would
    /// grow, and the most orders per second drop by about a third).
    #[arg(long, env = "KUKKA_UP_WRITE_SIDE_NICE", default_value_t = 0,
          value_parser = clap::value_parser!(i32).range(0..=19))]
    pub write_side_nice: i32,
}

/// Flags of `kukka status`.
#[derive(Clone, Debug, Args)]
pub struct StatusArgs {
    /// The data dir of the `kukka up` to look at.
    #[arg(long, env = "KUKKA_DATA_DIR", default_value = "./.kukka")]
    pub data_dir: PathBuf,
}

/// Arguments of the hidden `kukka up-child` (plumbing between `kukka up`
/// and its children, not a setting: no environment variables).
#[derive(Clone, Debug, Args)]
pub struct UpChildArgs {
    /// Pid of the `kukka up` starting this child.
    #[arg(long)]
    pub parent: u32,
    /// Lower the program's CPU priority by this much (a nice increment).
    #[arg(long, default_value_t = 0)]
    pub nice: i32,
    /// The program to run and its arguments, after `--`.
    #[arg(last = true, required = true)]
    pub command: Vec<std::ffi::OsString>,
}

/// Where a node or an operator's command (`kukka views`, `kukka events`)
/// finds Redis.
#[derive(Clone, Debug, Args)]
pub struct RedisArgs {
    /// Redis URL (`redis://`, `redis://:password@host`, `rediss://`), or the
    /// comma-separated seeds of a Redis Cluster (operators log in as
    /// `kukka-admin` on Kubernetes).
    #[arg(
        long,
        env = "KUKKA_REDIS_URL",
        default_value = "redis://127.0.0.1:6379",
        hide_default_value = true,
        hide_env_values = true
    )]
    pub redis_url: String,
    /// Partitions of the event stream (fixed at deploy time: every node of
    /// the system must use the same number; the first to start records it
    /// in Redis and the others are checked against it).
    #[arg(long, env = "KUKKA_EVENT_PARTITIONS", default_value_t = kukka_storage::bus::Partitions::DEFAULT)]
    pub event_partitions: u32,
}

impl RedisArgs {
    /// The partitions, checked.
    pub fn partitions(&self) -> anyhow::Result<kukka_storage::bus::Partitions> {
        Ok(kukka_storage::bus::Partitions::new(self.event_partitions)?)
    }

    /// A connection, each command answered within 10 s.
    pub async fn connect(&self) -> anyhow::Result<kukka_storage::redis_conn::RedisConn> {
        Ok(
            kukka_storage::redis_conn::connect(&self.redis_url, std::time::Duration::from_secs(10))
                .await?,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_ranges_parse() {
        assert_eq!(parse_range("200-310"), Ok((200, 310)));
        assert_eq!(parse_range("5"), Ok((5, 5)));
        assert!(parse_range("310-200").is_err());
        assert!(parse_range("a-b").is_err());
    }

    #[test]
    fn shards_come_from_statefulset_pod_names() {
        let mut args = match Cli::parse_from([
            "kukka",
            "node",
            "--role",
            "order",
            "--instance",
            "order-3",
            "--shard-from-instance",
        ])
        .command
        {
            Command::Node(a) => *a,
            _ => unreachable!("parsed a node command"),
        };
        args.resolve_shard().expect("resolve");
        assert_eq!(args.shard, 3);
        args.instance = Some("order".into());
        assert!(args.resolve_shard().is_err());
    }

    #[test]
    fn http_limits_default_to_the_servers_defaults() {
        let args = match Cli::parse_from(["kukka", "node", "--role", "edge"]).command {
            Command::Node(a) => *a,
            _ => unreachable!("parsed a node command"),
        };
        assert_eq!(
            args.http_limits(),
            kukka_http_edge::server::HttpLimits::default()
        );
        let zero = Cli::try_parse_from([
            "kukka",
            "node",
            "--role",
            "edge",
            "--http-max-in-flight",
            "0",
        ]);
        assert!(zero.is_err(), "a cap of 0 would refuse everything");
    }

    #[test]
    fn up_child_takes_everything_after_the_double_dash() {
        let args = match Cli::parse_from([
            "kukka",
            "up-child",
            "--parent",
            "42",
            "--",
            "redis-server",
            "--port",
            "1",
        ])
        .command
        {
            Command::UpChild(a) => a,
            _ => unreachable!("parsed an up-child command"),
        };
        assert_eq!(args.parent, 42);
        assert_eq!(args.command, ["redis-server", "--port", "1"]);
    }

    #[test]
    fn the_cli_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
